"""Messages: sending, editing, deleting, history, reactions and threads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .constants import (
    _MESSAGEABLE_KINDS,
    _SETTABLE_FLAGS,
    EPHEMERAL,
    INTENT_GUILDS,
    IS_COMPONENTS_V2,
    JSON,
    LOADING,
    SUPPRESS_EMBEDS,
)
from .errors import _ApiError, _form_error, _json_response
from .interactions import FakeInteraction
from .permissions import (
    ADD_REACTIONS,
    ATTACH_FILES,
    CREATE_PUBLIC_THREADS,
    EMBED_LINKS,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
)
from .records import FakeChannel, FakeMessage, _Body, _Msg


class MessagesMixin:
    """Stores messages, reactions and threads, from the bot and from test members."""

    def post_user_message(
        self,
        channel_id: int,
        content: str,
        *,
        user_id: int | None = None,
        attachments: Sequence[tuple[str, bytes, str]] = (),
    ) -> FakeMessage:
        """A user posts a message in a channel (dispatched as MESSAGE_CREATE)."""
        user_id = self._default_user(user_id)
        channel = self._require_channel(channel_id)
        msg = _Msg(self._ids.next(), channel_id, channel.guild_id, user_id, content=content)
        for filename, data, content_type in attachments:
            msg.attachments.append(
                self._make_attachment(channel_id, filename, data, content_type, None, None)
            )
        self._store_message(msg)
        return msg.snapshot()

    def add_user_reaction(self, message_id: int, emoji: str, *, user_id: int | None = None) -> None:
        """A user reacts to a message (dispatched as MESSAGE_REACTION_ADD)."""
        user_id = self._default_user(user_id)
        msg = self._msgs[message_id]
        users = msg.reactions.setdefault(emoji, [])
        if user_id not in users:
            users.append(user_id)
            self._emit_reaction("MESSAGE_REACTION_ADD", msg, emoji, user_id)
        self._changed()

    def remove_user_reaction(
        self, message_id: int, emoji: str, *, user_id: int | None = None
    ) -> None:
        """A user removes a reaction (dispatched as MESSAGE_REACTION_REMOVE)."""
        user_id = self._default_user(user_id)
        self._drop_reaction(self._msgs[message_id], emoji, user_id)

    async def _new_message(
        self,
        body: _Body,
        channel: FakeChannel,
        *,
        limit: int,
        interaction: FakeInteraction | None = None,
        extra_flags: int = 0,
        allow_ephemeral: bool = False,
        msg_id: int | None = None,
    ) -> _Msg:
        """A message the bot posts through REST (so it is always the author)."""
        payload = body.json
        self._validate_content(payload)
        flags = int(payload.get("flags") or 0)
        keep = _SETTABLE_FLAGS | (EPHEMERAL if allow_ephemeral else 0)
        flags = (flags & keep) | extra_flags
        ephemeral = bool(flags & EPHEMERAL)
        msg = _Msg(
            msg_id or self._ids.next(), channel.id, channel.guild_id, self.bot_user_id, flags=flags
        )
        attachments = await self._build_attachments(
            body, channel.id, [], limit, ephemeral=ephemeral
        )
        msg.attachments = attachments or []
        msg.content = payload.get("content") or ""
        msg.embeds = self._normalize_embeds(payload.get("embeds"), msg.attachments)
        msg.components = self._normalize_components(payload.get("components"), flags)
        if flags & IS_COMPONENTS_V2 and (msg.content or msg.embeds):
            raise _form_error(
                ("content",),
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used with IS_COMPONENTS_V2",
            )
        msg.tts = bool(payload.get("tts"))
        msg.allowed_mentions = payload.get("allowed_mentions")
        if not extra_flags & LOADING:
            self._check_not_empty(msg, payload)
        if interaction is not None:
            msg.interaction_id = interaction.id
            msg.interaction_user_id = interaction.user_id
            msg.webhook_id = self.application_id
            msg.application_id = self.application_id
            msg.type = 20 if interaction.type == 2 else 0
        return msg

    def _store_message(self, msg: _Msg) -> None:
        self._msgs[msg.id] = msg
        if not msg.flags & EPHEMERAL:
            count = self._msg_counts.get(msg.channel_id, 0)
            self._msg_counts[msg.channel_id] = count + 1
            self._last_msg[msg.channel_id] = msg.id
            channel = self._channels.get(msg.channel_id)
            if channel is not None and channel.kind == "thread":
                msg.position = count
        self._emit_message("MESSAGE_CREATE", msg)
        self._changed()

    async def _apply_edit(
        self, msg: _Msg, body: _Body, limit: int, *, clear_loading: bool = False
    ) -> None:
        payload = body.json
        self._validate_content(payload)
        attachments = await self._build_attachments(
            body, msg.channel_id, msg.attachments, limit, ephemeral=bool(msg.flags & EPHEMERAL)
        )
        flags = msg.flags
        if "flags" in payload and payload["flags"] is not None:
            requested = int(payload["flags"])
            flags = (flags & ~SUPPRESS_EMBEDS) | (requested & SUPPRESS_EMBEDS)
            if msg.flags & LOADING:
                flags |= requested & IS_COMPONENTS_V2
        if clear_loading:
            flags &= ~LOADING
        new_attachments = attachments if attachments is not None else msg.attachments
        content = msg.content
        if "content" in payload:
            content = payload["content"] or ""
        embeds = msg.embeds
        if "embeds" in payload:
            embeds = self._normalize_embeds(payload["embeds"], new_attachments)
        components = msg.components
        if "components" in payload:
            components = self._normalize_components(payload["components"], flags)
        msg.attachments = list(new_attachments)
        msg.content = content
        msg.embeds = embeds
        msg.components = components
        msg.flags = flags
        if "allowed_mentions" in payload:
            msg.allowed_mentions = payload["allowed_mentions"]
        msg.edit_count += 1
        msg.edited_at = datetime.now(UTC)
        self._emit_message("MESSAGE_UPDATE", msg)
        self._changed()

    async def _h_history(self, request: web.Request, channel_id: str) -> web.Response:
        channel = self._api_channel(channel_id)
        if (
            channel.guild_id is not None
            and not self.bot_permissions(channel.id) & READ_MESSAGE_HISTORY
        ):
            return _json_response([])
        try:
            limit = max(1, min(100, int(request.query.get("limit", "50"))))
        except ValueError:
            raise _form_error(("limit",), "NUMBER_TYPE_COERCE", "Value is not int.") from None
        msgs = [
            m
            for m in self._msgs.values()
            if m.channel_id == channel.id and not m.deleted and not m.flags & EPHEMERAL
        ]
        before = request.query.get("before")
        after = request.query.get("after")
        around = request.query.get("around")
        if before:
            msgs = [m for m in msgs if m.id < int(before)]
        if after:
            msgs = [m for m in msgs if m.id > int(after)]
            msgs = msgs[:limit]
        elif around:
            pivot = int(around)
            older = [m for m in msgs if m.id <= pivot][-(limit // 2 + 1) :]
            newer = [m for m in msgs if m.id > pivot][: limit - len(older)]
            msgs = older + newer
        else:
            msgs = msgs[-limit:]
        msgs.sort(key=lambda m: m.id, reverse=True)
        return _json_response([self._message_payload(m) for m in msgs])

    def _check_send(self, channel: FakeChannel, body: _Body) -> None:
        if channel.kind not in _MESSAGEABLE_KINDS:
            raise _ApiError(400, 50008, "Cannot send messages in a non-text channel")
        if channel.kind == "dm":
            user = self._users.get(channel.recipient_id or 0)
            if user is None or not user.accepts_dms or user.bot:
                raise _ApiError(403, 50007, "Cannot send messages to this user")
            return
        perms = self.bot_permissions(channel.id)
        needed = SEND_MESSAGES_IN_THREADS if channel.kind == "thread" else SEND_MESSAGES
        if not perms & needed:
            raise _ApiError(403, 50013, "Missing Permissions")
        if body.files and not perms & ATTACH_FILES:
            raise _ApiError(403, 50013, "Missing Permissions")
        if body.json.get("message_reference") and not perms & READ_MESSAGE_HISTORY:
            raise _ApiError(403, 50013, "Missing Permissions")

    def _check_reference(self, channel: FakeChannel, payload: JSON) -> JSON | None:
        ref = payload.get("message_reference")
        if not ref:
            return None
        if not isinstance(ref, dict) or "message_id" not in ref:
            raise _form_error(
                ("message_reference",), "BASE_TYPE_REQUIRED", "message_id is required"
            )
        target = self._msgs.get(int(ref["message_id"]))
        ref_channel = int(ref.get("channel_id") or channel.id)
        exists = target is not None and not target.deleted and target.channel_id == ref_channel
        if not exists:
            if ref.get("fail_if_not_exists", True):
                raise _form_error(
                    ("message_reference",),
                    "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                    "Unknown message",
                )
            return None
        out = {
            "type": int(ref.get("type", 0)),
            "message_id": str(ref["message_id"]),
            "channel_id": str(ref_channel),
        }
        if channel.guild_id is not None:
            out["guild_id"] = str(channel.guild_id)
        return out

    async def _h_create_message(self, request: web.Request, channel_id: str) -> web.Response:
        channel = self._api_channel(channel_id)
        body = await self._read_body(request)
        self._check_send(channel, body)
        payload = body.json
        nonce = payload.get("nonce")
        key = (channel.id, str(nonce)) if nonce is not None else None
        if key is not None and payload.get("enforce_nonce") and key in self._nonces:
            existing = self._msgs[self._nonces[key]]
            return _json_response(self._message_payload(existing))
        if not self.bot_permissions(channel.id) & EMBED_LINKS:
            payload = {**payload, "embeds": []}
        reference = self._check_reference(channel, payload)
        msg = await self._new_message(
            _Body(payload, body.files), channel, limit=self._upload_limit(channel)
        )
        msg.nonce = nonce
        if reference is not None:
            msg.message_reference = reference
            msg.type = 19
        if key is not None:
            self._nonces[key] = msg.id
        self._store_message(msg)
        return _json_response(self._message_payload(msg))

    async def _h_get_message(
        self, request: web.Request, channel_id: str, message_id: str
    ) -> web.Response:
        channel = self._api_channel(channel_id)
        if (
            channel.guild_id is not None
            and not self.bot_permissions(channel.id) & READ_MESSAGE_HISTORY
        ):
            raise _ApiError(403, 50001, "Missing Access")
        return _json_response(self._message_payload(self._api_message(channel, message_id)))

    async def _h_edit_message(
        self, request: web.Request, channel_id: str, message_id: str
    ) -> web.Response:
        channel, msg = self._api_channel_message(channel_id, message_id)
        body = await self._read_body(request)
        if msg.author_id != self.bot_user_id:
            only_flags = set(body.json) <= {"flags"} and not body.files
            if not only_flags:
                raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
            if not self.bot_permissions(channel.id) & MANAGE_MESSAGES:
                raise _ApiError(403, 50013, "Missing Permissions")
        await self._apply_edit(msg, body, self._upload_limit(channel))
        return _json_response(self._message_payload(msg))

    async def _h_delete_message(
        self, request: web.Request, channel_id: str, message_id: str
    ) -> web.Response:
        channel, msg = self._api_channel_message(channel_id, message_id)
        if (
            msg.author_id != self.bot_user_id
            and not self.bot_permissions(channel.id) & MANAGE_MESSAGES
        ):
            raise _ApiError(403, 50013, "Missing Permissions")
        msg.deleted = True
        self._emit_delete(msg)
        self._changed()
        return web.Response(status=204)

    async def _h_add_reaction(
        self, request: web.Request, channel_id: str, message_id: str, emoji: str
    ) -> web.Response:
        channel, msg = self._api_channel_message(channel_id, message_id)
        users = msg.reactions.get(emoji)
        if users is None and not self.bot_permissions(channel.id) & ADD_REACTIONS:
            raise _ApiError(403, 50013, "Missing Permissions")
        if users is None:
            if len(msg.reactions) >= 20:
                raise _ApiError(403, 30010, "Maximum number of reactions reached (20)")
            users = msg.reactions.setdefault(emoji, [])
        if self.bot_user_id not in users:
            users.append(self.bot_user_id)
            self._emit_reaction("MESSAGE_REACTION_ADD", msg, emoji, self.bot_user_id)
        self._changed()
        return web.Response(status=204)

    async def _h_remove_reaction(
        self, request: web.Request, channel_id: str, message_id: str, emoji: str, who: str
    ) -> web.Response:
        channel, msg = self._api_channel_message(channel_id, message_id)
        user_id = self.bot_user_id if who == "@me" else int(who)
        if user_id != self.bot_user_id and not self.bot_permissions(channel.id) & MANAGE_MESSAGES:
            raise _ApiError(403, 50013, "Missing Permissions")
        self._drop_reaction(msg, emoji, user_id)
        return web.Response(status=204)

    def _drop_reaction(self, msg: _Msg, emoji: str, user_id: int) -> None:
        """Take a user's reaction off (a reaction nobody has left disappears)."""
        users = msg.reactions.get(emoji, [])
        if user_id in users:
            users.remove(user_id)
            if not users:
                del msg.reactions[emoji]
            self._emit_reaction("MESSAGE_REACTION_REMOVE", msg, emoji, user_id)
        self._changed()

    async def _h_get_reactions(
        self, request: web.Request, channel_id: str, message_id: str, emoji: str
    ) -> web.Response:
        _, msg = self._api_channel_message(channel_id, message_id)
        if emoji not in msg.reactions:
            raise _ApiError(404, 10014, "Unknown Emoji")
        users = [self._users[u] for u in msg.reactions[emoji] if u in self._users]
        after = int(request.query.get("after") or 0)
        limit = max(1, min(100, int(request.query.get("limit") or 25)))
        users = sorted((u for u in users if u.id > after), key=lambda u: u.id)[:limit]
        return _json_response([self._user_payload(u) for u in users])

    async def _h_clear_reactions(
        self, request: web.Request, channel_id: str, message_id: str, emoji: str | None
    ) -> web.Response:
        channel, msg = self._api_channel_message(channel_id, message_id)
        if not self.bot_permissions(channel.id) & MANAGE_MESSAGES:
            raise _ApiError(403, 50013, "Missing Permissions")
        if emoji is None:
            msg.reactions.clear()
        else:
            msg.reactions.pop(emoji, None)
        self._changed()
        return web.Response(status=204)

    async def _h_create_thread(self, request: web.Request, channel_id: str) -> web.Response:
        parent = self._api_channel(channel_id)
        body = await self._read_body(request)
        payload = body.json
        name = _thread_name(payload)
        perms = self.bot_permissions(parent.id)
        if parent.kind == "forum":
            if not perms & SEND_MESSAGES:
                raise _ApiError(403, 50013, "Missing Permissions")
            message = payload.get("message")
            if not isinstance(message, dict):
                raise _form_error(("message",), "BASE_TYPE_REQUIRED", "This field is required")
            tags = tuple(int(t) for t in payload.get("applied_tags") or [])
            known = {tid for tid, _ in parent.tags}
            if any(t not in known for t in tags):
                raise _form_error(("applied_tags",), "UNKNOWN_TAG", "Unknown forum tag")
            thread = self._thread(parent, self._ids.next(), name, tags)
            if body.files and not perms & ATTACH_FILES:
                raise _ApiError(403, 50013, "Missing Permissions")
            msg = await self._new_message(
                _Body(message, body.files),
                thread,
                limit=self._upload_limit(parent),
                msg_id=thread.id,
            )
            self._add_thread(thread)
            self._store_message(msg)
            out = self._channel_payload(thread)
            out["message"] = self._message_payload(msg)
            out["member"] = self._thread_member_payload(thread)
            return _json_response(out, status=201)
        if parent.kind not in ("text", "news"):
            raise _ApiError(400, 50024, "Cannot execute action on this channel type")
        if not perms & CREATE_PUBLIC_THREADS:
            raise _ApiError(403, 50013, "Missing Permissions")
        thread = self._thread(parent, self._ids.next(), name)
        self._add_thread(thread)
        self._changed()
        out = self._channel_payload(thread)
        out["member"] = self._thread_member_payload(thread)
        return _json_response(out, status=201)

    async def _h_thread_from_message(
        self, request: web.Request, channel_id: str, message_id: str
    ) -> web.Response:
        parent = self._api_channel(channel_id)
        msg = self._api_message(parent, message_id)
        body = await self._read_body(request)
        name = _thread_name(body.json)
        if msg.thread_id is not None:
            raise _ApiError(400, 160004, "A thread has already been created for this message")
        if not self.bot_permissions(parent.id) & CREATE_PUBLIC_THREADS:
            raise _ApiError(403, 50013, "Missing Permissions")
        thread = self._thread(parent, msg.id, name)
        msg.thread_id = thread.id
        self._add_thread(thread)
        self._changed()
        return _json_response(self._channel_payload(thread), status=201)

    def _thread(
        self, parent: FakeChannel, thread_id: int, name: str, tags: tuple[int, ...] = ()
    ) -> FakeChannel:
        """A new thread of the bot's under `parent` (not stored yet)."""
        return FakeChannel(
            thread_id,
            parent.guild_id,
            name,
            "thread",
            nsfw=parent.nsfw,
            parent_id=parent.id,
            owner_id=self.bot_user_id,
            applied_tags=tags,
        )

    def _add_thread(self, thread: FakeChannel) -> None:
        """Store a new thread and tell the gateway (THREAD_CREATE)."""
        self._channels[thread.id] = thread
        self._emit_thread_create(thread)

    def _emit_thread_create(self, thread: FakeChannel) -> None:
        data = self._channel_payload(thread)
        data["newly_created"] = True
        data["member"] = self._thread_member_payload(thread)
        self._emit("THREAD_CREATE", data, intent=INTENT_GUILDS, guild_id=thread.guild_id)


def _thread_name(payload: dict[str, Any]) -> str:
    """A new thread's name, refused as Discord does outside 1-100 characters."""
    name = str(payload.get("name") or "")
    if not 1 <= len(name) <= 100:
        raise _form_error(("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    return name
