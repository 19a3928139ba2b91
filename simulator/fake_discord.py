"""A loopback fake of Discord (REST, gateway and CDN) that a real, unmodified bot can talk to.

The bot is pointed at the fake with two settings and nothing else::

    discord.http.Route.BASE = fake.api_base                    # "http://127.0.0.1:PORT/api/v10"
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)  # "ws://127.0.0.1:PORT/gateway"

The fake speaks raw JSON (it never imports discord.py or the bot), keeps all of its state across
gateway connections (the bot may be killed and restarted), and records every REST call, message,
interaction and gateway connection so tests can assert on them. Typical use::

    fake = FakeDiscord.with_default_guild()
    await fake.start()
    ...  # start the bot with the two hooks above
    await fake.wait_until_connected()
    await fake.wait_for_commands(names={"video"})
    inter = await fake.invoke("video text", {"prompt": "a cat"})
    card = await inter.wait_for_original(lambda m: m.attachments)
    assert fake.unhandled_requests == [] and fake.internal_errors == []

Discord rules it enforces: the 3 s initial-response deadline (404 10062), one initial response
(400 40060), token lifetime and `expire_interaction` (401 50027), unknown tokens (404 10015),
per-file upload limits (413 40005), message/embed/component limits (400 50035), empty messages
(400 50006), bot permissions in channels (403 50013), enforce_nonce, and command visibility
(default_member_permissions, contexts, nsfw) when a test invokes a command.
"""

# ruff: noqa: ASYNC109  (the public wait_* API takes `timeout=` as documented)
from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import itertools
import json
import math
import mimetypes
import re
import secrets
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import quote

from aiohttp import BodyPartReader, WSMsgType, web

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DISCORD_EPOCH_MS",
    "MIB",
    "ChannelKind",
    "DefaultGuild",
    "ErrorRule",
    "FakeApiError",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGatewayConnection",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRequest",
    "FakeResponse",
    "FakeRole",
    "FakeUnhandledRequest",
    "FakeUser",
    "RateLimitRule",
    "ResponseDelay",
    "guild_upload_limit",
    "snowflake_time",
]

T = TypeVar("T")
JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000
MIB = 1024 * 1024
# Seconds between a HEARTBEAT and its ACK: a loopback stand-in for the network's round trip.
HEARTBEAT_ACK_DELAY = 0.05
API_PREFIX_RE = re.compile(r"^/api/v\d+")

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
_SETTABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

# Permission bits.
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)

# Gateway intents.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS = 1 << 13
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

ChannelKind = Literal["text", "news", "forum", "voice", "category", "thread", "dm"]
_CHANNEL_TYPES: dict[str, int] = {
    "text": 0,
    "dm": 1,
    "voice": 2,
    "category": 4,
    "news": 5,
    "thread": 11,
    "forum": 15,
}
_MESSAGEABLE_KINDS = frozenset({"text", "news", "voice", "thread", "dm"})
_OPTION_TYPE_NAMES = {
    1: "subcommand",
    2: "subcommand group",
    3: "string",
    4: "integer",
    5: "boolean",
    6: "user",
    7: "channel",
    8: "role",
    9: "mentionable",
    10: "number",
    11: "attachment",
}
_INTERACTION_TYPE_NAMES = {1: "ping", 2: "command", 3: "component", 4: "autocomplete", 5: "modal"}
# Which callback types Discord accepts for each interaction type.
_ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    1: frozenset({1}),
    2: frozenset({4, 5, 9, 12}),
    3: frozenset({4, 5, 6, 7, 9, 12}),
    4: frozenset({8}),
    5: frozenset({4, 5, 6, 7}),
}


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

    def next(self) -> int:
        """Return a fresh snowflake."""
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


# ---------------------------------------------------------------------------------------------
# Public records
# ---------------------------------------------------------------------------------------------


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


@dataclass
class RateLimitRule:
    """A live rule injecting 429 responses; `remaining` counts down as it fires."""

    method: str
    pattern: re.Pattern[str]
    retry_after: float
    remaining: int
    global_: bool = False
    hits: list[float] = field(default_factory=list)


@dataclass
class ResponseDelay:
    """A live rule holding back answers (the work is done, the caller just hears it late)."""

    method: str
    pattern: re.Pattern[str]
    seconds: float
    remaining: int
    # Only requests that uploaded a file Discord accepted (a video reaching a message).
    uploads_only: bool = False


@dataclass
class ErrorRule:
    """A live rule answering matching requests with a Discord error; `remaining` counts down."""

    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    remaining: int
    hits: list[float] = field(default_factory=list)


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


# ---------------------------------------------------------------------------------------------
# Internal state
# ---------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """An error answered to the bot with Discord's JSON error shape."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: JSON | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """Render as an aiohttp response."""
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return _json_response(body, status=self.status, headers=self.headers)


def _form_error(path: Sequence[str | int], code: str, message: str) -> _ApiError:
    """Build a 400 50035 "Invalid Form Body" error for one field path."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {str(key): errors}
    return _ApiError(400, 50035, "Invalid Form Body", errors)


def _json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response whose Content-Type is exactly application/json (discord.py needs that)."""
    resp = web.Response(body=json.dumps(data).encode(), status=status, headers=headers)
    resp.headers["Content-Type"] = "application/json"
    return resp


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
        return FakeMessage(
            id=self.id,
            channel_id=self.channel_id,
            guild_id=self.guild_id,
            author_id=self.author_id,
            content=self.content,
            embeds=tuple(copy.deepcopy(self.embeds)),
            components=tuple(copy.deepcopy(self.components)),
            attachments=tuple(self.attachments),
            flags=self.flags,
            type=self.type,
            interaction_id=self.interaction_id,
            webhook_id=self.webhook_id,
            nonce=self.nonce,
            message_reference=copy.deepcopy(self.message_reference),
            allowed_mentions=copy.deepcopy(self.allowed_mentions),
            edit_count=self.edit_count,
            deleted=self.deleted,
            reactions={k: tuple(v) for k, v in self.reactions.items()},
            created_at=self.created_at,
            edited_at=self.edited_at,
            thread_id=self.thread_id,
        )


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

    def record(self) -> FakeGatewayConnection:
        return FakeGatewayConnection(
            id=self.id,
            session_id=self.session.id if self.session else None,
            resumed=self.resumed,
            intents=self.session.intents if self.session else None,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            close_code=self.close_code,
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


def _truthy_param(value: str | None) -> bool:
    return value is not None and value.lower() in {"1", "true", "yes"}


def _guess_content_type(filename: str, declared: str | None, data: bytes) -> str:
    """Decide an attachment's content type like Discord does (from the name, then the bytes)."""
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    if guessed:
        return guessed
    fmt = _image_format(data)
    if fmt:
        return f"image/{fmt}"
    return declared or "application/octet-stream"


def _image_format(data: bytes) -> str | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return (img.format or "").lower() or None
    except Exception:
        return None


def _placeholder_png() -> bytes:
    """A small grey PNG served for avatars and icons."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (128, 128), (88, 101, 242)).save(buf, format="PNG")
    return buf.getvalue()


def _probe_media(data: bytes, content_type: str) -> tuple[int | None, int | None, float | None]:
    """Width, height and duration of an image (Pillow) or video (PyAV, if installed)."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            img.verify()
            return size[0], size[1], None
    except Exception:
        pass
    if content_type.startswith("video/"):
        try:
            import av

            with av.open(io.BytesIO(data)) as container:
                stream = container.streams.video[0]
                duration = container.duration / 1_000_000 if container.duration else None
                return stream.codec_context.width, stream.codec_context.height, duration
        except Exception:
            return None, None, None
    return None, None, None


# ---------------------------------------------------------------------------------------------
# Interactions
# ---------------------------------------------------------------------------------------------


class FakeInteraction:
    """A live handle on one interaction sent to the bot, and on everything the bot answered."""

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        id: int,
        token: str,
        type: int,
        name: str,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        payload: JSON,
        attachment_size_limit: int,
        message_id: int | None,
    ) -> None:
        self._fake = fake
        self.id = id
        self.token = token
        self.type = type
        self.name = name
        self.user_id = user_id
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.payload = payload
        self.attachment_size_limit = attachment_size_limit
        self.message_id = message_id
        self.created = time.monotonic()
        self._responses: list[FakeResponse] = []
        self._original_id: int | None = None
        self._followup_ids: list[int] = []
        self._expired = False
        self._modal: JSON | None = None
        self._choices: list[JSON] | None = None
        self._late = False
        self._errors: list[FakeApiError] = []

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
        return self._expired or time.monotonic() - self.created > self._fake.interaction_token_ttl

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


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------

_Handler = Callable[..., Awaitable[web.StreamResponse]]


class FakeDiscord:
    """A loopback Discord: REST API, gateway and CDN served by aiohttp on 127.0.0.1."""

    DEFAULT_APPLICATION_ID = 1300000000000000100
    DEFAULT_OWNER_ID = 1300000000000000031

    def __init__(
        self,
        *,
        application_id: int = DEFAULT_APPLICATION_ID,
        bot_user_id: int | None = None,
        bot_name: str = "SandboxBot",
        application_owner_id: int = DEFAULT_OWNER_ID,
        token: str | None = None,
        privileged_intents: int = PRIVILEGED_INTENTS,
        initial_response_timeout: float | None = 3.0,
        interaction_token_ttl: float = 15 * 60.0,
        heartbeat_interval_ms: int = 41250,
        heartbeat_ack_delay: float = HEARTBEAT_ACK_DELAY,
    ) -> None:
        self.application_id = application_id
        self.bot_user_id = bot_user_id if bot_user_id is not None else application_id
        self.application_owner_id = application_owner_id
        self.token = token
        self.privileged_intents = privileged_intents
        self.initial_response_timeout = initial_response_timeout
        self.interaction_token_ttl = interaction_token_ttl
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.heartbeat_ack_delay = heartbeat_ack_delay
        self.defaults: DefaultGuild | None = None

        self.requests: list[FakeRequest] = []
        self.unhandled_requests: list[FakeUnhandledRequest] = []
        self.rate_limits: list[RateLimitRule] = []
        self.response_delays: list[ResponseDelay] = []
        self.error_rules: list[ErrorRule] = []
        # Requests whose caller hung up before the fake could read them (a killed bot).
        self.dropped_requests: list[FakeRequest] = []
        self.internal_errors: list[str] = []
        self.api_errors: list[FakeApiError] = []

        self._ids = _Snowflakes()
        self._users: dict[int, FakeUser] = {}
        self._guilds: dict[int, FakeGuild] = {}
        self._channels: dict[int, FakeChannel] = {}
        self._roles: dict[int, dict[int, FakeRole]] = {}
        self._members: dict[int, dict[int, FakeMember]] = {}
        self._dm_channels: dict[int, int] = {}
        self._msgs: dict[int, _Msg] = {}
        self._blobs: dict[int, FakeAttachment] = {}
        self._nonces: dict[tuple[int, str], int] = {}
        self._last_msg: dict[int, int] = {}
        self._msg_counts: dict[int, int] = {}
        self._interactions: dict[int, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self._commands: dict[int | None, dict[tuple[str, int], JSON]] = {}
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._command_puts = 0
        self._sessions: dict[str, _Session] = {}
        self._conns: list[_Conn] = []
        self._conn_ids = itertools.count(1)
        self._live_count = 0
        self._event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._routes: list[tuple[str, re.Pattern[str], _Handler, bool]] = []
        self._register_routes()

        self._users[self.bot_user_id] = FakeUser(self.bot_user_id, bot_name, bot=True)
        self._users.setdefault(
            application_owner_id, FakeUser(application_owner_id, "sandbox-owner", "Owner")
        )

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def with_default_guild(cls, **kwargs: Any) -> FakeDiscord:
        """Create a fake that already has the default guild (see `add_default_guild`)."""
        fake = cls(**kwargs)
        fake.add_default_guild()
        return fake

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start serving on host:port (port 0 picks a free port)."""
        app = web.Application(client_max_size=1024 * MIB)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._host = host
        self._port = sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        """Close every gateway connection and stop the server."""
        for conn in list(self._conns):
            if conn.closed_at is None:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port the fake listens on."""
        return self._port

    @property
    def base_url(self) -> str:
        """Root URL of the fake ("http://127.0.0.1:PORT")."""
        return f"http://{self._host}:{self._port}"

    @property
    def api_base(self) -> str:
        """Value for discord.http.Route.BASE."""
        return f"{self.base_url}/api/v10"

    @property
    def cdn_base(self) -> str:
        """Optional value for discord.asset.Asset.BASE (serves placeholder avatars)."""
        return self.base_url

    @property
    def gateway_url(self) -> str:
        """Value for DiscordWebSocket.DEFAULT_GATEWAY (wrap it in yarl.URL)."""
        return f"ws://{self._host}:{self._port}/gateway"

    # -- guild model ----------------------------------------------------------------------------

    def new_id(self) -> int:
        """A fresh snowflake, for a user, channel or role a test adds."""
        return self._ids.next()

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
        self._emit(
            "CHANNEL_CREATE",
            self._channel_payload(channel),
            intent=INTENT_GUILDS,
            guild_id=guild_id,
        )
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
            owner_id=self.application_owner_id,
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

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        """A member's effective guild permissions (owner and administrator get everything)."""
        guild = self._require_guild(guild_id)
        member = self._members[guild_id].get(user_id)
        if member is None:
            raise LookupError(f"user {user_id} is not a member of guild {guild_id}")
        if user_id == self.bot_user_id:
            perms = guild.bot_permissions
        elif member.permissions is not None:
            perms = member.permissions
        elif user_id == guild.owner_id:
            return ALL_PERMISSIONS
        else:
            roles = self._roles[guild_id]
            perms = roles[guild_id].permissions
            for role_id in member.roles:
                if role_id in roles:
                    perms |= roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def bot_permissions(self, channel_id: int) -> int:
        """The bot's effective permissions in a channel (DMs: what a DM allows)."""
        channel = self._require_channel(channel_id)
        if channel.guild_id is None:
            return VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
        perms = channel.bot_permissions
        if perms is None and channel.parent_id is not None:
            parent = self._channels.get(channel.parent_id)
            perms = parent.bot_permissions if parent else None
        if perms is None:
            perms = self._guilds[channel.guild_id].bot_permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    # -- recording ------------------------------------------------------------------------------

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

    # -- waiting --------------------------------------------------------------------------------

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

    # -- fault injection ------------------------------------------------------------------------

    def inject_rate_limit(
        self,
        method: str,
        path_regex: str,
        *,
        retry_after: float = 0.2,
        count: int = 1,
        global_: bool = False,
    ) -> RateLimitRule:
        """Answer the next `count` matching requests with a real Discord 429.

        `path_regex` is searched in the path without the /api/v10 prefix, e.g.
        r"^/channels/\\d+/messages$" or r"/webhooks/".
        """
        rule = RateLimitRule(method.upper(), re.compile(path_regex), retry_after, count, global_)
        self.rate_limits.append(rule)
        return rule

    def delay_responses(
        self,
        method: str,
        path_regex: str,
        seconds: float,
        *,
        count: int = 1,
        uploads_only: bool = False,
    ) -> ResponseDelay:
        """Do the next `count` matching requests at once but answer them `seconds` later.

        Opens the window between Discord doing something and the bot hearing of it (a crash
        there is what a bot must survive). `uploads_only`: only requests that uploaded a file.
        """
        rule = ResponseDelay(method.upper(), re.compile(path_regex), seconds, count, uploads_only)
        self.response_delays.append(rule)
        return rule

    def inject_error(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        code: int,
        message: str,
        count: int = 1,
    ) -> ErrorRule:
        """Answer the next `count` matching requests with this Discord error (JSON code/message).

        Matched like `inject_rate_limit` (after it); e.g. `inject_error("PATCH", r"/webhooks/",
        status=404, code=10015, message="Unknown Webhook")`. The answers are recorded in
        `api_errors` like the fake's own.
        """
        rule = ErrorRule(method.upper(), re.compile(path_regex), status, code, message, count)
        self.error_rules.append(rule)
        return rule

    def delete_channel(self, channel_id: int) -> None:
        """Delete a guild channel: it disappears (REST answers 404 10003) and the bot is told."""
        channel = self._require_channel(channel_id)
        if channel.guild_id is None:
            raise ValueError("DM channels cannot be deleted")
        del self._channels[channel_id]
        self._emit(
            "CHANNEL_DELETE",
            self._channel_payload(channel),
            intent=INTENT_GUILDS,
            guild_id=channel.guild_id,
        )
        self._changed()

    def set_channel(self, channel_id: int, **changes: Any) -> FakeChannel:
        """Change a channel (e.g. `bot_permissions`: the bot's permissions there, None: the
        guild's) and tell the bot; returns the new record."""
        channel = replace(self._require_channel(channel_id), **changes)
        self._channels[channel_id] = channel
        if channel.guild_id is not None:
            self._emit(
                "CHANNEL_UPDATE",
                self._channel_payload(channel),
                intent=INTENT_GUILDS,
                guild_id=channel.guild_id,
            )
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

    async def disconnect_bot(self, *, code: int = 4000, resumable: bool = True) -> None:
        """Close the bot's gateway connection(s); the bot reconnects (RESUME, or IDENTIFY)."""
        for conn in list(self._conns):
            if conn.closed_at is not None:
                continue
            if not resumable and conn.session is not None:
                conn.session.valid = False
            await conn.ws.close(code=code, message=b"disconnected by FakeDiscord")
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

    # -- driving the bot: interactions ----------------------------------------------------------

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
        return await self._command_interaction(
            2,
            command,
            values,
            focused=None,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            locale=locale,
            attachment_size_limit=attachment_size_limit,
            dm=dm,
            connect_timeout=connect_timeout,
        )

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
        inter = await self._command_interaction(
            4,
            command,
            values,
            focused=focused,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            locale=locale,
            attachment_size_limit=None,
            dm=dm,
            connect_timeout=timeout,
        )
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
            locale=locale,
            attachment_size_limit=attachment_size_limit,
            message=msg,
            connect_timeout=connect_timeout,
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
            locale=locale,
            attachment_size_limit=attachment_size_limit,
            message=message,
            connect_timeout=connect_timeout,
        )

    # -- driving the bot: users acting in channels ----------------------------------------------

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
        msg = self._msgs[message_id]
        users = msg.reactions.get(emoji, [])
        if user_id in users:
            users.remove(user_id)
            if not users:
                del msg.reactions[emoji]
            self._emit_reaction("MESSAGE_REACTION_REMOVE", msg, emoji, user_id)
        self._changed()

    # -- interaction construction ---------------------------------------------------------------

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

    def _find_command(self, name: str, guild_id: int | None, ctype: int = 1) -> JSON:
        for scope in ([guild_id] if guild_id is not None else []) + [None]:
            cmd = self._commands.get(scope, {}).get((name, ctype))
            if cmd is not None:
                return cmd
        known = sorted(n for s in self._commands.values() for n, _ in s)
        raise LookupError(
            f"no registered command {name!r} (registered: {known}); did tree.sync run?"
        )

    async def _command_interaction(
        self,
        itype: int,
        command: str,
        values: dict[str, Any],
        *,
        focused: str | None,
        user_id: int | None,
        guild_id: int | None,
        channel_id: int | None,
        locale: str | None,
        attachment_size_limit: int | None,
        dm: bool,
        connect_timeout: float,
    ) -> FakeInteraction:
        user_id = self._default_user(user_id)
        channel = self._resolve_place(user_id, guild_id, channel_id, dm)
        gid = channel.guild_id
        if gid is not None and user_id not in self._members[gid]:
            raise ValueError(f"user {user_id} is not a member of guild {gid}")
        path = command.split()
        if not path:
            raise ValueError("empty command")
        cmd = self._find_command(path[0], gid)
        self._check_command_access(cmd, user_id, channel)
        resolved: dict[str, dict[str, Any]] = {}
        options = self._build_options(
            cmd.get("options") or [],
            path[1:],
            values,
            resolved,
            focused,
            channel,
            trail=path[0],
            command_id=int(cmd["id"]),
        )
        data: JSON = {"id": cmd["id"], "name": cmd["name"], "type": 1}
        if options:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._send_interaction(
            itype,
            command,
            data,
            user_id=user_id,
            guild_id=gid,
            channel_id=channel.id,
            locale=locale,
            attachment_size_limit=attachment_size_limit,
            message=None,
            connect_timeout=connect_timeout,
        )

    def _check_command_access(self, cmd: JSON, user_id: int, channel: FakeChannel) -> None:
        name = cmd["name"]
        context = 0 if channel.guild_id is not None else 1
        contexts = cmd.get("contexts")
        if contexts is not None and context not in contexts:
            raise PermissionError(f"/{name} is not available in this context ({context})")
        if context == 1 and cmd.get("dm_permission") is False:
            raise PermissionError(f"/{name} is not available in DMs")
        if cmd.get("nsfw") and not self._channel_is_nsfw(channel):
            raise PermissionError(f"/{name} is age-restricted and the channel is not")
        required = cmd.get("default_member_permissions")
        if required is not None and channel.guild_id is not None:
            needed = int(required)
            perms = self.member_permissions(channel.guild_id, user_id)
            if needed == 0 or perms & needed != needed:
                raise PermissionError(
                    f"/{name} needs permissions {needed:#x}; member {user_id} has {perms:#x}"
                )

    def _channel_is_nsfw(self, channel: FakeChannel) -> bool:
        if channel.nsfw:
            return True
        parent = self._channels.get(channel.parent_id) if channel.parent_id else None
        return bool(parent and parent.nsfw)

    def _build_options(
        self,
        schema: list[JSON],
        path: list[str],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
        channel: FakeChannel,
        *,
        trail: str,
        command_id: int,
    ) -> list[JSON]:
        subs = [o for o in schema if o.get("type") in (1, 2)]
        if path:
            sub = next((o for o in subs if o["name"] == path[0]), None)
            if sub is None:
                raise LookupError(
                    f"/{trail} has no subcommand {path[0]!r} (has {[o['name'] for o in subs]})"
                )
            inner = self._build_options(
                sub.get("options") or [],
                path[1:],
                values,
                resolved,
                focused,
                channel,
                trail=f"{trail} {path[0]}",
                command_id=command_id,
            )
            return [{"type": sub["type"], "name": sub["name"], "options": inner}]
        if subs:
            raise ValueError(f"/{trail} needs a subcommand: {[o['name'] for o in subs]}")
        by_name = {o["name"]: o for o in schema}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise ValueError(f"/{trail} has no options {unknown} (has {sorted(by_name)})")
        out: list[JSON] = []
        for opt in schema:
            name = opt["name"]
            if name not in values or values[name] is None:
                if opt.get("required") and focused is None:
                    raise ValueError(f"/{trail}: option {name!r} is required")
                continue
            otype = int(opt["type"])
            raw = values[name]
            if name == focused:
                out.append({"type": otype, "name": name, "value": str(raw), "focused": True})
                continue
            if focused is not None and otype == 11:
                continue  # Discord does not send attachments with autocomplete
            value = self._option_value(
                opt,
                raw,
                resolved,
                channel,
                trail=trail,
                command_id=command_id,
                validate=focused is None,
            )
            out.append({"type": otype, "name": name, "value": value})
        return out

    def _option_value(
        self,
        opt: JSON,
        raw: Any,
        resolved: dict[str, dict[str, Any]],
        channel: FakeChannel,
        *,
        trail: str,
        command_id: int,
        validate: bool,
    ) -> Any:
        otype = int(opt["type"])
        name = opt["name"]
        where = f"/{trail} {name}"
        kind = _OPTION_TYPE_NAMES.get(otype, str(otype))
        if otype == 3:
            if not isinstance(raw, str):
                raise TypeError(f"{where}: expected a string, got {raw!r}")
            if validate:
                if "min_length" in opt and len(raw) < opt["min_length"]:
                    raise ValueError(f"{where}: shorter than {opt['min_length']}")
                if len(raw) > opt.get("max_length", 6000):
                    raise ValueError(f"{where}: longer than {opt.get('max_length', 6000)}")
            value: Any = raw
        elif otype in (4, 10):
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise TypeError(f"{where}: expected a {kind}, got {raw!r}")
            if otype == 4 and not float(raw).is_integer():
                raise TypeError(f"{where}: expected an integer, got {raw!r}")
            value = int(raw) if otype == 4 else raw
            if validate:
                if "min_value" in opt and value < opt["min_value"]:
                    raise ValueError(f"{where}: below min_value {opt['min_value']}")
                if "max_value" in opt and value > opt["max_value"]:
                    raise ValueError(f"{where}: above max_value {opt['max_value']}")
        elif otype == 5:
            if not isinstance(raw, bool):
                raise TypeError(f"{where}: expected a boolean, got {raw!r}")
            value = raw
        elif otype in (6, 7, 8, 9):
            if not isinstance(raw, int) or isinstance(raw, bool):
                raise TypeError(f"{where}: expected a {kind} id (int), got {raw!r}")
            self._resolve_snowflake(otype, raw, resolved, channel, where, opt)
            value = str(raw)
        elif otype == 11:
            if not (isinstance(raw, tuple) and len(raw) == 3):
                raise TypeError(f"{where}: expected (filename, bytes, content_type), got {raw!r}")
            filename, data, content_type = raw
            att = self._make_option_attachment(command_id, filename, bytes(data), content_type)
            resolved.setdefault("attachments", {})[str(att.id)] = self._attachment_payload(att)
            value = str(att.id)
        else:
            raise ValueError(f"{where}: unsupported option type {otype}")
        choices = opt.get("choices")
        if validate and choices and otype in (3, 4, 10):
            allowed = [c["value"] for c in choices]
            if value not in allowed:
                raise ValueError(f"{where}: {value!r} is not one of the choices {allowed}")
        return value

    def _resolve_snowflake(
        self,
        otype: int,
        snowflake: int,
        resolved: dict[str, dict[str, Any]],
        channel: FakeChannel,
        where: str,
        opt: JSON,
    ) -> None:
        gid = channel.guild_id
        if otype in (6, 9) and snowflake in self._users:
            resolved.setdefault("users", {})[str(snowflake)] = self._user_payload(
                self._users[snowflake]
            )
            if gid is not None and snowflake in self._members[gid]:
                member = self._member_payload(self._members[gid][snowflake], with_user=False)
                member["permissions"] = str(self.member_permissions(gid, snowflake))
                resolved.setdefault("members", {})[str(snowflake)] = member
            return
        if otype in (8, 9) and gid is not None and snowflake in self._roles[gid]:
            role = self._role_payload(self._roles[gid][snowflake])
            resolved.setdefault("roles", {})[str(snowflake)] = role
            return
        if otype == 7 and snowflake in self._channels:
            target = self._channels[snowflake]
            types = opt.get("channel_types")
            if types and target.type not in types:
                raise ValueError(f"{where}: channel type {target.type} not in {types}")
            payload = self._channel_payload(target)
            payload["permissions"] = str(ALL_PERMISSIONS)
            resolved.setdefault("channels", {})[str(snowflake)] = payload
            return
        raise LookupError(f"{where}: unknown {_OPTION_TYPE_NAMES[otype]} {snowflake}")

    def _resolved_for_ids(self, ids: list[int], guild_id: int | None) -> JSON:
        resolved: dict[str, dict[str, Any]] = {}
        for snowflake in ids:
            if snowflake in self._users:
                resolved.setdefault("users", {})[str(snowflake)] = self._user_payload(
                    self._users[snowflake]
                )
                if guild_id is not None and snowflake in self._members.get(guild_id, {}):
                    member = self._member_payload(
                        self._members[guild_id][snowflake], with_user=False
                    )
                    resolved.setdefault("members", {})[str(snowflake)] = member
            elif guild_id is not None and snowflake in self._roles.get(guild_id, {}):
                resolved.setdefault("roles", {})[str(snowflake)] = self._role_payload(
                    self._roles[guild_id][snowflake]
                )
            elif snowflake in self._channels:
                payload = self._channel_payload(self._channels[snowflake])
                payload["permissions"] = str(ALL_PERMISSIONS)
                resolved.setdefault("channels", {})[str(snowflake)] = payload
        return resolved

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
        locale: str | None,
        attachment_size_limit: int | None,
        message: _Msg | None,
        connect_timeout: float,
    ) -> FakeInteraction:
        if not self.is_connected:
            await self.wait_until_connected(connect_timeout)
        channel = self._require_channel(channel_id)
        user = self._users[user_id]
        interaction_id = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        if attachment_size_limit is None:
            attachment_size_limit = (
                self._guilds[guild_id].upload_limit if guild_id is not None else 10 * MIB
            )
        member = self._members[guild_id].get(user_id) if guild_id is not None else None
        if guild_id is not None and member is None:
            raise ValueError(f"user {user_id} is not a member of guild {guild_id}")
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

    # -- payload builders -----------------------------------------------------------------------

    def _user_payload(self, user: FakeUser) -> JSON:
        payload: JSON = {
            "id": str(user.id),
            "username": user.username,
            "discriminator": "0001" if user.bot else "0",
            "global_name": user.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        if user.bot:
            payload["bot"] = True
        return payload

    def _bot_user_payload(self) -> JSON:
        payload = self._user_payload(self._users[self.bot_user_id])
        payload.update(verified=True, mfa_enabled=False, email=None, locale="en-US")
        return payload

    def _member_payload(self, member: FakeMember, *, with_user: bool = True) -> JSON:
        payload: JSON = {
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in member.roles],
            "joined_at": _iso(member.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }
        if with_user:
            payload["user"] = self._user_payload(self._users[member.user_id])
        return payload

    def _role_payload(self, role: FakeRole) -> JSON:
        payload: JSON = {
            "id": str(role.id),
            "name": role.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": role.position,
            "permissions": str(role.permissions),
            "managed": role.managed,
            "mentionable": False,
            "flags": 0,
        }
        if role.bot_id is not None:
            payload["tags"] = {"bot_id": str(role.bot_id)}
        return payload

    def _channel_payload(self, channel: FakeChannel) -> JSON:
        last = self._last_message_id(channel.id)
        base: JSON = {
            "id": str(channel.id),
            "type": channel.type,
            "last_message_id": str(last) if last else None,
            "flags": 0,
        }
        if channel.kind == "dm":
            recipient = self._users[channel.recipient_id] if channel.recipient_id else None
            base["recipients"] = [self._user_payload(recipient)] if recipient else []
            return base
        base.update(
            guild_id=str(channel.guild_id),
            name=channel.name,
            parent_id=str(channel.parent_id) if channel.parent_id else None,
            rate_limit_per_user=0,
            nsfw=channel.nsfw,
        )
        if channel.kind == "thread":
            created = snowflake_time(channel.id)
            count = self._msg_counts.get(channel.id, 0)
            base.update(
                owner_id=str(channel.owner_id),
                message_count=count,
                total_message_sent=count,
                member_count=1,
                applied_tags=[str(t) for t in channel.applied_tags],
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 4320,
                    "archive_timestamp": _iso(created),
                    "locked": False,
                    "create_timestamp": _iso(created),
                },
            )
            return base
        base.update(position=channel.position, permission_overwrites=[], topic=channel.topic)
        if channel.kind == "voice":
            base.update(bitrate=64000, user_limit=0, rtc_region=None, video_quality_mode=1)
        if channel.kind == "forum":
            base.update(
                available_tags=[
                    {
                        "id": str(tid),
                        "name": tname,
                        "moderated": False,
                        "emoji_id": None,
                        "emoji_name": None,
                    }
                    for tid, tname in channel.tags
                ],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
                template="",
            )
        if channel.kind in ("text", "news", "forum"):
            base["default_auto_archive_duration"] = 4320
        return base

    def _interaction_channel_payload(self, channel: FakeChannel, user_id: int) -> JSON:
        payload = self._channel_payload(channel)
        if channel.guild_id is not None:
            perms = self.member_permissions(channel.guild_id, user_id)
            payload["permissions"] = str(perms)
        return payload

    def _guild_payload(self, guild: FakeGuild) -> JSON:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [self._role_payload(r) for r in self._roles[guild.id].values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}.get(guild.premium_tier, 0),
            "preferred_locale": guild.preferred_locale,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def _guild_create_payload(self, guild: FakeGuild, intents: int) -> JSON:
        payload = self._guild_payload(guild)
        members = self._members[guild.id]
        count = len(members)
        if intents & INTENT_GUILD_PRESENCES and count < 250:
            shown = list(members.values())
        else:
            shown = [members[self.bot_user_id]]
        bot_member = members[self.bot_user_id]
        payload.update(
            joined_at=_iso(bot_member.joined_at),
            large=count >= 250,
            unavailable=False,
            member_count=count,
            voice_states=[],
            members=[self._member_payload(m) for m in shown],
            channels=[
                self._channel_payload(c)
                for c in self._channels.values()
                if c.guild_id == guild.id and c.kind != "thread"
            ],
            threads=[self._channel_payload(c) for c in self.threads() if c.guild_id == guild.id],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
            embedded_activities=[],
        )
        return payload

    def _attachment_payload(self, att: FakeAttachment) -> JSON:
        payload: JSON = {
            "id": str(att.id),
            "filename": att.filename,
            "size": att.size,
            "url": att.url,
            "proxy_url": att.proxy_url,
            "content_type": att.content_type,
        }
        if att.width is not None and att.height is not None:
            payload.update(width=att.width, height=att.height, placeholder_version=1)
        if att.duration is not None:
            payload["duration_secs"] = att.duration
        if att.description is not None:
            payload["description"] = att.description
        if att.ephemeral:
            payload["ephemeral"] = True
        return payload

    def _message_payload(self, msg: _Msg, *, gateway: bool = False, nested: bool = False) -> JSON:
        author = self._users.get(msg.author_id) or FakeUser(msg.author_id, f"user-{msg.author_id}")
        payload: JSON = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "author": self._user_payload(author),
            "content": msg.content,
            "timestamp": _iso(msg.created_at),
            "edited_timestamp": _iso(msg.edited_at),
            "tts": msg.tts,
            "mention_everyone": False,
            "mentions": self._mentions(msg.content),
            "mention_roles": [],
            "attachments": [self._attachment_payload(a) for a in msg.attachments],
            "embeds": copy.deepcopy(msg.embeds),
            "pinned": False,
            "type": msg.type,
            "flags": msg.flags,
            "components": copy.deepcopy(msg.components),
        }
        if msg.nonce is not None:
            payload["nonce"] = msg.nonce
        if msg.webhook_id is not None:
            payload["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            payload["application_id"] = str(msg.application_id)
        if msg.position is not None:
            payload["position"] = msg.position
        if msg.interaction_id is not None:
            inter = self._interactions.get(msg.interaction_id)
            if inter is not None:
                payload.update(self._interaction_metadata(inter, msg))
        if msg.reactions:
            payload["reactions"] = [
                {
                    "emoji": self._emoji_payload(emoji),
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for emoji, users in msg.reactions.items()
            ]
        if msg.message_reference is not None:
            payload["message_reference"] = copy.deepcopy(msg.message_reference)
            ref_id = msg.message_reference.get("message_id")
            ref = self._msgs.get(int(ref_id)) if ref_id else None
            if not nested:
                payload["referenced_message"] = (
                    self._message_payload(ref, nested=True) if ref and not ref.deleted else None
                )
        if msg.thread_id is not None and msg.thread_id in self._channels:
            payload["thread"] = self._channel_payload(self._channels[msg.thread_id])
        if gateway and msg.guild_id is not None:
            payload["guild_id"] = str(msg.guild_id)
            member = self._members.get(msg.guild_id, {}).get(msg.author_id)
            if member is not None:
                payload["member"] = self._member_payload(member, with_user=False)
        return payload

    def _interaction_metadata(self, inter: FakeInteraction, msg: _Msg) -> JSON:
        user = self._user_payload(self._users[inter.user_id])
        owners = inter.payload.get("authorizing_integration_owners", {})
        meta: JSON = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": owners,
        }
        if inter.type == 2:
            meta["name"] = inter.name
            meta["command_type"] = 1
        if inter.message_id is not None:
            meta["interacted_message_id"] = str(inter.message_id)
        if inter._original_id is not None and inter._original_id != msg.id:
            meta["original_response_message_id"] = str(inter._original_id)
        legacy: JSON = {"id": str(inter.id), "type": inter.type, "name": inter.name, "user": user}
        if inter.guild_id is not None:
            member = self._members[inter.guild_id].get(inter.user_id)
            if member is not None:
                legacy["member"] = self._member_payload(member, with_user=False)
        return {"interaction_metadata": meta, "interaction": legacy}

    @staticmethod
    def _emoji_payload(emoji: str) -> JSON:
        match = re.fullmatch(r"<?a?:?(\w+):(\d+)>?", emoji)
        if match:
            return {"id": match.group(2), "name": match.group(1)}
        return {"id": None, "name": emoji}

    def _mentions(self, content: str) -> list[JSON]:
        seen: list[JSON] = []
        for raw in re.findall(r"<@!?(\d+)>", content or ""):
            user = self._users.get(int(raw))
            if user is not None and all(u["id"] != raw for u in seen):
                seen.append(self._user_payload(user))
        return seen

    def _last_message_id(self, channel_id: int) -> int | None:
        return self._last_msg.get(channel_id)

    # -- gateway dispatch -----------------------------------------------------------------------

    def _live_conns(self) -> list[_Conn]:
        return [c for c in self._conns if c.live and c.closed_at is None]

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

    # -- gateway server -------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(FakeRequest(time.monotonic(), "GET", request.path))
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True, timeout=2.0)
        if not ws.can_prepare(request).ok:
            return _json_response({"message": "404: Not Found", "code": 0}, status=404)
        await ws.prepare(request)
        conn = _Conn(next(self._conn_ids), ws, time.monotonic())
        self._conns.append(conn)
        writer = asyncio.create_task(self._gateway_writer(conn))
        conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        self._changed()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await ws.close(code=4002, message=b"Error while decoding payload.")
                        break
                    try:
                        await self._gateway_op(conn, frame)
                    except Exception:
                        self.internal_errors.append(f"gateway op: {traceback.format_exc()}")
                        await ws.close(code=4000, message=b"FakeDiscord internal error")
                        break
                elif msg.type is WSMsgType.BINARY:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                else:
                    break
        finally:
            conn.closed_at = time.monotonic()
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
                self.heartbeat_ack_delay, conn.send, {"op": 11, "d": None}
            )
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:
            if conn.session is None:
                await conn.ws.close(code=4003, message=b"Not authenticated.")
                return
            self._request_members(conn.session, data or {})
        elif op in (3, 4, 31, 37):
            return
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    def _token_ok(self, token: str | None) -> bool:
        if not token:
            return False
        return self.token is None or token.removeprefix("Bot ") == self.token

    async def _identify(self, conn: _Conn, data: JSON) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if not self._token_ok(data.get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard")
        session = _Session(
            secrets.token_hex(16), intents, (int(shard[0]), int(shard[1])) if shard else None
        )
        self._sessions[session.id] = session
        session.conn = conn
        conn.session = session
        guilds = [g for g in self._guilds.values() if session.handles_guild(g.id)]
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
            await old.ws.close(code=4009, message=b"Session superseded by RESUME.")
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
        guild_ids = raw_ids if isinstance(raw_ids, list) else [raw_ids]
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
        if self.privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= 1 << 13
        if self.privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags

    # -- REST plumbing --------------------------------------------------------------------------

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

    async def _delay_response(self, method: str, path: str, uploaded: bool) -> None:
        for rule in self.response_delays:
            if (
                rule.remaining > 0
                and rule.method == method
                and rule.pattern.search(path)
                and (uploaded or not rule.uploads_only)
            ):
                rule.remaining -= 1
                self._changed()  # the work is visible now; only the answer waits
                await asyncio.sleep(rule.seconds)
                return

    def _record_error(self, now: float, method: str, path: str, exc: _ApiError) -> None:
        record = FakeApiError(now, method, path, exc.status, exc.code, exc.message)
        self.api_errors.append(record)
        match = re.match(r"/(?:interactions/\d+|webhooks/\d+)/([^/]+)", path)
        inter = self._by_token.get(match.group(1)) if match else None
        if inter is not None:
            inter._errors.append(record)

    def _match_rate_limit(self, method: str, path: str) -> RateLimitRule | None:
        for rule in self.rate_limits:
            if rule.remaining <= 0:
                continue
            if rule.method not in ("*", method) or not rule.pattern.search(path):
                continue
            rule.remaining -= 1
            rule.hits.append(time.monotonic())
            return rule
        return None

    def _match_error(self, method: str, path: str) -> ErrorRule | None:
        for rule in self.error_rules:
            if rule.remaining <= 0:
                continue
            if rule.method not in ("*", method) or not rule.pattern.search(path):
                continue
            rule.remaining -= 1
            rule.hits.append(time.monotonic())
            return rule
        return None

    @staticmethod
    def _rate_limited(rule: RateLimitRule) -> web.Response:
        retry_after = rule.retry_after
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "fake" + secrets.token_hex(8),
            "X-RateLimit-Scope": "global" if rule.global_ else "user",
        }
        if rule.global_:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": rule.global_,
        }
        return _json_response(body, status=429, headers=headers)

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

    # -- helpers for handlers -------------------------------------------------------------------

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

    def _ensure_dm(self, user_id: int) -> int:
        if user_id in self._dm_channels:
            return self._dm_channels[user_id]
        if user_id not in self._users:
            raise LookupError(f"unknown user {user_id}")
        channel = FakeChannel(self._ids.next(), None, "", "dm", recipient_id=user_id)
        self._channels[channel.id] = channel
        self._dm_channels[user_id] = channel.id
        return channel.id

    def _upload_limit(self, channel: FakeChannel) -> int:
        if channel.guild_id is None:
            return 10 * MIB
        return self._guilds[channel.guild_id].upload_limit

    def _make_option_attachment(
        self, command_id: int, filename: str, data: bytes, content_type: str
    ) -> FakeAttachment:
        att_id = self._ids.next()
        filename = self._clean_filename(filename)
        width, height, duration = _probe_media(data, content_type or "")
        url = self._signed_url(f"ephemeral-attachments/{command_id}/{att_id}/{quote(filename)}")
        att = FakeAttachment(
            att_id,
            filename,
            content_type,
            len(data),
            data,
            url,
            url.replace(self.base_url, self.base_url + "/media", 1),
            width,
            height,
            duration,
            ephemeral=True,
        )
        self._blobs[att_id] = att
        return att

    def _make_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        declared_type: str | None,
        description: str | None,
        probe: tuple[int | None, int | None, float | None] | None,
        *,
        ephemeral: bool = False,
    ) -> FakeAttachment:
        att_id = self._ids.next()
        filename = self._clean_filename(filename)
        content_type = _guess_content_type(filename, declared_type, data)
        width, height, duration = probe or _probe_media(data, content_type)
        prefix = "ephemeral-attachments" if ephemeral else "attachments"
        url = self._signed_url(f"{prefix}/{channel_id}/{att_id}/{quote(filename)}")
        att = FakeAttachment(
            att_id,
            filename,
            content_type,
            len(data),
            data,
            url,
            url.replace(self.base_url, self.base_url + "/media", 1),
            width,
            height,
            duration,
            description,
            ephemeral,
        )
        self._blobs[att_id] = att
        return att

    @staticmethod
    def _clean_filename(filename: str) -> str:
        cleaned = re.sub(r"[^\w.\-]", "_", filename.replace(" ", "_")).strip("._")
        return cleaned or "unknown"

    def _signed_url(self, path: str) -> str:
        now = int(time.time())
        return f"{self.base_url}/{path}?ex={now + 86400:x}&is={now:x}&hm={secrets.token_hex(32)}&"

    # -- message creation and editing -----------------------------------------------------------

    def _validate_content(self, payload: JSON) -> None:
        content = payload.get("content")
        if content is not None and not isinstance(content, str):
            raise _form_error(("content",), "STRING_TYPE_CONVERT", "Could not interpret as string.")
        if content is not None and len(content) > 2000:
            raise _form_error(
                ("content",), "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."
            )
        nonce = payload.get("nonce")
        if isinstance(nonce, str) and len(nonce) > 25:
            raise _form_error(("nonce",), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")

    def _normalize_embeds(self, raw: Any, attachments: Sequence[FakeAttachment]) -> list[JSON]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise _form_error(("embeds",), "LIST_TYPE_CONVERT", "Only iterables may be used.")
        if len(raw) > 10:
            raise _form_error(("embeds",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        out: list[JSON] = []
        for i, embed in enumerate(raw):
            if not isinstance(embed, dict):
                raise _form_error(
                    ("embeds", i), "DICT_TYPE_CONVERT", "Only dictionaries may be used."
                )
            embed = copy.deepcopy(embed)
            embed.setdefault("type", "rich")
            limits = {"title": 256, "description": 4096}
            for key, limit in limits.items():
                value = embed.get(key)
                if value is not None:
                    total += len(str(value))
                    if len(str(value)) > limit:
                        raise _form_error(
                            ("embeds", i, key),
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {limit} or fewer in length.",
                        )
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise _form_error(
                    ("embeds", i, "fields"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                )
            for j, fld in enumerate(fields):
                for key, limit in (("name", 256), ("value", 1024)):
                    value = str(fld.get(key) or "")
                    if not value:
                        raise _form_error(
                            ("embeds", i, "fields", j, key),
                            "BASE_TYPE_REQUIRED",
                            "This field is required",
                        )
                    if len(value) > limit:
                        raise _form_error(
                            ("embeds", i, "fields", j, key),
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {limit} or fewer in length.",
                        )
                    total += len(value)
            for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
                value = (embed.get(key) or {}).get(sub)
                if value is not None:
                    total += len(str(value))
                    if len(str(value)) > limit:
                        raise _form_error(
                            ("embeds", i, key, sub),
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {limit} or fewer in length.",
                        )
            color = embed.get("color")
            if color is not None and not (isinstance(color, int) and 0 <= color <= 0xFFFFFF):
                raise _form_error(
                    ("embeds", i, "color"), "NUMBER_TYPE_MAX", "int value should be <= 16777215."
                )
            self._resolve_embed_urls(embed, i, attachments)
            out.append(embed)
        if total > 6000:
            raise _form_error(
                ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
            )
        return out

    def _resolve_embed_urls(
        self, embed: JSON, index: int, attachments: Sequence[FakeAttachment]
    ) -> None:
        def check(url: Any, path: tuple[str | int, ...]) -> str | None:
            if url is None:
                return None
            url = str(url)
            if url.startswith("attachment://"):
                name = url.removeprefix("attachment://")
                att = next((a for a in attachments if a.filename == name), None)
                return att.url if att is not None else url
            if not re.match(r"https?://[^\s/]+", url):
                raise _form_error(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
            return url

        if "url" in embed:
            embed["url"] = check(embed["url"], ("embeds", index, "url"))
        for key, sub in (
            ("image", "url"),
            ("thumbnail", "url"),
            ("video", "url"),
            ("author", "icon_url"),
            ("author", "url"),
            ("footer", "icon_url"),
        ):
            part = embed.get(key)
            if isinstance(part, dict) and part.get(sub) is not None:
                original = str(part[sub])
                part[sub] = check(part[sub], ("embeds", index, key, sub))
                if key in ("image", "thumbnail", "video") and original.startswith("attachment://"):
                    att = next(
                        (a for a in attachments if a.filename == original[len("attachment://") :]),
                        None,
                    )
                    if att is not None:
                        part["proxy_url"] = att.proxy_url
                        if att.width is not None:
                            part.update(width=att.width, height=att.height)
                        part["content_type"] = att.content_type

    def _normalize_components(self, raw: Any, flags: int) -> list[JSON]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise _form_error(("components",), "LIST_TYPE_CONVERT", "Only iterables may be used.")
        components = copy.deepcopy(raw)
        v2 = bool(flags & IS_COMPONENTS_V2)
        if not v2:
            if len(components) > 5:
                raise _form_error(
                    ("components",), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
                )
            for i, row in enumerate(components):
                if not isinstance(row, dict) or row.get("type") != 1:
                    raise _form_error(
                        ("components", i, "type"),
                        "UNION_TYPE_CHOICES",
                        'Value of field "type" must be one of (1,).',
                    )
                children = row.get("components") or []
                if not 1 <= len(children) <= 5:
                    raise _form_error(
                        ("components", i, "components"),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 5 in length.",
                    )
                if any(c.get("type") != 2 for c in children) and len(children) != 1:
                    raise _form_error(
                        ("components", i, "components"),
                        "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                        "The specified component exceeds the maximum width",
                    )
        elif sum(1 for _ in _walk_components(components)) > 40:
            raise _form_error(
                ("components",), "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length."
            )
        seen: set[str] = set()
        used_ids = {c["id"] for c in _walk_components(components) if isinstance(c.get("id"), int)}
        next_id = itertools.count(1)
        for comp in _walk_components(components):
            if not isinstance(comp.get("id"), int):
                new = next(next_id)
                while new in used_ids:
                    new = next(next_id)
                comp["id"] = new
                used_ids.add(new)
            ctype = comp.get("type")
            custom_id = comp.get("custom_id")
            if ctype == 2:
                style = comp.get("style")
                if style == 5:
                    if not comp.get("url") or custom_id is not None:
                        raise _form_error(
                            ("components",),
                            "BUTTON_COMPONENT_URL_REQUIRED",
                            "Link buttons need a url",
                        )
                    continue
                if style != 6 and not custom_id:
                    raise _form_error(
                        ("components",),
                        "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
                        "A custom id is required",
                    )
                if len(str(comp.get("label") or "")) > 80:
                    raise _form_error(
                        ("components",), "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length."
                    )
            if custom_id is not None:
                if len(str(custom_id)) > 100:
                    raise _form_error(
                        ("components",), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."
                    )
                if custom_id in seen:
                    raise _form_error(
                        ("components",),
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                seen.add(custom_id)
        return components

    async def _build_attachments(
        self,
        body: _Body,
        channel_id: int,
        existing: Sequence[FakeAttachment],
        limit: int,
        *,
        ephemeral: bool,
    ) -> list[FakeAttachment] | None:
        """New attachment list from payload + files, or None when attachments are unchanged."""
        for upload in body.files:
            if len(upload.data) > limit:
                raise _ApiError(413, 40005, "Request entity too large")
        meta = body.json.get("attachments")
        if meta is None and not body.files:
            return None
        if meta is not None and not isinstance(meta, list):
            raise _form_error(("attachments",), "LIST_TYPE_CONVERT", "Only iterables may be used.")
        uploads = {u.index: u for u in body.files}
        used: set[int] = set()
        out: list[FakeAttachment] = []
        by_id = {a.id: a for a in existing}
        for i, item in enumerate(meta or []):
            if not isinstance(item, dict):
                raise _form_error(
                    ("attachments", i), "DICT_TYPE_CONVERT", "Only dictionaries may be used."
                )
            raw_id = item.get("id")
            try:
                ident = int(raw_id)
            except (TypeError, ValueError):
                raise _form_error(
                    ("attachments", i, "id"), "NUMBER_TYPE_COERCE", "Value is not int."
                ) from None
            if ident in by_id and ident not in uploads:
                out.append(by_id[ident])
                continue
            upload = uploads.get(ident)
            if upload is None:
                raise _form_error(
                    ("attachments", i, "id"),
                    "ATTACHMENT_NOT_FOUND",
                    f"Unknown attachment or file index {ident}",
                )
            used.add(ident)
            out.append(
                await self._attachment_from_upload(
                    channel_id, upload, item.get("filename"), item.get("description"), ephemeral
                )
            )
        if meta is None:
            out.extend(existing)
        for index, upload in sorted(uploads.items()):
            if index not in used:
                out.append(
                    await self._attachment_from_upload(channel_id, upload, None, None, ephemeral)
                )
        if len(out) > 10:
            raise _form_error(
                ("attachments",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        return out

    async def _attachment_from_upload(
        self,
        channel_id: int,
        upload: _Upload,
        filename: str | None,
        description: str | None,
        ephemeral: bool,
    ) -> FakeAttachment:
        name = filename or upload.filename
        ctype = _guess_content_type(name, upload.content_type, upload.data)
        probe = await asyncio.to_thread(_probe_media, upload.data, ctype)
        return self._make_attachment(
            channel_id, name, upload.data, ctype, description, probe, ephemeral=ephemeral
        )

    def _check_not_empty(self, msg: _Msg, payload: JSON) -> None:
        if not (
            msg.content
            or msg.embeds
            or msg.attachments
            or msg.components
            or payload.get("sticker_ids")
            or payload.get("poll")
        ):
            raise _ApiError(400, 50006, "Cannot send an empty message")

    async def _new_message(
        self,
        body: _Body,
        channel: FakeChannel,
        *,
        author_id: int,
        limit: int,
        interaction: FakeInteraction | None,
        extra_flags: int = 0,
        allow_ephemeral: bool = False,
        msg_id: int | None = None,
    ) -> _Msg:
        payload = body.json
        self._validate_content(payload)
        flags = int(payload.get("flags") or 0)
        keep = _SETTABLE_FLAGS | (EPHEMERAL if allow_ephemeral else 0)
        flags = (flags & keep) | extra_flags
        ephemeral = bool(flags & EPHEMERAL)
        msg = _Msg(msg_id or self._ids.next(), channel.id, channel.guild_id, author_id, flags=flags)
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

    # -- REST handlers: login, users, application ----------------------------------------------

    async def _h_gateway(self, request: web.Request) -> web.Response:
        return _json_response({"url": f"ws://{self._host}:{self._port}"})

    async def _h_gateway_bot(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "url": f"ws://{self._host}:{self._port}",
                "shards": 1,
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
        raw = body.json.get("recipient_id")
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
        owner = self._users[self.application_owner_id]
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

    # -- REST handlers: application commands ---------------------------------------------------

    def _check_app(self, app_id: str, guild_id: str | None) -> int | None:
        if int(app_id) != self.application_id:
            raise _ApiError(403, 50001, "Missing Access")
        if guild_id is None:
            return None
        if int(guild_id) not in self._guilds:
            raise _ApiError(403, 50001, "Missing Access")
        return int(guild_id)

    def _normalize_command(self, scope: int | None, raw: JSON, index: int) -> JSON:
        name = raw.get("name")
        ctype = int(raw.get("type", 1))
        if not isinstance(name, str) or not name:
            raise _form_error((index, "name"), "BASE_TYPE_REQUIRED", "This field is required")
        if ctype == 1 and (not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower()):
            raise _form_error(
                (index, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if ctype == 1 and not raw.get("description"):
            raise _form_error(
                (index, "description"), "BASE_TYPE_REQUIRED", "This field is required"
            )
        key = (scope, name, ctype)
        if key not in self._command_ids:
            self._command_ids[key] = self._ids.next()
        cmd = copy.deepcopy(raw)
        cmd.update(
            id=str(self._command_ids[key]),
            application_id=str(self.application_id),
            version=str(self._ids.next()),
            type=ctype,
            guild_id=str(scope) if scope is not None else None,
        )
        cmd.setdefault("description", "")
        perms = cmd.get("default_member_permissions")
        cmd["default_member_permissions"] = None if perms is None else str(int(perms))
        cmd.setdefault("nsfw", False)
        if scope is None:
            cmd.setdefault("dm_permission", True)
            cmd.setdefault("contexts", None)
            cmd.setdefault("integration_types", [0])
        return cmd

    async def _h_get_commands(
        self, request: web.Request, app_id: str, guild_id: str | None
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        return _json_response(list(self._commands.get(scope, {}).values()))

    async def _h_put_commands(
        self, request: web.Request, app_id: str, guild_id: str | None
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        raw = await request.read()
        try:
            items = json.loads(raw or b"[]")
        except ValueError as exc:
            raise _ApiError(400, 50109, "The request body contains invalid JSON.") from exc
        if not isinstance(items, list):
            raise _form_error(("_",), "LIST_TYPE_CONVERT", "Only iterables may be used.")
        commands = [self._normalize_command(scope, item, i) for i, item in enumerate(items)]
        keys = [(c["name"], c["type"]) for c in commands]
        if len(set(keys)) != len(keys):
            raise _form_error(
                ("_",),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        self._commands[scope] = dict(zip(keys, commands, strict=True))
        self._command_puts += 1
        self._changed()
        return _json_response(commands)

    async def _h_post_command(
        self, request: web.Request, app_id: str, guild_id: str | None
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        body = await self._read_body(request)
        cmd = self._normalize_command(scope, body.json, 0)
        scope_cmds = self._commands.setdefault(scope, {})
        existed = (cmd["name"], cmd["type"]) in scope_cmds
        scope_cmds[(cmd["name"], cmd["type"])] = cmd
        self._command_puts += 1
        self._changed()
        return _json_response(cmd, status=200 if existed else 201)

    def _command_by_id(self, scope: int | None, command_id: str) -> JSON:
        for cmd in self._commands.get(scope, {}).values():
            if cmd["id"] == command_id:
                return cmd
        raise _ApiError(404, 10063, "Unknown application command")

    async def _h_get_command(
        self, request: web.Request, app_id: str, guild_id: str | None, command_id: str
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        return _json_response(self._command_by_id(scope, command_id))

    async def _h_patch_command(
        self, request: web.Request, app_id: str, guild_id: str | None, command_id: str
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        cmd = self._command_by_id(scope, command_id)
        body = await self._read_body(request)
        merged = {**cmd, **body.json}
        new = self._normalize_command(scope, merged, 0)
        scopes = self._commands[scope]
        scopes.pop((cmd["name"], cmd["type"]), None)
        scopes[(new["name"], new["type"])] = new
        self._changed()
        return _json_response(new)

    async def _h_delete_command(
        self, request: web.Request, app_id: str, guild_id: str | None, command_id: str
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        cmd = self._command_by_id(scope, command_id)
        del self._commands[scope][(cmd["name"], cmd["type"])]
        self._changed()
        return web.Response(status=204)

    async def _h_command_permissions(
        self, request: web.Request, app_id: str, guild_id: str | None
    ) -> web.Response:
        self._check_app(app_id, guild_id)
        return _json_response([])

    # -- REST handlers: interaction callbacks and webhooks --------------------------------------

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
        deadline = self.initial_response_timeout
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
            msg = await self._new_message(
                _Body(data, body.files),
                channel,
                author_id=self.bot_user_id,
                limit=inter.attachment_size_limit,
                interaction=inter,
                allow_ephemeral=True,
            )
            inter._original_id = msg.id
            self._store_message(msg)
            resource["message"] = self._message_payload(msg)
        elif rtype == 5:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            msg = await self._new_message(
                _Body({}, []),
                channel,
                author_id=self.bot_user_id,
                limit=inter.attachment_size_limit,
                interaction=inter,
                extra_flags=flags,
            )
            inter._original_id = msg.id
            self._store_message(msg)
            resource["message"] = self._message_payload(msg)
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

    def _webhook_target(self, inter: FakeInteraction, message_ref: str) -> _Msg:
        if message_ref == "@original":
            if inter._original_id is None:
                raise _ApiError(404, 10008, "Unknown Message")
            msg = self._msgs[inter._original_id]
        else:
            msg_id = int(message_ref)
            if msg_id != inter._original_id and msg_id not in inter._followup_ids:
                raise _ApiError(404, 10008, "Unknown Message")
            msg = self._msgs[msg_id]
        if msg.deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        return msg

    async def _h_followup(
        self, request: web.Request, app_id: str, token: str
    ) -> web.StreamResponse:
        try:
            inter = self._token_interaction(token, app_id=app_id)
        except _ApiError:
            await request.read()
            raise
        body = await self._read_body(request)
        if not inter._responses:
            raise _ApiError(404, 10015, "Unknown Webhook")
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
            msg = await self._new_message(
                body,
                channel,
                author_id=self.bot_user_id,
                limit=inter.attachment_size_limit,
                interaction=inter,
                allow_ephemeral=True,
            )
            inter._followup_ids.append(msg.id)
            self._store_message(msg)
        if not _truthy_param(request.query.get("wait")):
            return web.Response(status=204)
        return _json_response(self._message_payload(msg))

    async def _h_get_webhook_msg(
        self, request: web.Request, app_id: str, token: str, message_ref: str
    ) -> web.Response:
        inter = self._token_interaction(token, app_id=app_id)
        if not inter._responses:
            raise _ApiError(404, 10015, "Unknown Webhook")
        return _json_response(self._message_payload(self._webhook_target(inter, message_ref)))

    async def _h_edit_webhook_msg(
        self, request: web.Request, app_id: str, token: str, message_ref: str
    ) -> web.Response:
        try:
            inter = self._token_interaction(token, app_id=app_id)
        except _ApiError:
            await request.read()
            raise
        body = await self._read_body(request)
        if not inter._responses:
            raise _ApiError(404, 10015, "Unknown Webhook")
        msg = self._webhook_target(inter, message_ref)
        await self._apply_edit(
            msg, body, inter.attachment_size_limit, clear_loading=msg.id == inter._original_id
        )
        return _json_response(self._message_payload(msg))

    async def _h_delete_webhook_msg(
        self, request: web.Request, app_id: str, token: str, message_ref: str
    ) -> web.Response:
        inter = self._token_interaction(token, app_id=app_id)
        if not inter._responses:
            raise _ApiError(404, 10015, "Unknown Webhook")
        msg = self._webhook_target(inter, message_ref)
        msg.deleted = True
        self._emit_delete(msg)
        self._changed()
        return web.Response(status=204)

    # -- REST handlers: channels and messages ---------------------------------------------------

    async def _h_get_channel(self, request: web.Request, channel_id: str) -> web.Response:
        return _json_response(self._channel_payload(self._api_channel(channel_id)))

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
            _Body(payload, body.files),
            channel,
            author_id=self.bot_user_id,
            limit=self._upload_limit(channel),
            interaction=None,
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
        channel = self._api_channel(channel_id)
        msg = self._api_message(channel, message_id)
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
        channel = self._api_channel(channel_id)
        msg = self._api_message(channel, message_id)
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
        channel = self._api_channel(channel_id)
        msg = self._api_message(channel, message_id)
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
        channel = self._api_channel(channel_id)
        msg = self._api_message(channel, message_id)
        user_id = self.bot_user_id if who == "@me" else int(who)
        if user_id != self.bot_user_id and not self.bot_permissions(channel.id) & MANAGE_MESSAGES:
            raise _ApiError(403, 50013, "Missing Permissions")
        users = msg.reactions.get(emoji, [])
        if user_id in users:
            users.remove(user_id)
            if not users:
                del msg.reactions[emoji]
            self._emit_reaction("MESSAGE_REACTION_REMOVE", msg, emoji, user_id)
        self._changed()
        return web.Response(status=204)

    async def _h_get_reactions(
        self, request: web.Request, channel_id: str, message_id: str, emoji: str
    ) -> web.Response:
        channel = self._api_channel(channel_id)
        msg = self._api_message(channel, message_id)
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
        channel = self._api_channel(channel_id)
        msg = self._api_message(channel, message_id)
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
        name = str(payload.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise _form_error(
                ("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
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
            thread = FakeChannel(
                self._ids.next(),
                parent.guild_id,
                name,
                "thread",
                nsfw=parent.nsfw,
                parent_id=parent.id,
                owner_id=self.bot_user_id,
                applied_tags=tags,
            )
            if body.files and not perms & ATTACH_FILES:
                raise _ApiError(403, 50013, "Missing Permissions")
            msg = await self._new_message(
                _Body(message, body.files),
                thread,
                author_id=self.bot_user_id,
                limit=self._upload_limit(parent),
                interaction=None,
                msg_id=thread.id,
            )
            self._channels[thread.id] = thread
            self._emit_thread_create(thread)
            self._store_message(msg)
            out = self._channel_payload(thread)
            out["message"] = self._message_payload(msg)
            out["member"] = self._thread_member_payload(thread)
            return _json_response(out, status=201)
        if parent.kind not in ("text", "news"):
            raise _ApiError(400, 50024, "Cannot execute action on this channel type")
        if not perms & CREATE_PUBLIC_THREADS:
            raise _ApiError(403, 50013, "Missing Permissions")
        thread = FakeChannel(
            self._ids.next(),
            parent.guild_id,
            name,
            "thread",
            nsfw=parent.nsfw,
            parent_id=parent.id,
            owner_id=self.bot_user_id,
        )
        self._channels[thread.id] = thread
        self._emit_thread_create(thread)
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
        name = str(body.json.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise _form_error(
                ("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        if msg.thread_id is not None:
            raise _ApiError(400, 160004, "A thread has already been created for this message")
        if not self.bot_permissions(parent.id) & CREATE_PUBLIC_THREADS:
            raise _ApiError(403, 50013, "Missing Permissions")
        thread = FakeChannel(
            msg.id,
            parent.guild_id,
            name,
            "thread",
            nsfw=parent.nsfw,
            parent_id=parent.id,
            owner_id=self.bot_user_id,
        )
        self._channels[thread.id] = thread
        msg.thread_id = thread.id
        self._emit_thread_create(thread)
        self._changed()
        return _json_response(self._channel_payload(thread), status=201)

    def _thread_member_payload(self, thread: FakeChannel) -> JSON:
        return {
            "id": str(thread.id),
            "user_id": str(self.bot_user_id),
            "join_timestamp": _iso(snowflake_time(thread.id)),
            "flags": 0,
        }

    def _emit_thread_create(self, thread: FakeChannel) -> None:
        data = self._channel_payload(thread)
        data["newly_created"] = True
        data["member"] = self._thread_member_payload(thread)
        self._emit("THREAD_CREATE", data, intent=INTENT_GUILDS, guild_id=thread.guild_id)

    # -- REST handlers: guilds ------------------------------------------------------------------

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


async def serve(host: str = "127.0.0.1", port: int = 8787) -> None:
    """Serve a fake with the default guild until cancelled, printing the two hook values."""
    fake = FakeDiscord.with_default_guild()
    await fake.start(host, port)
    print(f"FakeDiscord REST base:  {fake.api_base}", flush=True)
    print(f"FakeDiscord gateway:    {fake.gateway_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: python -m simulator.fake_discord [--port N]."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
