"""The gateway: identify, resume, heartbeats, dispatched events and their sessions."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .constants import (
    EPHEMERAL,
    INTENT_DIRECT_MESSAGE_REACTIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_PRESENCES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    JSON,
    PRIVILEGED_INTENTS,
)
from .errors import _json_response
from .records import FakeGatewayConnection, FakeRequest, _Msg


@dataclass(eq=False)
class _Conn:
    id: int
    ws: web.WebSocketResponse
    opened_at: float
    queue: asyncio.Queue[JSON | None] = field(default_factory=asyncio.Queue)
    session: _Session | None = None
    resumed: bool = False
    live: bool = False
    closed_at: float | None = None
    close_code: int | None = None

    def send(self, payload: JSON) -> None:
        self.queue.put_nowait(payload)

    async def close(self, code: int, message: bytes) -> None:
        # Recorded here: once the peer answers, aiohttp reports the code of its reply instead.
        self.close_code = code
        await self.ws.close(code=code, message=message)

    def record(self) -> FakeGatewayConnection:
        return FakeGatewayConnection(
            id=self.id,
            session_id=self.session.id if self.session else None,
            resumed=self.resumed,
            intents=self.session.intents if self.session else None,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            close_code=self.close_code,
            shard=self.session.shard if self.session else None,
        )


@dataclass(eq=False)
class _Session:
    id: str
    intents: int
    shard: tuple[int, int] | None
    seq: int = 0
    valid: bool = True
    conn: _Conn | None = None
    buffer: deque[JSON] = field(default_factory=lambda: deque(maxlen=2000))

    def emit(self, event: str, data: JSON) -> None:
        self.seq += 1
        frame = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.buffer.append(frame)
        if self.conn is not None and self.conn.closed_at is None:
            self.conn.send(frame)

    def handles_guild(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % max(count, 1) == shard_id


def _shard(raw: Any) -> tuple[int, int] | bool | None:
    """IDENTIFY's `shard` as (id, count), None when absent, False when Discord would say 4010."""
    if raw is None:
        return None
    # https://discord.com/developers/docs/events/gateway#sharding: [shard_id, num_shards] with
    # 0 <= shard_id < num_shards; anything else is close code 4010 "Invalid shard".
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in raw)
    ):
        return False
    shard_id, count = raw
    if count < 1 or not 0 <= shard_id < count:
        return False
    return shard_id, count


