"""Discord's numbers the fake speaks: message flags, gateway intents, channel and option types."""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

T = TypeVar("T")


JSON = dict[str, Any]


DISCORD_EPOCH_MS = 1420070400000


MIB = 1024 * 1024


# Seconds between a HEARTBEAT and its ACK: a loopback stand-in for the network's round trip.
HEARTBEAT_ACK_DELAY = 0.05


API_PREFIX_RE = re.compile(r"^/api/v\d+")


# Sharding: a session may hold at most 2,500 guilds (close code 4011 beyond), Discord's
# documented limit (https://discord.com/developers/docs/events/gateway#sharding). Its
# recommendation in GET /gateway/bot is undocumented; client libraries describe it as about one
# shard per 1,000 guilds (serenity's gateway docs), which the fake follows.
MAX_GUILDS_PER_SHARD = 2500
GUILDS_PER_RECOMMENDED_SHARD = 1000


# Message flags.
SUPPRESS_EMBEDS = 1 << 2


EPHEMERAL = 1 << 6


LOADING = 1 << 7


SUPPRESS_NOTIFICATIONS = 1 << 12


IS_COMPONENTS_V2 = 1 << 15


_SETTABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2


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
