"""Composition root: `python -m bot` reads settings, builds every service, and runs the bot."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from contextlib import AsyncExitStack

import discord
import httpx
import yarl
from dotenv import find_dotenv, load_dotenv

from bot.app import Services, VideoBot
from bot.audit import AuditLog
from bot.config import ConfigError, Settings
from bot.db import Database
from bot.jobs.runner import JobRunner, RunnerSettings
from bot.jobs.service import JobService
from bot.jobs.store import JobStore
from bot.ledger import Ledger
from bot.logs import configure_logging
from bot.pricing import PriceTable
from bot.providers import kvid
from bot.providers.base import Provider

log = logging.getLogger("bot")


def build_providers(settings: Settings, stack: AsyncExitStack) -> dict[str, Provider]:
    """One provider per configured key, each with its own long-lived HTTP client."""
    providers: dict[str, Provider] = {}
    if settings.kvid.configured:
        client = kvid.build_client(settings.kvid.base_url, settings.kvid.api_key.value)
        stack.push_async_callback(client.aclose)
        providers["kvid"] = kvid.KvidProvider(client, poll_interval=settings.kvid.poll_interval)
    return providers


def point_discord_at(settings: Settings) -> None:
    """Route REST and gateway traffic through the configured proxy (or a local double)."""
    # discord.py reads these two class attributes for every request and connection; they are
    # the library's only hooks, so they are set here, once, before the client exists.
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def run(settings: Settings, token: str) -> None:
    """Build everything, run until stopped, and close everything in reverse order."""
    clock = time.time
    async with AsyncExitStack() as stack:
        db = await Database.open(settings.database_path)
        stack.push_async_callback(db.close)
        prices = PriceTable.load(settings.pricing_file)
        providers = build_providers(settings, stack)
        if not providers:
            log.warning("no video provider is configured: set KVID_API_KEY to enable /video")
        downloads = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True
        )
        stack.push_async_callback(downloads.aclose)
        ledger = Ledger(db, starting_credits=settings.starting_credits, clock=clock)
        store = JobStore(db)
        # Set when a job is created, so the runner acts on it at once instead of at its next tick.
        new_work = asyncio.Event()
        jobs = JobService(
            db,
            store,
            ledger,
            providers,
            prices,
            clock=clock,
            on_new_job=new_work.set,
        )
        services = Services(
            settings=settings,
            db=db,
            ledger=ledger,
            jobs=jobs,
            providers=providers,
            audit=AuditLog(db, clock=clock),
        )
        point_discord_at(settings)
        bot = VideoBot(services)
        runner = JobRunner(
            db,
            store,
            ledger,
            providers,
            bot.presenter,
            downloads,
            settings=RunnerSettings(
                deadline_seconds=settings.job_deadline_seconds,
                max_download_bytes=settings.max_download_bytes,
            ),
            clock=clock,
            work_dir=settings.data_dir / "tmp",
            wake=new_work,
        )
        bot.attach_runner(runner)
        async with bot:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
            await bot.start(token)


def main() -> None:
    """Entry point for `python -m bot`."""
    # The .env of the directory the bot is started from; real environment variables win.
    load_dotenv(find_dotenv(usecwd=True))
    try:
        settings = Settings.from_env()
        token = settings.require_discord_token()
    except ConfigError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    secrets = [token, settings.kvid.api_key.value]
    configure_logging(settings.log_level, secrets)
    try:
        asyncio.run(run(settings, token))
    except discord.LoginFailure:
        log.error("Discord refused DISCORD_TOKEN; check it in the developer portal")
        raise SystemExit(1) from None
    except ConfigError as exc:
        log.error("Cannot start: %s", exc)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