class GatewayMixin:
    """Serves the gateway websocket and dispatches events to the bot's sessions."""

    async def disconnect_bot(self, *, code: int = 4000, resumable: bool = True) -> None:
        """Close the bot's gateway connection(s); the bot reconnects (RESUME, or IDENTIFY)."""
        for conn in list(self._conns):
            if conn.closed_at is not None:
                continue
            if not resumable and conn.session is not None:
                conn.session.valid = False
            await conn.close(code, b"disconnected by FakeDiscord")
        await self.wait_until_disconnected()

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to the bot (it closes and resumes)."""
        for conn in self._live_conns():
            conn.send({"op": 7, "d": None})

    def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION to the bot."""
        for conn in self._live_conns():
            if not resumable and conn.session is not None:
                conn.session.valid = False
            conn.send({"op": 9, "d": resumable})

    def _live_conns(self) -> list[_Conn]:
        return [c for c in self._conns if c.live and c.closed_at is None]

    def _routable(self, guild_id: int | None) -> bool:
        """Whether an open, identified connection receives `guild_id`'s events (None: DMs)."""
        return any(
            c.session is not None and c.session.valid and c.session.handles_guild(guild_id)
            for c in self._live_conns()
        )

    def _emit(
        self, event: str, data: JSON, *, intent: int = 0, guild_id: int | None = None
    ) -> None:
        for session in self._sessions.values():
            if not session.valid:
                continue
            if intent and not session.intents & intent:
                continue
            if not session.handles_guild(guild_id):
                continue
            session.emit(event, copy.deepcopy(data))

    def _emit_guild_create(self, guild_id: int) -> None:
        guild = self._guilds[guild_id]
        for session in self._sessions.values():
            if (
                session.valid
                and session.intents & INTENT_GUILDS
                and session.handles_guild(guild_id)
            ):
                session.emit("GUILD_CREATE", self._guild_create_payload(guild, session.intents))

    def _emit_message(self, event: str, msg: _Msg) -> None:
        if msg.flags & EPHEMERAL:
            return
        intent = INTENT_GUILD_MESSAGES if msg.guild_id is not None else INTENT_DIRECT_MESSAGES
        full = self._message_payload(msg, gateway=True)
        for session in self._sessions.values():
            if not session.valid or not session.intents & intent:
                continue
            if not session.handles_guild(msg.guild_id):
                continue
            data = copy.deepcopy(full)
            if not self._sees_content(session, msg):
                data.update(content="", embeds=[], attachments=[], components=[])
            session.emit(event, data)

    def _sees_content(self, session: _Session, msg: _Msg) -> bool:
        if session.intents & INTENT_MESSAGE_CONTENT or msg.author_id == self.bot_user_id:
            return True
        if msg.guild_id is None:
            return True
        return f"<@{self.bot_user_id}>" in msg.content or f"<@!{self.bot_user_id}>" in msg.content

    def _emit_delete(self, msg: _Msg) -> None:
        if msg.flags & EPHEMERAL:
            return
        data: JSON = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
        intent = INTENT_GUILD_MESSAGES if msg.guild_id is not None else INTENT_DIRECT_MESSAGES
        self._emit("MESSAGE_DELETE", data, intent=intent, guild_id=msg.guild_id)

    def _emit_reaction(self, event: str, msg: _Msg, emoji: str, user_id: int) -> None:
        data: JSON = {
            "user_id": str(user_id),
            "channel_id": str(msg.channel_id),
            "message_id": str(msg.id),
            "emoji": self._emoji_payload(emoji),
            "burst": False,
            "type": 0,
        }
        if event == "MESSAGE_REACTION_ADD":
            data.update(message_author_id=str(msg.author_id), burst_colors=[])
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
            member = self._members[msg.guild_id].get(user_id)
            if member is not None and event == "MESSAGE_REACTION_ADD":
                data["member"] = self._member_payload(member)
        intent = (
            INTENT_GUILD_MESSAGE_REACTIONS
            if msg.guild_id is not None
            else INTENT_DIRECT_MESSAGE_REACTIONS
        )
        self._emit(event, data, intent=intent, guild_id=msg.guild_id)

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(FakeRequest(time.monotonic(), "GET", request.path))
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True, timeout=2.0)
        if not ws.can_prepare(request).ok:
            return _json_response({"message": "404: Not Found", "code": 0}, status=404)
        await ws.prepare(request)
        conn = _Conn(next(self._conn_ids), ws, time.monotonic())
        self._conns.append(conn)
        writer = asyncio.create_task(self._gateway_writer(conn))
        conn.send({"op": 10, "d": {"heartbeat_interval": self.settings.heartbeat_interval_ms}})
        self._changed()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await conn.close(4002, b"Error while decoding payload.")
                        break
                    try:
                        await self._gateway_op(conn, frame)
                    except Exception:
                        self.internal_errors.append(f"gateway op: {traceback.format_exc()}")
                        await conn.close(4000, b"FakeDiscord internal error")
                        break
                elif msg.type is WSMsgType.BINARY:
                    await conn.close(4002, b"Error while decoding payload.")
                    break
                else:
                    break
        finally:
            conn.closed_at = time.monotonic()
            if conn.close_code is None:
                conn.close_code = ws.close_code
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            conn.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            self._changed()
        return ws

    async def _gateway_writer(self, conn: _Conn) -> None:
        while True:
            frame = await conn.queue.get()
            if frame is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(json.dumps(frame))
            except (ConnectionError, RuntimeError):
                return

    async def _gateway_op(self, conn: _Conn, frame: JSON) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == 1:
            # Acknowledged after a short delay, like a real network hop: discord.py's
            # keep-alive thread records when it sent the beat only after the send returns, so
            # an instant loopback ACK would be measured against the previous beat and logged
            # as "Can't keep up, websocket is 41.3s behind" on every beat.
            asyncio.get_running_loop().call_later(
                self.settings.heartbeat_ack_delay, conn.send, {"op": 11, "d": None}
            )
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:
            if conn.session is None:
                await conn.close(4003, b"Not authenticated.")
                return
            self._request_members(conn.session, data or {})
        elif op in (3, 4, 31, 37):
            return
        else:
            await conn.close(4001, b"Unknown opcode.")

    def _token_ok(self, token: str | None) -> bool:
        if not token:
            return False
        return self.settings.token is None or token.removeprefix("Bot ") == self.settings.token

    async def _identify(self, conn: _Conn, data: JSON) -> None:
        if conn.session is not None:
            await conn.close(4005, b"Already authenticated.")
            return
        if not self._token_ok(data.get("token")):
            await conn.close(4004, b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await conn.close(4013, b"Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.settings.privileged_intents:
            await conn.close(4014, b"Disallowed intent(s).")
            return
        shard = _shard(data.get("shard"))
        if shard is False:
            await conn.close(4010, b"Invalid shard.")
            return
        session = _Session(secrets.token_hex(16), intents, shard)
        guilds = [g for g in self._guilds.values() if session.handles_guild(g.id)]
        if len(guilds) > self.settings.max_guilds_per_shard:
            # Discord: "The session would have handled too many guilds - you are required to
            # shard your connection in order to connect" (2,500 a shard; the fake's is settable).
            await conn.close(4011, b"Sharding required.")
            return
        self._sessions[session.id] = session
        session.conn = conn
        conn.session = session
        ready: JSON = {
            "v": 10,
            "user": self._bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "user_settings": {},
            "auth": {},
            "_trace": ['["fake-gateway",{"micros":0}]'],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        session.emit("READY", ready)
        if intents & INTENT_GUILDS:
            for guild in guilds:
                session.emit("GUILD_CREATE", self._guild_create_payload(guild, intents))
        conn.live = True
        self._live_count += 1
        self._changed()

    async def _resume(self, conn: _Conn, data: JSON) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if (
            session is None
            or not session.valid
            or not self._token_ok(data.get("token"))
            or conn.session is not None
        ):
            conn.send({"op": 9, "d": False})
            return
        old = session.conn
        if old is not None and old is not conn and old.closed_at is None:
            session.conn = None
            await old.close(4009, b"Session superseded by RESUME.")
        seq = int(data.get("seq") or 0)
        session.conn = conn
        conn.session = session
        conn.resumed = True
        for frame in list(session.buffer):
            if frame["s"] > seq:
                conn.send(frame)
        session.emit("RESUMED", {"_trace": ['["fake-gateway",{"micros":0}]']})
        conn.live = True
        self._live_count += 1
        self._changed()

    def _request_members(self, session: _Session, data: JSON) -> None:
        raw_ids = data.get("guild_id")
        guild_ids: list[Any] = raw_ids if isinstance(raw_ids, list) else [raw_ids]
        for raw in guild_ids:
            gid = int(raw)
            if gid not in self._guilds:
                continue
            members = list(self._members[gid].values())
            not_found: list[str] = []
            if data.get("user_ids"):
                wanted = [int(u) for u in data["user_ids"]]
                members = [m for m in members if m.user_id in wanted]
                have = {m.user_id for m in members}
                not_found = [str(u) for u in wanted if u not in have]
            else:
                query = (data.get("query") or "").lower()
                members = [
                    m
                    for m in members
                    if self._users[m.user_id].username.lower().startswith(query)
                    or (m.nick or "").lower().startswith(query)
                ]
                limit = int(data.get("limit") or 0)
                if limit:
                    members = members[:limit]
            chunks = [members[i : i + 1000] for i in range(0, len(members), 1000)] or [[]]
            for index, chunk in enumerate(chunks):
                payload: JSON = {
                    "guild_id": str(gid),
                    "members": [self._member_payload(m) for m in chunk],
                    "chunk_index": index,
                    "chunk_count": len(chunks),
                }
                if not_found and index == 0:
                    payload["not_found"] = not_found
                if data.get("nonce"):
                    payload["nonce"] = data["nonce"]
                if data.get("presences"):
                    payload["presences"] = []
                session.emit("GUILD_MEMBERS_CHUNK", payload)

    def _application_flags(self) -> int:
        flags = 0
        if self.settings.privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= 1 << 13
        if self.settings.privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= 1 << 15
        if self.settings.privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags
