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
(default_member_permissions, contexts, nsfw) when a test invokes a command. Gateway sharding:
IDENTIFY's `shard: [id, count]` routes each guild's events (GUILD_CREATE, INTERACTION_CREATE, ...)
to the sessions where `(guild_id >> 22) % count == id`, direct messages to shard 0; an invalid
shard closes with 4010, a session over `FakeSettings.max_guilds_per_shard` guilds with 4011, and
GET /gateway/bot recommends a shard count (`recommended_shards`).

One class, `FakeDiscord` (server.py), is made of a mixin per concern, each in its own module:

    state         the guild model (users, guilds, channels, roles, members), queries and waits
    permissions   permission bits and computed permissions, command visibility
    rest          route table, authentication, request bodies, CDN, read-only routes
    gateway       identify, resume, heartbeats, dispatched events
    interactions  what a test sends the bot (commands, autocomplete, clicks, modals)
    options       command options and resolved objects
    responses     the bot's interaction callbacks, follow-ups and webhook edits
    app_commands  the bot's command registrations
    messages      messages, reactions and threads
    content       limits and normalization of content, embeds, components and files
    payloads      Discord's JSON for all of the above
    faults        rate limits, slow answers and errors a test injects
    records       the frozen records tests read (FakeMessage, FakeChannel, ...)

The package exports what callers outside it use; constants, permission bits, fault rules and the
other records are imported from their own modules (e.g. `from .constants import EPHEMERAL`).
"""

from .interactions import FakeInteraction
from .records import DefaultGuild, FakeApiError, FakeAttachment, FakeMessage
from .server import FakeDiscord, FakeSettings

__all__ = [
    "DefaultGuild",
    "FakeApiError",
    "FakeAttachment",
    "FakeDiscord",
    "FakeInteraction",
    "FakeMessage",
    "FakeSettings",
]
