"""REST plumbing: the route table, authentication, request bodies, the CDN and read-only routes."""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from .constants import API_PREFIX_RE, EPHEMERAL, GUILDS_PER_RECOMMENDED_SHARD, JSON
from .content import _placeholder_png
from .errors import _ApiError, _form_error, _json_response
from .permissions import VIEW_CHANNEL
from .records import FakeChannel, FakeGuild, FakeRequest, FakeUnhandledRequest, _Body, _Msg, _Upload


def _truthy_param(value: str | None) -> bool:
    return value is not None and value.lower() in {"1", "true", "yes"}


_Handler = Callable[..., Awaitable[web.StreamResponse]]


class RestMixin:
    """Routes REST requests to handlers and serves the CDN and read-only routes."""

    def _register_routes(self) -> None:
        r = self._route
        r("GET", r"/gateway", self._h_gateway, auth=False)
        r("GET", r"/gateway/bot", self._h_gateway_bot)
        r("GET", r"/users/@me", self._h_me)
        r("GET", r"/users/(\d+)", self._h_get_user)
        r("POST", r"/users/@me/channels", self._h_create_dm)
        r("GET", r"/(?:oauth2/)?applications/@me", self._h_application)
        cmds = r"/applications/(\d+)(?:/guilds/(\d+))?/commands"
        r("GET", cmds, self._h_get_commands)
        r("PUT", cmds, self._h_put_commands)
        r("POST", cmds, self._h_post_command)
        r("GET", cmds + r"/permissions", self._h_command_permissions)
        r("GET", cmds + r"/(\d+)", self._h_get_command)
        r("PATCH", cmds + r"/(\d+)", self._h_patch_command)
        r("DELETE", cmds + r"/(\d+)", self._h_delete_command)
        r("GET", r"/applications/(\d+)/(?:entitlements|skus)", self._h_empty_list)
        r("GET", r"/applications/(\d+)/emojis", self._h_app_emojis)
        r("POST", r"/interactions/(\d+)/([^/]+)/callback", self._h_callback, auth=False)
        hook = r"/webhooks/(\d+)/([^/]+)"
        r("POST", hook, self._h_followup, auth=False)
        r("GET", hook + r"/messages/(@original|\d+)", self._h_get_webhook_msg, auth=False)
        r("PATCH", hook + r"/messages/(@original|\d+)", self._h_edit_webhook_msg, auth=False)
        r("DELETE", hook + r"/messages/(@original|\d+)", self._h_delete_webhook_msg, auth=False)
        ch = r"/channels/(\d+)"
        r("GET", ch, self._h_get_channel)
        r("GET", ch + r"/messages", self._h_history)
        r("POST", ch + r"/messages", self._h_create_message)
        r("GET", ch + r"/messages/(\d+)", self._h_get_message)
        r("PATCH", ch + r"/messages/(\d+)", self._h_edit_message)
        r("DELETE", ch + r"/messages/(\d+)", self._h_delete_message)
        react = ch + r"/messages/(\d+)/reactions"
        r("PUT", react + r"/([^/]+)/@me", self._h_add_reaction)
        r("DELETE", react + r"/([^/]+)/(@me|\d+)", self._h_remove_reaction)
        r("GET", react + r"/([^/]+)", self._h_get_reactions)
        r("DELETE", react + r"(?:/([^/]+))?", self._h_clear_reactions)
        r("POST", ch + r"/typing", self._h_no_content)
        r("POST", ch + r"/threads", self._h_create_thread)
        r("POST", ch + r"/messages/(\d+)/threads", self._h_thread_from_message)
        r("PUT", ch + r"/thread-members/@me", self._h_no_content)
        r("DELETE", ch + r"/thread-members/@me", self._h_no_content)
        r("GET", r"/guilds/(\d+)", self._h_get_guild)
        r("GET", r"/guilds/(\d+)/channels", self._h_guild_channels)
        r("GET", r"/guilds/(\d+)/roles", self._h_guild_roles)
        r("GET", r"/guilds/(\d+)/members", self._h_guild_members)
        r("GET", r"/guilds/(\d+)/members/(\d+)", self._h_get_member)
        r("GET", r"/guilds/(\d+)/threads/active", self._h_active_threads)

    def _route(self, method: str, pattern: str, handler: _Handler, *, auth: bool = True) -> None:
        self._routes.append((method, re.compile(pattern), handler, auth))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if not API_PREFIX_RE.match(path):
            return await self._cdn(request)
        rel = API_PREFIX_RE.sub("", path, count=1) or "/"
        now = time.monotonic()
        self.requests.append(FakeRequest(now, request.method, rel))
        try:
            rule = self._match_rate_limit(request.method, rel)
            if rule is not None:
                await request.read()
                return self._rate_limited(rule)
            error = self._match_error(request.method, rel)
            if error is not None:
                await request.read()
                raise _ApiError(error.status, error.code, error.message)
            path_known = False
            for method, pattern, handler, auth in self._routes:
                match = pattern.fullmatch(rel)
                if match is None:
                    continue
                path_known = True
                if method != request.method:
                    continue
                if auth and not self._token_ok(request.headers.get("Authorization")):
                    await request.read()
                    raise _ApiError(401, 0, "401: Unauthorized")
                uploads = len(self._blobs)
                response = await handler(request, *match.groups())
                await self._delay_response(request.method, rel, len(self._blobs) > uploads)
                return response
            body = await request.read()
            self.unhandled_requests.append(
                FakeUnhandledRequest(now, request.method, rel, request.query_string, body[:2000])
            )
            if path_known:
                raise _ApiError(405, 0, "405: Method Not Allowed")
            raise _ApiError(404, 0, "404: Not Found")
        except _ApiError as exc:
            self._record_error(now, request.method, rel, exc)
            return exc.response()
        except ConnectionResetError:
            # The caller went away mid-request (a killed bot): Discord drops the request too;
            # nobody is left to answer, and nothing went wrong in the fake.
            self.dropped_requests.append(FakeRequest(now, request.method, rel))
            return web.Response(status=400)
        except Exception as exc:  # a bug in the fake: fail fast instead of a retried 500
            self.internal_errors.append(f"{request.method} {rel}: {traceback.format_exc()}")
            return _ApiError(400, 0, f"FakeDiscord internal error: {exc!r}").response()
        finally:
            self._changed()

    async def _read_body(self, request: web.Request) -> _Body:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            payload: JSON = {}
            files: list[_Upload] = []
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                if name == "payload_json":
                    try:
                        payload = json.loads(await part.text())
                    except ValueError as exc:
                        raise _ApiError(
                            400, 50109, "The request body contains invalid JSON."
                        ) from exc
                    continue
                match = re.fullmatch(r"files\[(\d+)\]|file(\d*)", name)
                if match is None:
                    await part.read()
                    continue
                index = int(match.group(1) or match.group(2) or len(files))
                data = await part.read(decode=False)
                files.append(
                    _Upload(
                        index,
                        part.filename or f"file{index}",
                        part.headers.get("Content-Type", "application/octet-stream"),
                        bytes(data),
                    )
                )
            if not isinstance(payload, dict):
                raise _form_error(("_",), "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
            return _Body(payload, files)
        raw = await request.read()
        if not raw.strip():
            return _Body({}, [])
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise _ApiError(400, 50109, "The request body contains invalid JSON.") from exc
        if not isinstance(data, dict):
            raise _form_error(("_",), "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        return _Body(data, [])

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(FakeRequest(time.monotonic(), request.method, request.path))
        match = re.fullmatch(
            r"/(?:media/)?(?:ephemeral-)?attachments/(\d+)/(\d+)/([^/]+)", request.path
        )
        if match is not None and request.method in ("GET", "HEAD"):
            att = self._blobs.get(int(match.group(2)))
            if att is not None and att.filename == match.group(3):
                return web.Response(
                    body=att.data if request.method == "GET" else None,
                    headers={"Content-Type": att.content_type, "Content-Length": str(att.size)},
                )
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        avatar = re.fullmatch(
            r"/(?:embed/avatars|avatars/\d+|icons/\d+)/[^/]+\.(?:png|webp|gif|jpg)", request.path
        )
        if avatar is not None and request.method in ("GET", "HEAD"):
            return web.Response(body=_placeholder_png(), headers={"Content-Type": "image/png"})
        body = await request.read()
        self.unhandled_requests.append(
            FakeUnhandledRequest(
                time.monotonic(), request.method, request.path, request.query_string, body[:2000]
            )
        )
        self._changed()
        return web.Response(status=404, text="Not Found", content_type="text/plain")

    def _api_channel(self, raw_id: str) -> FakeChannel:
        channel = self._channels.get(int(raw_id))
        if channel is None:
            raise _ApiError(404, 10003, "Unknown Channel")
        if channel.guild_id is not None and not self.bot_permissions(channel.id) & VIEW_CHANNEL:
            raise _ApiError(403, 50001, "Missing Access")
        return channel

    def _api_message(self, channel: FakeChannel, raw_id: str) -> _Msg:
        msg = self._msgs.get(int(raw_id))
        if msg is None or msg.deleted or msg.channel_id != channel.id or msg.flags & EPHEMERAL:
            raise _ApiError(404, 10008, "Unknown Message")
        return msg

    def _api_channel_message(self, channel_id: str, message_id: str) -> tuple[FakeChannel, _Msg]:
        """The channel and the message a /channels/{id}/messages/{id} route names."""
        channel = self._api_channel(channel_id)
        return channel, self._api_message(channel, message_id)

    async def _h_gateway(self, request: web.Request) -> web.Response:
        return _json_response({"url": f"ws://{self._host}:{self._port}"})

    async def _h_gateway_bot(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "url": f"ws://{self._host}:{self._port}",
                "shards": self.settings.recommended_shards
                or max(1, -(-len(self._guilds) // GUILDS_PER_RECOMMENDED_SHARD)),
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - len(self._sessions),
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _h_me(self, request: web.Request) -> web.Response:
        return _json_response(self._bot_user_payload())

    async def _h_get_user(self, request: web.Request, user_id: str) -> web.Response:
        user = self._users.get(int(user_id))
        if user is None:
            raise _ApiError(404, 10013, "Unknown User")
        return _json_response(self._user_payload(user))

    async def _h_create_dm(self, request: web.Request) -> web.Response:
        body = await self._read_body(request)
        raw: Any = body.json.get("recipient_id")
        try:
            user_id = int(raw)
        except (TypeError, ValueError):
            raise _form_error(
                ("recipient_id",), "NUMBER_TYPE_COERCE", "Value is not snowflake."
            ) from None
        if user_id not in self._users:
            raise _form_error(("recipient_id",), "USER_NOT_FOUND", "Unknown user")
        channel = self._channels[self._ensure_dm(user_id)]
        self._changed()
        return _json_response(self._channel_payload(channel))

    async def _h_application(self, request: web.Request) -> web.Response:
        owner = self._users[self.settings.application_owner_id]
        return _json_response(
            {
                "id": str(self.application_id),
                "name": self._users[self.bot_user_id].username,
                "icon": None,
                "description": "A fake application served by FakeDiscord.",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self._application_flags(),
                "owner": self._user_payload(owner),
                "team": None,
                "bot": self._user_payload(self._users[self.bot_user_id]),
                "tags": [],
                "redirect_uris": [],
                "approximate_guild_count": len(self._guilds),
                "integration_types_config": {"0": {}},
            }
        )

    async def _h_empty_list(self, request: web.Request, app_id: str) -> web.Response:
        return _json_response([])

    async def _h_app_emojis(self, request: web.Request, app_id: str) -> web.Response:
        return _json_response({"items": []})

    async def _h_no_content(self, request: web.Request, *args: str) -> web.Response:
        await request.read()
        if args:
            self._api_channel(args[0])
        return web.Response(status=204)

    async def _h_get_channel(self, request: web.Request, channel_id: str) -> web.Response:
        return _json_response(self._channel_payload(self._api_channel(channel_id)))

    def _api_guild(self, guild_id: str) -> FakeGuild:
        guild = self._guilds.get(int(guild_id))
        if guild is None:
            raise _ApiError(404, 10004, "Unknown Guild")
        return guild

    async def _h_get_guild(self, request: web.Request, guild_id: str) -> web.Response:
        guild = self._api_guild(guild_id)
        payload = self._guild_payload(guild)
        if _truthy_param(request.query.get("with_counts")):
            payload["approximate_member_count"] = len(self._members[guild.id])
            payload["approximate_presence_count"] = 0
        return _json_response(payload)

    async def _h_guild_channels(self, request: web.Request, guild_id: str) -> web.Response:
        guild = self._api_guild(guild_id)
        return _json_response(
            [
                self._channel_payload(c)
                for c in self._channels.values()
                if c.guild_id == guild.id and c.kind != "thread"
            ]
        )

    async def _h_guild_roles(self, request: web.Request, guild_id: str) -> web.Response:
        guild = self._api_guild(guild_id)
        return _json_response([self._role_payload(r) for r in self._roles[guild.id].values()])

    async def _h_guild_members(self, request: web.Request, guild_id: str) -> web.Response:
        guild = self._api_guild(guild_id)
        limit = max(1, min(1000, int(request.query.get("limit") or 1)))
        after = int(request.query.get("after") or 0)
        members = sorted(
            (m for m in self._members[guild.id].values() if m.user_id > after),
            key=lambda m: m.user_id,
        )[:limit]
        return _json_response([self._member_payload(m) for m in members])

    async def _h_get_member(
        self, request: web.Request, guild_id: str, user_id: str
    ) -> web.Response:
        guild = self._api_guild(guild_id)
        member = self._members[guild.id].get(int(user_id))
        if member is None:
            raise _ApiError(404, 10007, "Unknown Member")
        return _json_response(self._member_payload(member))

    async def _h_active_threads(self, request: web.Request, guild_id: str) -> web.Response:
        guild = self._api_guild(guild_id)
        threads = [t for t in self.threads() if t.guild_id == guild.id]
        return _json_response(
            {
                "threads": [self._channel_payload(t) for t in threads],
                "members": [self._thread_member_payload(t) for t in threads],
            }
        )
