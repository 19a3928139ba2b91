"""The guild model (users, guilds, channels, roles, members) and what tests read and await."""

# ruff: noqa: ASYNC109  (the public wait_* API takes `timeout=` as documented)
from __future__ import annotations

import asyncio
import contextlib
import copy
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from .constants import EPHEMERAL, INTENT_GUILD_MEMBERS, INTENT_GUILDS, JSON, LOADING, ChannelKind, T
from .interactions import FakeInteraction
from .permissions import (
    ADMINISTRATOR,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    MANAGE_MESSAGES,
)
from .records import (
    DefaultGuild,
    FakeAttachment,
    FakeChannel,
    FakeGatewayConnection,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRequest,
    FakeRole,
    FakeUser,
)


class StateMixin:
    """The guild model and the queries and waits tests use."""

    def new_id(self, *, shard: tuple[int, int] | None = None) -> int:
        """A fresh snowflake (for a guild: with `shard` (id, count), one routed to that shard)."""
        return self._ids.next(shard)

    def add_user(
        self,
        user_id: int,
        name: str,
        *,
        global_name: str | None = None,
        bot: bool = False,
        accepts_dms: bool = True,
    ) -> FakeUser:
        """Add (or replace) a user."""
        user = FakeUser(user_id, name, global_name, bot=bot, accepts_dms=accepts_dms)
        self._users[user_id] = user
        return user

    def add_guild(
        self,
        guild_id: int,
        name: str,
        *,
        owner_id: int,
        premium_tier: int = 0,
        preferred_locale: str = "en-US",
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
    ) -> FakeGuild:
        """Add a guild with its @everyone role, the bot's managed role and the bot as member."""
        bot_role_id = self._ids.next()
        guild = FakeGuild(
            guild_id, name, owner_id, premium_tier, preferred_locale, bot_permissions, bot_role_id
        )
        self._guilds[guild_id] = guild
        self._roles[guild_id] = {
            guild_id: FakeRole(guild_id, guild_id, "@everyone", everyone_permissions),
            bot_role_id: FakeRole(
                bot_role_id,
                guild_id,
                self._users[self.bot_user_id].username,
                bot_permissions,
                position=1,
                managed=True,
                bot_id=self.bot_user_id,
            ),
        }
        self._members[guild_id] = {}
        if owner_id not in self._users:
            self.add_user(owner_id, f"owner-{owner_id}")
        self._members[guild_id][owner_id] = FakeMember(guild_id, owner_id)
        self._members[guild_id][self.bot_user_id] = FakeMember(
            guild_id, self.bot_user_id, roles=(bot_role_id,)
        )
        self._emit_guild_create(guild_id)
        self._changed()
        return guild

    def set_guild(self, guild_id: int, **changes: Any) -> FakeGuild:
        """Change guild settings (e.g. premium_tier, bot_permissions) and return the new record."""
        guild = replace(self._require_guild(guild_id), **changes)
        self._guilds[guild_id] = guild
        if "bot_permissions" in changes:
            role = self._roles[guild_id][guild.bot_role_id]
            self._roles[guild_id][role.id] = replace(role, permissions=guild.bot_permissions)
        self._emit(
            "GUILD_UPDATE", self._guild_payload(guild), intent=INTENT_GUILDS, guild_id=guild_id
        )
        self._changed()
        return guild

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        *,
        nsfw: bool = False,
        kind: ChannelKind = "text",
        parent_id: int | None = None,
        topic: str | None = None,
        tags: Sequence[str] = (),
        bot_permissions: int | None = None,
    ) -> FakeChannel:
        """Add a guild channel ("text", "news", "forum", "voice" or "category")."""
        self._require_guild(guild_id)
        if kind in ("thread", "dm"):
            raise ValueError("threads and DM channels are created through the API")
        position = sum(1 for c in self._channels.values() if c.guild_id == guild_id)
        channel = FakeChannel(
            channel_id,
            guild_id,
            name,
            kind,
            nsfw=nsfw,
            parent_id=parent_id,
            position=position,
            topic=topic,
            tags=tuple((self._ids.next(), t) for t in tags),
            bot_permissions=bot_permissions,
        )
        self._channels[channel_id] = channel
        self._channel_event("CHANNEL_CREATE", channel)
        self._changed()
        return channel

    def add_role(
        self, guild_id: int, role_id: int, name: str, permissions: int, *, position: int = 0
    ) -> FakeRole:
        """Add a role to a guild."""
        self._require_guild(guild_id)
        if not position:
            position = len(self._roles[guild_id])
        role = FakeRole(role_id, guild_id, name, permissions, position)
        self._roles[guild_id][role_id] = role
        self._emit(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild_id), "role": self._role_payload(role)},
            intent=INTENT_GUILDS,
            guild_id=guild_id,
        )
        self._changed()
        return role

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str,
        *,
        roles: Sequence[int] = (),
        permissions: int | None = None,
        locale: str = "en-US",
        joined_at: datetime | None = None,
        nick: str | None = None,
        bot: bool = False,
    ) -> FakeMember:
        """Add a member (and the user if new); `permissions` overrides what roles would give."""
        self._require_guild(guild_id)
        for role_id in roles:
            if role_id not in self._roles[guild_id]:
                raise ValueError(f"role {role_id} is not in guild {guild_id}")
        if user_id not in self._users or self._users[user_id].username != name:
            old = self._users.get(user_id)
            self.add_user(
                user_id, name, bot=bot, accepts_dms=old.accepts_dms if old is not None else True
            )
        member = FakeMember(
            guild_id,
            user_id,
            tuple(roles),
            permissions,
            locale,
            joined_at or datetime.now(UTC),
            nick,
        )
        self._members[guild_id][user_id] = member
        payload = self._member_payload(member)
        payload["guild_id"] = str(guild_id)
        self._emit("GUILD_MEMBER_ADD", payload, intent=INTENT_GUILD_MEMBERS, guild_id=guild_id)
        self._changed()
        return member

    def add_default_guild(self) -> DefaultGuild:
        """Add a ready-made guild: #general, #nsfw, a #showcase forum, roles and four members."""
        base = 1300000000000000000
        ids = DefaultGuild(
            guild_id=base + 1,
            channel_id=base + 11,
            nsfw_channel_id=base + 12,
            forum_channel_id=base + 13,
            owner_id=self.settings.application_owner_id,
            user_id=base + 32,
            other_user_id=base + 33,
            moderator_id=base + 34,
            member_role_id=base + 21,
            moderator_role_id=base + 22,
            admin_role_id=base + 23,
        )
        self.add_guild(ids.guild_id, "Sandbox Guild", owner_id=ids.owner_id)
        self.add_channel(ids.guild_id, ids.channel_id, "general", topic="General chat")
        self.add_channel(ids.guild_id, ids.nsfw_channel_id, "after-dark", nsfw=True)
        self.add_channel(
            ids.guild_id, ids.forum_channel_id, "showcase", kind="forum", tags=("video", "image")
        )
        self.add_role(ids.guild_id, ids.member_role_id, "Member", DEFAULT_EVERYONE_PERMISSIONS)
        self.add_role(
            ids.guild_id,
            ids.moderator_role_id,
            "Moderator",
            DEFAULT_EVERYONE_PERMISSIONS | MANAGE_MESSAGES,
        )
        self.add_role(ids.guild_id, ids.admin_role_id, "Admin", ADMINISTRATOR)
        owner = self._users[ids.owner_id]
        self.add_member(ids.guild_id, ids.owner_id, owner.username, roles=(ids.admin_role_id,))
        self.add_member(ids.guild_id, ids.user_id, "alice", roles=(ids.member_role_id,))
        self.add_member(ids.guild_id, ids.other_user_id, "bob", roles=(ids.member_role_id,))
        self.add_member(
            ids.guild_id,
            ids.moderator_id,
            "mod",
            roles=(ids.member_role_id, ids.moderator_role_id),
        )
        self.defaults = ids
        return ids

    def guild(self, guild_id: int) -> FakeGuild:
        """Return a guild record."""
        return self._require_guild(guild_id)

    def channel(self, channel_id: int) -> FakeChannel:
        """Return a channel, thread or DM channel record."""
        return self._require_channel(channel_id)

    def user(self, user_id: int) -> FakeUser:
        """Return a user record."""
        return self._users[user_id]

    def member(self, guild_id: int, user_id: int) -> FakeMember:
        """Return a member record."""
        return self._members[guild_id][user_id]

    def threads(self, parent_id: int | None = None) -> list[FakeChannel]:
        """Threads (forum posts included), optionally only those under one parent channel."""
        return [
            c
            for c in self._channels.values()
            if c.kind == "thread" and (parent_id is None or c.parent_id == parent_id)
        ]

    def dm_channel_id(self, user_id: int) -> int | None:
        """The DM channel the bot opened with a user, if any."""
        return self._dm_channels.get(user_id)

    @property
    def messages(self) -> list[FakeMessage]:
        """Every message the fake knows (bot-authored and user-posted), oldest first."""
        return [m.snapshot() for m in self._msgs.values()]

    def message(self, message_id: int) -> FakeMessage | None:
        """The current state of one message, or None."""
        msg = self._msgs.get(message_id)
        return msg.snapshot() if msg else None

    def channel_messages(
        self, channel_id: int, *, include_deleted: bool = False, include_ephemeral: bool = True
    ) -> list[FakeMessage]:
        """Messages in a channel, oldest first."""
        return [
            m.snapshot()
            for m in self._msgs.values()
            if m.channel_id == channel_id
            and (include_deleted or not m.deleted)
            and (include_ephemeral or not m.flags & EPHEMERAL)
        ]

    @property
    def interactions(self) -> list[FakeInteraction]:
        """Every interaction sent to the bot, oldest first."""
        return list(self._interactions.values())

    def interaction(self, interaction_id: int) -> FakeInteraction:
        """Look up an interaction by id."""
        return self._interactions[interaction_id]

    @property
    def attachments_created(self) -> list[FakeAttachment]:
        """Every file ever uploaded or given as an option, oldest first, even if since replaced."""
        # Messages only show their current files; counting uploads needs the ones edited away.
        return list(self._blobs.values())

    @property
    def registered_commands(self) -> list[JSON]:
        """Application commands the bot registered (each has "guild_id": None when global)."""
        out: list[JSON] = []
        for scope in self._commands.values():
            out.extend(copy.deepcopy(list(scope.values())))
        return out

    @property
    def connections(self) -> list[FakeGatewayConnection]:
        """Every gateway connection so far, oldest first."""
        return [c.record() for c in self._conns]

    @property
    def is_connected(self) -> bool:
        """Whether a bot gateway connection is identified (or resumed) and open."""
        return any(c.live and c.closed_at is None for c in self._conns)

    def requests_matching(self, method: str, path_regex: str) -> list[FakeRequest]:
        """Recorded requests whose method matches and path matches the regex (re.search)."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if (method == "*" or r.method == method.upper()) and pattern.search(r.path)
        ]

    def _changed(self) -> None:
        event = self._event
        self._event = asyncio.Event()
        event.set()

    async def wait_for(
        self,
        predicate: Callable[[], T | bool | None],
        timeout: float = 10.0,
        *,
        description: str | None = None,
    ) -> T:
        """Re-check predicate on every recorded event; return its first truthy value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._event
            result = predicate()
            if result:
                return result  # type: ignore[return-value]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(description, predicate, timeout))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.5))

    def _timeout_message(
        self, description: str | None, predicate: Callable[..., Any], timeout: float
    ) -> str:
        what = description or getattr(predicate, "__qualname__", repr(predicate))
        recent = ", ".join(f"{r.method} {r.path}" for r in self.requests[-8:]) or "none"
        return (
            f"FakeDiscord: timed out after {timeout:.1f}s waiting for {what}. "
            f"connected={self.is_connected}, connections={len(self._conns)}, "
            f"commands={sorted(n for s in self._commands.values() for n, _ in s)}, "
            f"last requests: {recent}; unhandled: {self.unhandled_requests[-3:]}"
        )

    async def wait_until_connected(self, timeout: float = 10.0, *, connections: int = 1) -> None:
        """Wait until the bot is identified or resumed, after at least `connections` of them."""
        await self.wait_for(
            lambda: self.is_connected and self._live_count >= connections,
            timeout,
            description=f"the bot to be connected (live connection #{connections})",
        )

    async def wait_until_disconnected(self, timeout: float = 10.0) -> None:
        """Wait until no gateway connection is open."""
        await self.wait_for(
            lambda: not any(c.closed_at is None for c in self._conns),
            timeout,
            description="every gateway connection to close",
        )

    async def wait_for_commands(
        self, timeout: float = 10.0, *, names: Iterable[str] = ()
    ) -> list[JSON]:
        """Wait until the bot has registered its commands (and every name in `names`)."""
        wanted = set(names)

        def check() -> list[JSON] | None:
            if not self._command_puts:
                return None
            have = {c["name"] for c in self.registered_commands}
            return self.registered_commands if wanted <= have else None

        return await self.wait_for(check, timeout, description=f"command registration {wanted}")

    async def wait_for_message(
        self,
        predicate: Callable[[FakeMessage], Any] | None = None,
        *,
        channel_id: int | None = None,
        timeout: float = 5.0,
    ) -> FakeMessage:
        """Wait for a (non-deleted, non-loading) message matching predicate; return the newest."""

        def check() -> FakeMessage | None:
            for msg in reversed(self._msgs.values()):
                if msg.deleted or msg.flags & LOADING:
                    continue
                if channel_id is not None and msg.channel_id != channel_id:
                    continue
                snap = msg.snapshot()
                if predicate is None or predicate(snap):
                    return snap
            return None

        return await self.wait_for(check, timeout, description=f"a message in {channel_id}")

    def delete_channel(self, channel_id: int) -> None:
        """Delete a guild channel: it disappears (REST answers 404 10003) and the bot is told."""
        channel = self._require_channel(channel_id)
        if channel.guild_id is None:
            raise ValueError("DM channels cannot be deleted")
        del self._channels[channel_id]
        self._channel_event("CHANNEL_DELETE", channel)
        self._changed()

    def set_channel(self, channel_id: int, **changes: Any) -> FakeChannel:
        """Change a channel (e.g. `bot_permissions`: the bot's permissions there, None: the
        guild's) and tell the bot; returns the new record."""
        channel = replace(self._require_channel(channel_id), **changes)
        self._channels[channel_id] = channel
        if channel.guild_id is not None:
            self._channel_event("CHANNEL_UPDATE", channel)
        self._changed()
        return channel

    def set_user(self, user_id: int, **changes: Any) -> FakeUser:
        """Change a user (e.g. `accepts_dms=False`: DMs to them answer 403 50007)."""
        user = replace(self.user(user_id), **changes)
        self._users[user_id] = user
        self._changed()
        return user

    def expire_interaction(self, interaction_id: int) -> None:
        """Make every webhook/callback call with this interaction's token return 401 50027."""
        self._interactions[interaction_id]._expired = True
        self._changed()

    def _require_guild(self, guild_id: int) -> FakeGuild:
        try:
            return self._guilds[guild_id]
        except KeyError:
            raise LookupError(f"unknown guild {guild_id}") from None

    def _require_channel(self, channel_id: int) -> FakeChannel:
        try:
            return self._channels[channel_id]
        except KeyError:
            raise LookupError(f"unknown channel {channel_id}") from None

    def _channel_event(self, event: str, channel: FakeChannel) -> None:
        """Tell the bot a guild channel was created, changed or deleted."""
        self._emit(
            event, self._channel_payload(channel), intent=INTENT_GUILDS, guild_id=channel.guild_id
        )

    def _ensure_dm(self, user_id: int) -> int:
        if user_id in self._dm_channels:
            return self._dm_channels[user_id]
        if user_id not in self._users:
            raise LookupError(f"unknown user {user_id}")
        channel = FakeChannel(self._ids.next(), None, "", "dm", recipient_id=user_id)
        self._channels[channel.id] = channel
        self._dm_channels[user_id] = channel.id
        return channel.id
