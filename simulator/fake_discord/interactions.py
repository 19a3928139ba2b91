"""Interactions a test sends the bot (commands, clicks, modals), and the handles on them."""

# ruff: noqa: ASYNC109  (the public wait_* API takes `timeout=` as documented)
from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

from .constants import _INTERACTION_TYPE_NAMES, EPHEMERAL, JSON, MIB, T
from .options import CommandInput
from .records import FakeApiError, FakeChannel, FakeMessage, FakeResponse, _Msg

if TYPE_CHECKING:
    from .server import FakeDiscord


@dataclass(frozen=True)
class _Client:
    """The member's client an interaction is sent from, as a test set it up."""

    locale: str | None
    # None: the guild's upload limit (10 MiB outside a guild).
    attachment_size_limit: int | None
    # How long to wait for a gateway connection that receives the interaction.
    connect_timeout: float


@dataclass(eq=False, repr=False)
class FakeInteraction:
    """A live handle on one interaction sent to the bot, and on everything the bot answered."""

    _fake: FakeDiscord
    _: KW_ONLY
    id: int
    token: str
    type: int
    name: str
    user_id: int
    guild_id: int | None
    channel_id: int
    payload: JSON
    attachment_size_limit: int
    message_id: int | None
    created: float = field(default_factory=time.monotonic, init=False)
    # What the bot answered, filled in by the fake's REST handlers as the answers arrive.
    _responses: list[FakeResponse] = field(default_factory=list, init=False)
    _original_id: int | None = field(default=None, init=False)
    _followup_ids: list[int] = field(default_factory=list, init=False)
    _expired: bool = field(default=False, init=False)
    _modal: JSON | None = field(default=None, init=False)
    _choices: list[JSON] | None = field(default=None, init=False)
    _late: bool = field(default=False, init=False)
    _errors: list[FakeApiError] = field(default_factory=list, init=False)

    def __repr__(self) -> str:
        kind = _INTERACTION_TYPE_NAMES.get(self.type, str(self.type))
        return f"<FakeInteraction {kind} {self.name!r} id={self.id} responses={self._responses!r}>"

    @property
    def responses(self) -> list[FakeResponse]:
        """Initial responses accepted (at most one; rejected second tries are not listed)."""
        return list(self._responses)

    @property
    def response(self) -> FakeResponse | None:
        """The initial response, or None if the bot has not answered yet."""
        return self._responses[0] if self._responses else None

    @property
    def acknowledged(self) -> bool:
        """Whether the bot sent an initial response."""
        return bool(self._responses)

    @property
    def original(self) -> FakeMessage | None:
        """The current state of the original response message, or None."""
        return self._fake.message(self._original_id) if self._original_id else None

    @property
    def followups(self) -> list[FakeMessage]:
        """Messages created by followup webhooks (a followup that filled a defer is `original`)."""
        return [self._fake._msgs[i].snapshot() for i in self._followup_ids]

    @property
    def messages(self) -> list[FakeMessage]:
        """The original response (if any) then every followup."""
        original = self.original
        return ([original] if original else []) + self.followups

    @property
    def modal(self) -> JSON | None:
        """The modal the bot opened in response (callback type 9), or None."""
        return copy.deepcopy(self._modal)

    @property
    def choices(self) -> list[JSON] | None:
        """The autocomplete choices the bot answered with (callback type 8), or None."""
        return copy.deepcopy(self._choices)

    @property
    def expired(self) -> bool:
        """Whether the token is no longer valid (expired by hand or after its lifetime)."""
        return (
            self._expired
            or time.monotonic() - self.created > self._fake.settings.interaction_token_ttl
        )

    @property
    def errors(self) -> list[FakeApiError]:
        """Error responses to callback/webhook calls made with this interaction's token."""
        return list(self._errors)

    @property
    def missed_deadline(self) -> bool:
        """Whether the bot tried to respond after the initial-response deadline (3 s)."""
        return self._late

    async def wait_for_response(self, timeout: float = 5.0) -> FakeResponse:
        """Wait for the bot's initial response and return it."""
        return await self._fake.wait_for(
            lambda: self.response,
            timeout,
            description=f"an initial response to {self!r}",
        )

    async def wait_for_original(
        self,
        predicate: Callable[[FakeMessage], Any] | None = None,
        *,
        timeout: float = 5.0,
        loading: bool = False,
    ) -> FakeMessage:
        """Wait until the original response exists (and is no longer loading) and matches."""

        def check() -> FakeMessage | None:
            msg = self.original
            if msg is None or (msg.loading and not loading):
                return None
            if predicate is not None and not predicate(msg):
                return None
            return msg

        return await self._fake.wait_for(
            check, timeout, description=f"the original response of {self!r} to match"
        )

    async def wait_for_followups(
        self, count: int = 1, *, timeout: float = 5.0
    ) -> list[FakeMessage]:
        """Wait until at least `count` followup messages exist and return them."""
        return await self._fake.wait_for(
            lambda: f if len(f := self.followups) >= count else None,
            timeout,
            description=f"{count} followup(s) of {self!r}",
        )

    async def wait_until(
        self, predicate: Callable[[FakeInteraction], T], timeout: float = 5.0
    ) -> T:
        """Wait until predicate(self) is truthy and return its value."""
        return await self._fake.wait_for(
            lambda: predicate(self), timeout, description=f"a condition on {self!r}"
        )


