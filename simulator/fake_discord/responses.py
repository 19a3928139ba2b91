"""The bot's answers to interactions: callbacks, follow-ups and the original message by webhook."""

from __future__ import annotations

import copy
import time
from typing import Any

from aiohttp import web

from .constants import _ALLOWED_CALLBACKS, EPHEMERAL, JSON, LOADING
from .errors import _ApiError, _form_error, _json_response
from .interactions import FakeInteraction
from .records import FakeChannel, FakeResponse, _Body, _Msg
from .rest import _truthy_param


class ResponsesMixin:
    """Handles the bot's answers to interactions (callback and webhook routes)."""

    def _token_interaction(self, token: str, *, app_id: str | None = None) -> FakeInteraction:
        inter = self._by_token.get(token)
        if inter is None or (app_id is not None and int(app_id) != self.application_id):
            raise _ApiError(404, 10015, "Unknown Webhook")
        if inter.expired:
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        return inter

    async def _h_callback(
        self, request: web.Request, inter_id: str, token: str
    ) -> web.StreamResponse:
        inter = self._interactions.get(int(inter_id))
        if inter is None or inter.token != token:
            await request.read()
            raise _ApiError(404, 10062, "Unknown interaction")
        if inter.expired:
            await request.read()
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        body = await self._read_body(request)
        if inter._responses:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        deadline = self.settings.initial_response_timeout
        if deadline is not None and time.monotonic() - inter.created > deadline:
            inter._late = True
            self._changed()
            raise _ApiError(404, 10062, "Unknown interaction")
        rtype = body.json.get("type")
        data = body.json.get("data")
        if not isinstance(rtype, int) or rtype not in _ALLOWED_CALLBACKS.get(inter.type, ()):
            raise _form_error(
                ("type",),
                "INTERACTION_CALLBACK_TYPE_INVALID",
                f"Callback type {rtype!r} is not valid for interaction type {inter.type}",
            )
        if rtype in (6, 7) and inter.message_id is None:
            raise _form_error(
                ("type",), "INTERACTION_CALLBACK_TYPE_INVALID", "This interaction has no message"
            )
        placeholder = FakeResponse(rtype, data)
        inter._responses.append(placeholder)  # claim the response before any await
        try:
            resource = await self._apply_callback(
                inter, rtype, data if isinstance(data, dict) else {}, body
            )
        except BaseException:
            inter._responses.remove(placeholder)
            raise
        self._changed()
        if not _truthy_param(request.query.get("with_response")):
            return web.Response(status=204)
        interaction_info: JSON = {"id": str(inter.id), "type": inter.type}
        if inter._original_id is not None and rtype in (4, 5, 6, 7):
            original = self._msgs[inter._original_id]
            interaction_info.update(
                response_message_id=str(original.id),
                response_message_loading=bool(original.flags & LOADING),
                response_message_ephemeral=bool(original.flags & EPHEMERAL),
            )
        return _json_response({"interaction": interaction_info, "resource": resource})

    async def _apply_callback(
        self, inter: FakeInteraction, rtype: int, data: JSON, body: _Body
    ) -> JSON:
        resource: JSON = {"type": rtype}
        channel = self._channels[inter.channel_id]
        if rtype == 4:
            original = _Body(data, body.files)
            resource["message"] = await self._original(
                inter, channel, original, allow_ephemeral=True
            )
        elif rtype == 5:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            loading = _Body({}, [])
            resource["message"] = await self._original(inter, channel, loading, extra_flags=flags)
        elif rtype in (6, 7):
            assert inter.message_id is not None
            target = self._msgs.get(inter.message_id)
            if target is None or target.deleted:
                raise _ApiError(404, 10008, "Unknown Message")
            inter._original_id = target.id
            if rtype == 7:
                await self._apply_edit(target, _Body(data, body.files), inter.attachment_size_limit)
                resource["message"] = self._message_payload(target)
        elif rtype == 8:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise _form_error(
                    ("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            for i, choice in enumerate(choices):
                if not 1 <= len(str(choice.get("name", ""))) <= 100:
                    raise _form_error(
                        ("data", "choices", i, "name"),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    )
            inter._choices = copy.deepcopy(choices)
        elif rtype == 9:
            if not data.get("custom_id") or not data.get("title"):
                raise _form_error(
                    ("data",), "BASE_TYPE_REQUIRED", "custom_id and title are required"
                )
            if len(str(data["title"])) > 45:
                raise _form_error(
                    ("data", "title"), "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."
                )
            if len(str(data["custom_id"])) > 100:
                raise _form_error(
                    ("data", "custom_id"), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."
                )
            comps = data.get("components") or []
            if not 1 <= len(comps) <= 5:
                raise _form_error(
                    ("data", "components"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 5 in length.",
                )
            inter._modal = copy.deepcopy(data)
        return resource

    async def _original(
        self, inter: FakeInteraction, channel: FakeChannel, body: _Body, **options: Any
    ) -> JSON:
        """Post an interaction's original response (a message or a loading one): its payload."""
        msg = await self._interaction_message(inter, channel, body, **options)
        inter._original_id = msg.id
        return self._message_payload(msg)

    async def _interaction_message(
        self, inter: FakeInteraction, channel: FakeChannel, body: _Body, **options: Any
    ) -> _Msg:
        """A new message of the bot's answering `inter` (under its upload limit), stored."""
        msg = await self._new_message(
            body,
            channel,
            limit=inter.attachment_size_limit,
            interaction=inter,
            **options,
        )
        self._store_message(msg)
        return msg

    async def _webhook_request(
        self, request: web.Request, app_id: str, token: str
    ) -> tuple[FakeInteraction, _Body]:
        """The answered interaction a webhook call with a body is for, and that body."""
        try:
            inter = self._token_interaction(token, app_id=app_id)
        except _ApiError:
            await request.read()  # a refused request's body is still read off the connection
            raise
        body = await self._read_body(request)
        return _answered(inter), body

    def _answered_token(self, token: str, app_id: str) -> FakeInteraction:
        """The interaction behind a webhook token, once it has been answered (else 10015)."""
        return _answered(self._token_interaction(token, app_id=app_id))

    def _webhook_target(self, inter: FakeInteraction, message_ref: str) -> _Msg:
        msg_id = inter._original_id if message_ref == "@original" else int(message_ref)
        # Only this interaction's own messages are reachable through its token.
        ours = msg_id is not None and (
            msg_id == inter._original_id or msg_id in inter._followup_ids
        )
        msg = self._msgs[msg_id] if ours else None
        if msg is None or msg.deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        return msg

    async def _h_followup(
        self, request: web.Request, app_id: str, token: str
    ) -> web.StreamResponse:
        inter, body = await self._webhook_request(request, app_id, token)
        original = self._msgs.get(inter._original_id) if inter._original_id else None
        if (
            inter._responses[0].type == 5
            and original is not None
            and original.flags & LOADING
            and not original.deleted
        ):
            payload = dict(body.json)
            if payload.get("flags") is not None:  # the ephemeral state was fixed by the defer
                payload["flags"] = int(payload["flags"]) & ~EPHEMERAL
            await self._apply_edit(
                original,
                _Body(payload, body.files),
                inter.attachment_size_limit,
                clear_loading=True,
            )
            msg = original
        else:
            channel = self._channels[inter.channel_id]
            msg = await self._interaction_message(inter, channel, body, allow_ephemeral=True)
            inter._followup_ids.append(msg.id)
        if not _truthy_param(request.query.get("wait")):
            return web.Response(status=204)
        return _json_response(self._message_payload(msg))

    async def _h_get_webhook_msg(
        self, request: web.Request, app_id: str, token: str, message_ref: str
    ) -> web.Response:
        inter = self._answered_token(token, app_id)
        return _json_response(self._message_payload(self._webhook_target(inter, message_ref)))

    async def _h_edit_webhook_msg(
        self, request: web.Request, app_id: str, token: str, message_ref: str
    ) -> web.Response:
        inter, body = await self._webhook_request(request, app_id, token)
        msg = self._webhook_target(inter, message_ref)
        await self._apply_edit(
            msg, body, inter.attachment_size_limit, clear_loading=msg.id == inter._original_id
        )
        return _json_response(self._message_payload(msg))

    async def _h_delete_webhook_msg(
        self, request: web.Request, app_id: str, token: str, message_ref: str
    ) -> web.Response:
        inter = self._answered_token(token, app_id)
        msg = self._webhook_target(inter, message_ref)
        msg.deleted = True
        self._emit_delete(msg)
        self._changed()
        return web.Response(status=204)


def _answered(inter: FakeInteraction) -> FakeInteraction:
    """`inter`, if it has been answered: before that its webhook does not exist (10015)."""
    if not inter._responses:
        raise _ApiError(404, 10015, "Unknown Webhook")
    return inter
