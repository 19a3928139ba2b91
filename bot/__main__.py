"""Composition root: `python -m bot` reads settings, builds every service, and runs the bot."""

from __future__ import annotations

import asyncio
import functools
import getpass
import logging
import os
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import asyncpg
import discord
import httpx
import yarl
from dotenv import find_dotenv, load_dotenv

from bot.app import Services, VideoBot
from bot.callbacks import CallbackServer
from bot.community import Community
from bot.config import ConfigError, Settings, ShardSettings
from bot.credits.quotas import Quotas
from bot.credits.rules import CreditRules, allowance_defaults
from bot.credits.usage import UsageReports
from bot.db import Database
from bot.db.postgres import PostgresDatabase
from bot.db.sqlite import SqliteDatabase
from bot.health import Health
from bot.jobs.deps import JobDeps
from bot.jobs.models import Job
from bot.jobs.runner import JobRunner, RunnerSettings
from bot.jobs.service import JobService
from bot.jobs.store import JobStore
from bot.ledger import Ledger
from bot.logs import configure_logging
from bot.media import fetch_image
from bot.metrics import Metrics
from bot.pricing import PriceTable
from bot.providers import kling, kvid
from bot.providers.base import Provider, ProviderFailure
from bot.providers.http import aiohttp_transport
from bot.providers.local import LocalProvider
from bot.video_fit import PyAVFitter

log = logging.getLogger("bot")

SHUTDOWN_GRACE_SECONDS = 5.0
# A Discord that does not answer the login at all (a black-holed address) fails after this.
LOGIN_TIMEOUT_SECONDS = 60.0
DISCORD_API = "https://discord.com/api"
# Flags that ask for the offline sandbox (the `simulator` package) even with a token set.
SANDBOX_FLAGS = frozenset({"--sandbox", "--demo", "--script"})


class StartupError(Exception):
    """Start-up cannot go on; the message names the cause and the fix, on one line."""


def build_providers(
    settings: Settings,
    stack: AsyncExitStack,
    downloads: httpx.AsyncClient,
    metrics: Metrics | None = None,
) -> dict[str, Provider]:
    """One provider per configured key (each with its own HTTP client), plus the local one."""
    metrics = metrics or Metrics()
    providers: dict[str, Provider] = {}
    if settings.kvid.configured:
        client = kvid.build_client(
            settings.kvid.base_url, settings.kvid.api_key.value, transport=aiohttp_transport()
        )
        stack.push_async_callback(client.aclose)
        providers["kvid"] = kvid.KvidProvider(
            client, poll_interval=settings.kvid.poll_interval, on_answer=metrics.answer_hook("kvid")
        )
    if settings.kling.configured:
        client = kling.build_client(
            settings.kling.base_url, settings.kling.api_key.value, transport=aiohttp_transport()
        )
        stack.push_async_callback(client.aclose)
        providers["kling"] = kling.KlingProvider(
            client,
            poll_interval=settings.kling.poll_interval,
            on_answer=metrics.answer_hook("kling"),
        )
    wants_local = settings.local.mode == "on" or (settings.local.mode == "auto" and not providers)
    if wants_local:
        local_provider = LocalProvider(
            settings.data_dir / "renders",
            max_workers=settings.local.max_workers,
            image_fetcher=lambda url: fetch_image(downloads, url),
        )
        stack.push_async_callback(local_provider.aclose)
        providers["local"] = local_provider
    default = settings.default_provider
    if default is not None:
        if default not in providers:
            raise ConfigError(
                f"DEFAULT_PROVIDER is {default}, but that provider is not configured "
                f"(configured: {', '.join(providers) or 'none'})."
            )
        providers = {default: providers[default], **providers}
    return providers


def point_discord_at(settings: Settings) -> None:
    """Route REST and gateway traffic through the configured proxy (or a local double)."""
    # discord.py reads these two class attributes for every request and connection; they are
    # the library's only hooks, so they are set here, once, before the client exists.
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    # The bot never joins voice; without this every start logs two warnings about voice libraries.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


