"""FakeDiscord itself: one class made of the mixins of this package, its lifecycle and a CLI."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from .app_commands import AppCommandsMixin
from .constants import (
    HEARTBEAT_ACK_DELAY,
    JSON,
    MAX_GUILDS_PER_SHARD,
    MIB,
    PRIVILEGED_INTENTS,
)
from .content import ContentMixin
from .faults import ErrorRule, FaultsMixin, RateLimitRule, ResponseDelay
from .gateway import GatewayMixin, _Conn, _Session
from .interactions import FakeInteraction, InteractionsMixin
from .messages import MessagesMixin
from .options import OptionsMixin
from .payloads import PayloadsMixin
from .permissions import PermissionsMixin
from .records import (
    DefaultGuild,
    FakeApiError,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRequest,
    FakeRole,
    FakeUnhandledRequest,
    FakeUser,
    _Msg,
    _Snowflakes,
)
from .responses import ResponsesMixin
from .rest import RestMixin, _Handler
from .state import StateMixin


@dataclass(frozen=True)
class FakeSettings:
    """Who the fake's application and bot are, and the timings and limits the fake enforces."""

    application_id: int = 1300000000000000100
    # None: the bot user has the application's id, as Discord's bots do.
    bot_user_id: int | None = None
    bot_name: str = "SandboxBot"
    application_owner_id: int = 1300000000000000031
    # None: any bot token is accepted.
    token: str | None = None
    privileged_intents: int = PRIVILEGED_INTENTS
    # None: no initial-response deadline.
    initial_response_timeout: float | None = 3.0
    interaction_token_ttl: float = 15 * 60.0
    heartbeat_interval_ms: int = 41250
    heartbeat_ack_delay: float = HEARTBEAT_ACK_DELAY
    # GET /gateway/bot's `shards`; None: one per GUILDS_PER_RECOMMENDED_SHARD guilds.
    recommended_shards: int | None = None
    # More guilds than this on one session: IDENTIFY is closed with 4011 Sharding required.
    max_guilds_per_shard: int = MAX_GUILDS_PER_SHARD


class FakeDiscord(
    StateMixin,
    MessagesMixin,
    ResponsesMixin,
    InteractionsMixin,
    AppCommandsMixin,
    OptionsMixin,
    PayloadsMixin,
    RestMixin,
    GatewayMixin,
    ContentMixin,
    FaultsMixin,
    PermissionsMixin,
):
    """A loopback Discord: REST API, gateway and CDN served by aiohttp on 127.0.0.1."""

    def __init__(self, settings: FakeSettings = FakeSettings()) -> None:
        self.settings = settings
        self.application_id = settings.application_id
        self.bot_user_id = (
            settings.bot_user_id if settings.bot_user_id is not None else settings.application_id
        )
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

        self._users[self.bot_user_id] = FakeUser(self.bot_user_id, settings.bot_name, bot=True)
        owner_id = settings.application_owner_id
        self._users.setdefault(owner_id, FakeUser(owner_id, "sandbox-owner", "Owner"))

    @classmethod
    def with_default_guild(cls, settings: FakeSettings = FakeSettings()) -> FakeDiscord:
        """Create a fake that already has the default guild (see `add_default_guild`)."""
        fake = cls(settings)
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
