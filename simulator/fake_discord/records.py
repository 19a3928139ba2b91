"""The records the fake hands to tests (users, guilds, messages...) and its stored message."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import NamedTuple

from .constants import _CHANNEL_TYPES, DISCORD_EPOCH_MS, EPHEMERAL, JSON, LOADING, MIB, ChannelKind
from .permissions import DEFAULT_BOT_PERMISSIONS


def guild_upload_limit(premium_tier: int) -> int:
    """Return Discord's per-file upload limit in bytes for a guild boost tier."""
    return {2: 50 * MIB, 3: 100 * MIB}.get(premium_tier, 10 * MIB)


def snowflake_time(snowflake: int) -> datetime:
    """Return the UTC creation time encoded in a Discord snowflake."""
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, tz=UTC)


def _iso(value: datetime | None) -> str | None:
    """Format a datetime the way Discord does, or None."""
    return None if value is None else value.astimezone(UTC).isoformat()


class _Snowflakes:
    """Generates unique, monotonic snowflakes whose timestamp is the current time."""

    def __init__(self) -> None:
        self._last_ms = 0
        self._increment = 0

    def next(self, shard: tuple[int, int] | None = None) -> int:
        """Return a fresh snowflake; with `shard` (id, count), one Discord routes to that shard."""
        while True:
            snowflake = self._next()
            if shard is None or (snowflake >> 22) % shard[1] == shard[0]:
                return snowflake
            # The shard comes from the timestamp bits: as if this millisecond's ids ran out, the
            # next one is at least a millisecond later.
            self._increment = 0xFFF

    def _next(self) -> int:
        ms = int(time.time() * 1000)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._increment += 1
            if self._increment > 0xFFF:
                ms += 1
                self._increment = 0
        else:
            self._increment = 0
        self._last_ms = ms
        return ((ms - DISCORD_EPOCH_MS) << 22) | (1 << 17) | (1 << 12) | self._increment


@dataclass(frozen=True)
class FakeUser:
    """A Discord user known to the fake."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    accepts_dms: bool = True


@dataclass(frozen=True)
class FakeGuild:
    """A guild (server) and its settings."""

    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    preferred_locale: str = "en-US"
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS
    bot_role_id: int = 0

    @property
    def upload_limit(self) -> int:
        """Per-file upload limit for channel messages in this guild, in bytes."""
        return guild_upload_limit(self.premium_tier)


@dataclass(frozen=True)
class FakeChannel:
    """A guild channel, thread or DM channel."""

    id: int
    guild_id: int | None
    name: str
    kind: ChannelKind
    nsfw: bool = False
    parent_id: int | None = None
    position: int = 0
    topic: str | None = None
    owner_id: int | None = None
    recipient_id: int | None = None
    tags: tuple[tuple[int, str], ...] = ()
    applied_tags: tuple[int, ...] = ()
    bot_permissions: int | None = None

    @property
    def type(self) -> int:
        """Discord's numeric channel type."""
        return _CHANNEL_TYPES[self.kind]


@dataclass(frozen=True)
class FakeRole:
    """A guild role."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None


@dataclass(frozen=True)
class FakeMember:
    """A user's membership of a guild."""

    guild_id: int
    user_id: int
    roles: tuple[int, ...] = ()
    permissions: int | None = None
    locale: str = "en-US"
    joined_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    nick: str | None = None


@dataclass(frozen=True)
class FakeAttachment:
    """A file attached to a message or given as a slash-command option, with its bytes."""

    id: int
    filename: str
    content_type: str
    size: int
    data: bytes = field(repr=False)
    url: str = ""
    proxy_url: str = ""
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    description: str | None = None
    ephemeral: bool = False


@dataclass(frozen=True)
class FakeMessage:
    """A snapshot of one message as the fake stores it."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str
    embeds: tuple[JSON, ...]
    components: tuple[JSON, ...]
    attachments: tuple[FakeAttachment, ...]
    flags: int
    type: int
    interaction_id: int | None
    webhook_id: int | None
    nonce: str | int | None
    message_reference: JSON | None
    allowed_mentions: JSON | None
    edit_count: int
    deleted: bool
    reactions: Mapping[str, tuple[int, ...]]
    created_at: datetime
    edited_at: datetime | None
    thread_id: int | None

    @property
    def ephemeral(self) -> bool:
        """Whether only the invoking user can see the message (flag 64)."""
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Whether this is a deferred "thinking" message not yet filled in (flag 128)."""
        return bool(self.flags & LOADING)

    @property
    def embed(self) -> JSON | None:
        """The first embed, or None."""
        return self.embeds[0] if self.embeds else None

    @property
    def custom_ids(self) -> tuple[str, ...]:
        """Custom ids of every interactive component on the message, in order."""
        return tuple(c["custom_id"] for c in _walk_components(self.components) if "custom_id" in c)

    def component(self, custom_id: str) -> JSON | None:
        """Return the component with this custom id, or None."""
        for comp in _walk_components(self.components):
            if comp.get("custom_id") == custom_id:
                return comp
        return None

    def attachment(self, filename: str) -> FakeAttachment | None:
        """Return the attachment with this filename, or None."""
        return next((a for a in self.attachments if a.filename == filename), None)


class FakeResponse(NamedTuple):
    """One initial interaction response the bot sent: callback type and its data."""

    type: int
    data: JSON | None


class FakeRequest(NamedTuple):
    """One HTTP request the fake received (path without the /api/vN prefix)."""

    time: float
    method: str
    path: str


class FakeApiError(NamedTuple):
    """An error response the fake gave the bot (429s are in RateLimitRule.hits instead)."""

    time: float
    method: str
    path: str
    status: int
    code: int
    message: str


class FakeUnhandledRequest(NamedTuple):
    """A request no fake route answered (it got a 404 or 405)."""

    time: float
    method: str
    path: str
    query: str
    body: bytes


@dataclass(frozen=True)
class FakeGatewayConnection:
    """One gateway connection the bot opened."""

    id: int
    session_id: str | None
    resumed: bool
    intents: int | None
    opened_at: float
    closed_at: float | None
    close_code: int | None
    # [shard_id, num_shards] from its IDENTIFY; None when it did not shard.
    shard: tuple[int, int] | None = None

    @property
    def open(self) -> bool:
        """Whether the connection is still open."""
        return self.closed_at is None


@dataclass(frozen=True)
class DefaultGuild:
    """Ids of the default guild set up by `FakeDiscord.add_default_guild`."""

    guild_id: int
    channel_id: int
    nsfw_channel_id: int
    forum_channel_id: int
    owner_id: int
    user_id: int
    other_user_id: int
    moderator_id: int
    member_role_id: int
    moderator_role_id: int
    admin_role_id: int


@dataclass
class _Upload:
    index: int
    filename: str
    content_type: str
    data: bytes


@dataclass
class _Body:
    json: JSON
    files: list[_Upload]


@dataclass(eq=False)
class _Msg:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    tts: bool = False
    interaction_id: int | None = None
    interaction_user_id: int | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    nonce: str | int | None = None
    message_reference: JSON | None = None
    allowed_mentions: JSON | None = None
    edit_count: int = 0
    deleted: bool = False
    reactions: dict[str, list[int]] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    edited_at: datetime | None = None
    thread_id: int | None = None
    position: int | None = None

    def snapshot(self) -> FakeMessage:
        # Every field as it is now; lists become tuples and JSON is copied, so later edits of
        # the message never show through a snapshot a test holds.
        values = {f.name: getattr(self, f.name) for f in fields(FakeMessage)}
        values.update(
            embeds=tuple(copy.deepcopy(self.embeds)),
            components=tuple(copy.deepcopy(self.components)),
            attachments=tuple(self.attachments),
            message_reference=copy.deepcopy(self.message_reference),
            allowed_mentions=copy.deepcopy(self.allowed_mentions),
            reactions={k: tuple(v) for k, v in self.reactions.items()},
        )
        return FakeMessage(**values)


def _walk_components(components: Iterable[JSON]) -> Iterator[JSON]:
    """Yield every component, depth first (rows, containers, sections, labels)."""
    for comp in components:
        if not isinstance(comp, dict):
            continue
        yield comp
        children = comp.get("components")
        if isinstance(children, list):
            yield from _walk_components(children)
        for key in ("accessory", "component"):
            child = comp.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])