async def run(settings: Settings, token: str) -> None:
    """Build everything, run until stopped, and close everything in reverse order."""
    clock = time.time
    async with AsyncExitStack() as stack:
        db = await open_database(settings)
        stack.push_async_callback(db.close)
        ensure_writable(settings.data_dir, "DATA_DIR")
        prices = PriceTable.load(settings.pricing_file)
        downloads = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=10.0),
            follow_redirects=True,
            transport=aiohttp_transport(),
        )
        stack.push_async_callback(downloads.aclose)
        metrics = Metrics(db)
        providers = build_providers(settings, stack, downloads, metrics)
        metrics.expect_providers(providers)
        log.info("video providers: %s", ", ".join(providers) or "none")
        ledger = Ledger(db, starting_credits=settings.starting_credits, clock=clock)
        rules = CreditRules(db, allowance_defaults(settings), clock=clock)
        quotas = Quotas(db, ledger, rules, clock=clock)
        # Set when a job is created, so the runner acts on it at once instead of at its next tick.
        new_work = asyncio.Event()
        community = Community(db, ledger, clock=clock, wake_jobs=new_work.set)
        job_deps = JobDeps(db, JobStore(db), ledger, providers, clock)
        jobs = JobService(
            job_deps,
            prices,
            wake_runner=new_work.set,
            quotas=quotas,
            community=community,
        )
        services = Services(
            settings=settings,
            db=db,
            ledger=ledger,
            jobs=jobs,
            providers=providers,
            quotas=quotas,
            usage=UsageReports(db, clock=clock),
            community=community,
        )
        point_discord_at(settings)
        bot = VideoBot(services, http_trace=metrics.discord_trace())
        runner = JobRunner(
            job_deps,
            bot.presenter,
            downloads,
            settings=RunnerSettings(
                deadline_seconds=settings.job_deadline_seconds,
                max_download_bytes=settings.max_download_bytes,
                callback_base_url=settings.callbacks.public_url,
                instance=settings.instance_name,
                lease_seconds=settings.lease_seconds,
                delivery_retry_seconds=settings.delivery_retry_seconds,
            ),
            work_dir=settings.data_dir / "tmp",
            wake=new_work,
            fitter=PyAVFitter(),
            on_refused=functools.partial(_log_refusal, community),
            metrics=metrics,
        )
        bot.attach_runner(runner)
        if settings.callbacks.serve:
            server = CallbackServer(
                runner,
                host=settings.callbacks.host,
                port=settings.callbacks.port,
                callbacks=settings.callbacks.enabled,
                health=Health(db, metrics, bot.gateway_connected),
                metrics=metrics,
            )
            await server.start()
            stack.push_async_callback(server.stop)
        lag_watch = asyncio.create_task(metrics.watch_event_loop(), name="event-loop-lag")
        async with bot:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
            await log_in(bot, token, settings)
            log.info("gateway: %s", settings.shards.describe())
            try:
                await bot.connect()
            except discord.ConnectionClosed as exc:
                refusal = gateway_refusal(exc.code, settings.shards)
                if refusal is None:
                    raise
                raise StartupError(refusal) from None
            finally:
                # Cancelled first: drain_tasks would otherwise wait out its whole grace for it.
                lag_watch.cancel()
        # Commands still being handled get a moment to finish before the database closes.
        await drain_tasks(SHUTDOWN_GRACE_SECONDS)


async def _log_refusal(community: Community, job: Job, failure: ProviderFailure) -> None:
    """Put a provider's content refusal in the server's moderation log."""
    await community.log.record(
        job.guild_id,
        None,
        "content refused",
        f"{job.provider} refused the prompt: {failure.code}",
        target_user_id=job.user_id,
        job_id=job.id,
    )


async def open_database(settings: Settings) -> Database:
    """Open the configured database, turning what stops it into a StartupError."""
    if settings.database_url:
        return await open_postgres(settings.database_url.value)
    path = settings.database_path
    try:
        return await SqliteDatabase.open(path)
    except (OSError, sqlite3.Error) as exc:
        reason = _reason(exc)
        raise StartupError(
            f"the database {str(path)!r} (DATABASE_PATH) cannot be opened: {reason}. "
            f"Make its folder writable for this user ({_user()}) or set DATABASE_PATH to a file "
            "in one that is (in Docker: leave it unset, the image keeps it on the /data volume)."
        ) from None


async def open_postgres(url: str) -> Database:
    """Connect to PostgreSQL, or raise a StartupError naming the server (never the password)."""
    parsed = urlparse(url)
    where = f"{parsed.hostname or 'localhost'}:{parsed.port or 5432}{parsed.path or ''}"
    try:
        return await asyncio.wait_for(PostgresDatabase.open(url), LOGIN_TIMEOUT_SECONDS)
    except TimeoutError:
        reason = f"no answer within {LOGIN_TIMEOUT_SECONDS:g} s"
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = _reason(exc)
    raise StartupError(
        f"PostgreSQL at {where} (DATABASE_URL) cannot be used: {reason}. Check that the server "
        "runs and accepts this user, and that the database exists."
    )


def ensure_writable(folder: Path, variable: str) -> None:
    """Create `folder` and prove this user can write in it, or raise a StartupError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # os.access() is not enough: read-only mounts and ACLs only show on a real write.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StartupError(
            f"the folder {str(folder)!r} ({variable}) is not writable: {_reason(exc)}. "
            f"Make it writable for this user ({_user()}) or set {variable} to a folder that is."
        ) from None


async def log_in(bot: VideoBot, token: str, settings: Settings) -> None:
    """Log in over REST, turning an unreachable or silent Discord into a StartupError."""
    where = settings.discord_api_base or DISCORD_API
    fix = (
        "check DISCORD_API_BASE"
        if settings.discord_api_base
        else "check this machine's network, DNS and firewall (outbound HTTPS)"
    )
    try:
        await asyncio.wait_for(bot.login(token), LOGIN_TIMEOUT_SECONDS)
    except TimeoutError:
        raise StartupError(
            f"Discord did not answer at {where} within {LOGIN_TIMEOUT_SECONDS:g} s; {fix}."
        ) from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise StartupError(f"Discord is unreachable at {where}: {_reason(exc)}; {fix}.") from None
    except discord.LoginFailure:
        raise
    except discord.HTTPException as exc:
        raise StartupError(
            f"Discord answered the login with HTTP {exc.status} ({exc.text or exc}); "
            "if this persists, see https://discordstatus.com."
        ) from None


def gateway_refusal(code: int, shards: ShardSettings) -> str | None:
    """What to do when Discord closes the gateway over sharding (4010, 4011), else None."""
    # https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes
    if code == 4010:
        return (
            f"Discord refused this process's gateway shards ({shards.describe()}) with 4010 "
            "Invalid shard. Check SHARD_COUNT and SHARD_IDS (a bot in over 150,000 servers must "
            "use a shard count that is a multiple of the one Discord assigned it)."
        )
    if code == 4011:
        return (
            f"Discord requires more gateway shards ({shards.describe()} now): 4011 Sharding "
            "required, a connection may hold at most 2,500 servers. Set SHARD_COUNT (about one "
            "shard per 1,000 servers; GET /gateway/bot recommends a count) and split SHARD_IDS "
            'between processes (README: "Running several processes").'
        )
    return None


def _reason(exc: BaseException) -> str:
    """The OS or library's own words for `exc`, without a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def _user() -> str:
    """The user the bot runs as, for messages about file permissions."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # a uid with no account, as in some containers
        name = ""
    if uid is None:
        return name or "unknown"
    return f"{name}, uid {uid}" if name else f"uid {uid}"


async def drain_tasks(grace: float) -> None:
    """Wait for every other task to finish, then cancel whatever is still running."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if not others:
        return
    _, pending = await asyncio.wait(others, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def main() -> None:
    """Entry point for `python -m bot`."""
    # The .env of the directory the bot is started from; real environment variables win.
    load_dotenv(find_dotenv(usecwd=True))
    # No DISCORD_TOKEN (or --sandbox/--demo): the real bot against a simulated Discord instead.
    argv = sys.argv[1:]
    if sandbox_wanted(argv) and (argv or _interactive()):
        # Imported only here: the simulator is not part of the running bot.
        from simulator import cli as sandbox

        sandbox.main(argv)
        return
    try:
        settings = Settings.from_env()
        token = settings.require_discord_token()
    except ConfigError as exc:
        hint = ""
        if not os.environ.get("DISCORD_TOKEN", "").strip():
            # A service or container has no terminal: offering the sandbox there would exit 0
            # after the demo and a restart policy would run it forever.
            hint = " To try the bot without Discord, run `python -m bot --demo`."
        print(f"Cannot start: {exc}{hint}", file=sys.stderr)
        raise SystemExit(2) from None
    secrets = [
        token,
        settings.kvid.api_key.value,
        settings.kling.api_key.value,
        settings.database_url.value,
        # A password may also be quoted alone, as in a server's error message.
        urlparse(settings.database_url.value).password or "",
    ]
    configure_logging(settings.log_level, secrets, settings.log_format)
    try:
        asyncio.run(run(settings, token))
    except discord.LoginFailure:
        log.error(
            "Cannot start: Discord refused DISCORD_TOKEN (401 Unauthorized). Copy the bot's token "
            "again from https://discord.com/developers/applications (Bot, Reset Token) into .env."
        )
        raise SystemExit(1) from None
    except (ConfigError, StartupError) as exc:
        log.error("Cannot start: %s", exc)
        raise SystemExit(2) from None


def sandbox_wanted(argv: Sequence[str], env: Mapping[str, str] | None = None) -> bool:
    """Whether `python -m bot` should run the offline sandbox: asked for, or no DISCORD_TOKEN."""
    environ = os.environ if env is None else env
    asked = any(arg.split("=", 1)[0] in SANDBOX_FLAGS for arg in argv)
    return asked or not environ.get("DISCORD_TOKEN", "").strip()


def _interactive() -> bool:
    """Whether someone can type at this process (the sandbox is only offered then)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


if __name__ == "__main__":
    main()