class InteractionsMixin:
    """Sends interactions to the bot as a member would (the test's side)."""

    async def invoke(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user_id: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        attachments: Mapping[str, tuple[str, bytes, str]] | None = None,
        locale: str | None = None,
        attachment_size_limit: int | None = None,
        dm: bool = False,
        connect_timeout: float = 10.0,
    ) -> FakeInteraction:
        """Send a slash-command INTERACTION_CREATE ("group sub" paths) and return its handle."""
        values = dict(options or {})
        values.update(attachments or {})
        user = self._default_user(user_id)
        channel = self._resolve_place(user, guild_id, channel_id, dm)
        client = _Client(locale, attachment_size_limit, connect_timeout)
        return await self._command_interaction(2, command, values, None, user, channel, client)

    async def autocomplete(
        self,
        command: str,
        options: Mapping[str, Any] | None,
        focused: str,
        *,
        user_id: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        locale: str | None = None,
        dm: bool = False,
        timeout: float = 5.0,
    ) -> list[JSON]:
        """Send an autocomplete interaction and return the choices the bot answered with."""
        values = dict(options or {})
        values.setdefault(focused, "")
        user = self._default_user(user_id)
        channel = self._resolve_place(user, guild_id, channel_id, dm)
        client = _Client(locale, None, timeout)
        inter = await self._command_interaction(4, command, values, focused, user, channel, client)
        await inter.wait_for_response(timeout)
        return inter.choices or []

    async def click(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int | None = None,
        values: Sequence[str] | None = None,
        locale: str | None = None,
        attachment_size_limit: int | None = None,
        connect_timeout: float = 10.0,
    ) -> FakeInteraction:
        """Click a button (or pick select `values`) on a message; return the interaction."""
        msg = self._msgs.get(message_id)
        if msg is None or msg.deleted:
            raise LookupError(f"message {message_id} does not exist (or was deleted)")
        user_id = self._default_user(user_id)
        comp = msg.snapshot().component(custom_id)
        if comp is None:
            raise LookupError(
                f"message {message_id} has no component {custom_id!r}; it has "
                f"{list(msg.snapshot().custom_ids)}"
            )
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; Discord will not send a click")
        if msg.flags & EPHEMERAL and msg.interaction_user_id not in (None, user_id):
            raise ValueError(f"message {message_id} is ephemeral and not visible to {user_id}")
        ctype = int(comp.get("type", 2))
        data: JSON = {"custom_id": custom_id, "component_type": ctype}
        if ctype in (3, 5, 6, 7, 8):
            data["values"] = [str(v) for v in (values or [])]
            low, high = comp.get("min_values", 1), comp.get("max_values", 1)
            if not low <= len(data["values"]) <= high:
                raise ValueError(f"select {custom_id!r} takes {low} to {high} values")
            offered = [o.get("value") for o in comp.get("options") or []]
            if ctype == 3 and any(v not in offered for v in data["values"]):
                raise ValueError(f"select {custom_id!r} offers only {offered}")
            if ctype in (5, 6, 7, 8):
                data["resolved"] = self._resolved_for_ids(
                    [int(v) for v in data["values"]], msg.guild_id
                )
        elif values:
            raise ValueError("values are only for select menus")
        return await self._send_interaction(
            3,
            custom_id,
            data,
            user_id=user_id,
            guild_id=msg.guild_id,
            channel_id=msg.channel_id,
            message=msg,
            client=_Client(locale, attachment_size_limit, connect_timeout),
        )

    async def submit_modal(
        self,
        custom_id: str,
        values: Mapping[str, str | Sequence[str]],
        *,
        user_id: int | None = None,
        interaction: FakeInteraction | None = None,
        locale: str | None = None,
        attachment_size_limit: int | None = None,
        connect_timeout: float = 10.0,
    ) -> FakeInteraction:
        """Submit a modal the bot opened (found by custom_id) with text values by custom_id."""
        user_id = self._default_user(user_id)
        origin = interaction
        if origin is None:
            for inter in reversed(self._interactions.values()):
                if (
                    inter._modal is not None
                    and inter._modal.get("custom_id") == custom_id
                    and inter.user_id == user_id
                ):
                    origin = inter
                    break
        if origin is None or origin._modal is None:
            raise LookupError(f"the bot never opened a modal {custom_id!r} for user {user_id}")
        modal = origin._modal
        remaining = dict(values)
        components = [self._modal_submission(c, remaining) for c in modal.get("components", [])]
        if remaining:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(remaining)}")
        message = self._msgs.get(origin.message_id) if origin.message_id else None
        return await self._send_interaction(
            5,
            custom_id,
            {"custom_id": custom_id, "components": components},
            user_id=user_id,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            message=message,
            client=_Client(locale, attachment_size_limit, connect_timeout),
        )

    def _default_user(self, user_id: int | None) -> int:
        if user_id is not None:
            return user_id
        if self.defaults is not None:
            return self.defaults.user_id
        raise ValueError("user_id is required (no default guild was set up)")

    def _resolve_place(
        self, user_id: int, guild_id: int | None, channel_id: int | None, dm: bool
    ) -> FakeChannel:
        if dm:
            return self._channels[self._ensure_dm(user_id)]
        if channel_id is not None:
            channel = self._require_channel(channel_id)
            if guild_id is not None and channel.guild_id != guild_id:
                raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
            return channel
        if guild_id is None:
            if self.defaults is not None:
                return self._channels[self.defaults.channel_id]
            if len(self._guilds) != 1:
                raise ValueError("pass guild_id or channel_id (or dm=True)")
            guild_id = next(iter(self._guilds))
        if self.defaults is not None and guild_id == self.defaults.guild_id:
            return self._channels[self.defaults.channel_id]
        for channel in self._channels.values():
            if channel.guild_id == guild_id and channel.kind in ("text", "news"):
                return channel
        raise ValueError(f"guild {guild_id} has no text channel")

    async def _command_interaction(
        self,
        itype: int,
        command: str,
        values: dict[str, Any],
        focused: str | None,
        user_id: int,
        channel: FakeChannel,
        client: _Client,
    ) -> FakeInteraction:
        gid = channel.guild_id
        if gid is not None and user_id not in self._members[gid]:
            raise ValueError(f"user {user_id} is not a member of guild {gid}")
        path = command.split()
        if not path:
            raise ValueError("empty command")
        cmd = self._find_command(path[0], gid)
        self._check_command_access(cmd, user_id, channel)
        given = CommandInput(values, focused, channel, int(cmd["id"]))
        options = self._build_options(cmd.get("options") or [], path[1:], given, trail=path[0])
        data: JSON = {"id": cmd["id"], "name": cmd["name"], "type": 1}
        if options:
            data["options"] = options
        if given.resolved:
            data["resolved"] = given.resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._send_interaction(
            itype,
            command,
            data,
            user_id=user_id,
            guild_id=gid,
            channel_id=channel.id,
            message=None,
            client=client,
        )

    def _modal_submission(self, comp: JSON, values: dict[str, Any]) -> JSON:
        ctype = comp.get("type")
        if ctype == 1:
            return {
                "type": 1,
                "id": comp.get("id"),
                "components": [self._modal_submission(c, values) for c in comp["components"]],
            }
        if ctype == 18:
            return {
                "type": 18,
                "id": comp.get("id"),
                "component": self._modal_submission(comp["component"], values),
            }
        custom_id = comp.get("custom_id")
        if custom_id is None:
            return {"type": ctype, "id": comp.get("id")}
        out: JSON = {"type": ctype, "id": comp.get("id"), "custom_id": custom_id}
        if ctype == 4:
            value = values.pop(custom_id, comp.get("value") or "")
            if not isinstance(value, str):
                raise TypeError(f"text input {custom_id!r} takes a string")
            if comp.get("required", True) and not value:
                raise ValueError(f"text input {custom_id!r} is required")
            if value and len(value) < comp.get("min_length", 0):
                raise ValueError(f"text input {custom_id!r} is shorter than its min_length")
            if len(value) > comp.get("max_length", 4000):
                raise ValueError(f"text input {custom_id!r} is longer than its max_length")
            out["value"] = value
        else:
            picked = values.pop(custom_id, [])
            out["values"] = [picked] if isinstance(picked, str) else list(picked)
        return out

    async def _send_interaction(
        self,
        itype: int,
        name: str,
        data: JSON,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        message: _Msg | None,
        client: _Client,
    ) -> FakeInteraction:
        if not self._routable(guild_id):
            # A convenience, not Discord's behaviour (it fails the interaction): wait for the
            # connection of the shard the guild's events go to.
            await self.wait_for(
                lambda: self._routable(guild_id),
                client.connect_timeout,
                description=f"a gateway connection receiving guild {guild_id}'s events",
            )
        channel = self._require_channel(channel_id)
        user = self._users[user_id]
        interaction_id = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        attachment_size_limit = client.attachment_size_limit
        if attachment_size_limit is None:
            attachment_size_limit = (
                self._guilds[guild_id].upload_limit if guild_id is not None else 10 * MIB
            )
        member = self._members[guild_id].get(user_id) if guild_id is not None else None
        if guild_id is not None and member is None:
            raise ValueError(f"user {user_id} is not a member of guild {guild_id}")
        locale = client.locale
        if locale is None:
            locale = member.locale if member is not None else "en-US"
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "channel": self._interaction_channel_payload(channel, user_id),
            "channel_id": str(channel_id),
            "token": token,
            "version": 1,
            "app_permissions": str(self.bot_permissions(channel_id)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": attachment_size_limit,
        }
        if guild_id is not None:
            guild = self._guilds[guild_id]
            assert member is not None  # checked above
            member_payload = self._member_payload(member)
            member_payload["permissions"] = str(self.member_permissions(guild_id, user_id))
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=member_payload,
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
        else:
            payload.update(
                user=self._user_payload(user),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        if message is not None:
            payload["message"] = self._message_payload(message)
        inter = FakeInteraction(
            self,
            id=interaction_id,
            token=token,
            type=itype,
            name=name,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            payload=payload,
            attachment_size_limit=attachment_size_limit,
            message_id=message.id if message is not None else None,
        )
        self._interactions[interaction_id] = inter
        self._by_token[token] = inter
        self._emit("INTERACTION_CREATE", payload, guild_id=guild_id)
        self._changed()
        return inter
