"""The operator's metrics: what /metrics shows after real job steps, parsed as Prometheus does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError, Settings
from bot.db import Database
from bot.health import Health, database_write_error
from bot.jobs.models import JobState
from bot.metrics import Metrics
from bot.providers.base import JobUpdate, ProviderError, ProviderFailure
from bot.providers.http import RetryPolicy, call_with_retries
from tests.unit.conftest import ManualClock
from tests.unit.test_jobs import REFUSED, World, succeeded


def samples(metrics_text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
    }


def value(parsed: dict, name: str, **labels: str) -> float:
    """One sample's value; KeyError if it is not exposed."""
    return parsed[(name, frozenset(labels.items()))]


async def scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Render and parse, as a Prometheus scrape would."""
    return samples((await metrics.render()).decode())


@pytest.fixture
async def two_jobs(db: Database, clock: ManualClock, tmp_path: Path) -> tuple[Metrics, World]:
    """The job machinery reporting to fresh metrics, with two jobs just started."""
    metrics = Metrics(db, ["kvid"])
    world = World(db, clock, tmp_path, metrics=metrics)
    await world.service.start(world.order(1))
    await world.service.start(world.order(2))
    return metrics, world


async def test_jobs_credits_and_step_latencies_after_real_steps(
    two_jobs: tuple[Metrics, World],
) -> None:
    metrics, world = two_jobs
    # One job's poll finds it done, the other's finds it refused by the provider.
    refused = JobUpdate(state="failed", provider_status="failed", failure=REFUSED)
    world.provider.polls.extend([succeeded(), refused])
    await world.step()
    await world.step(5)
    states = sorted(job.state for job in await world.store.for_member(1, 2, 10))
    assert states == sorted([JobState.SUCCEEDED, JobState.FAILED])

    parsed = await scrape(metrics)
    assert value(parsed, "videobot_jobs", provider="kvid", state="succeeded") == 1
    assert value(parsed, "videobot_jobs", provider="kvid", state="failed") == 1
    # Every state of a configured provider is shown, zeros included (a dashboard needs them).
    assert value(parsed, "videobot_jobs", provider="kvid", state="queued") == 0
    assert value(parsed, "videobot_credits_total", kind="held") == 30
    assert value(parsed, "videobot_credits_total", kind="captured") == 15
    assert value(parsed, "videobot_credits_total", kind="released") == 15
    assert value(parsed, "videobot_step_seconds_count", step="submit") == 2
    assert value(parsed, "videobot_step_seconds_count", step="poll") == 2
    assert value(parsed, "videobot_step_seconds_count", step="deliver") == 2
    assert value(parsed, "videobot_step_seconds_sum", step="deliver") > 0


async def test_steps_of_an_earlier_life_are_counted_as_taken_over(
    two_jobs: tuple[Metrics, World],
) -> None:
    metrics, world = two_jobs
    # This instance's earlier life claimed both and died holding them.
    now = world.clock()
    held = await world.store.claim_steps("main/deadbeef", now, now + 30, 10)
    assert len(held) == 2
    await world.runner.recover()
    assert value(await scrape(metrics), "videobot_lease_takeovers_total") == 0
    await world.runner.run_due()  # the claims that take them over are what count
    assert value(await scrape(metrics), "videobot_lease_takeovers_total") == 2


async def test_steps_of_another_process_are_taken_over_when_its_leases_lapse(
    two_jobs: tuple[Metrics, World],
) -> None:
    metrics, world = two_jobs
    now = world.clock()
    assert len(await world.store.claim_steps("other/cafe", now, now + 30, 10)) == 2
    await world.runner.run_due()  # leased: not due yet, nothing taken
    assert value(await scrape(metrics), "videobot_lease_takeovers_total") == 0
    world.clock.advance(31)
    await world.runner.run_due()
    assert value(await scrape(metrics), "videobot_lease_takeovers_total") == 2
    rows = await world.db.fetchall("SELECT taken_from FROM jobs")
    assert {row["taken_from"] for row in rows} == {"other/cafe"}


async def test_provider_answers_are_remembered_and_errors_counted() -> None:
    metrics = Metrics(clock=lambda: 1_700_000_000.0)
    answers = iter([httpx.Response(429), httpx.Response(200, json={"ok": True})])

    async def send() -> httpx.Response:
        return next(answers)

    def interpret(response: httpx.Response) -> object:
        if response.status_code == 429:
            raise ProviderError(
                ProviderFailure("too_many_requests", "busy", retryable=True, http_status=429)
            )
        return response.json()

    async def no_wait(seconds: float) -> None:
        return None

    await call_with_retries(
        send,
        interpret,
        policy=RetryPolicy(attempts=3),
        what="kvid status",
        sleep=no_wait,
        on_answer=metrics.answer_hook("kvid"),
    )
    # The last answer was a good one; the error before it is counted by its code.
    assert metrics.answers["kvid"].as_json() == {
        "at": "2023-11-14T22:13:20Z",
        "ok": True,
        "code": None,
        "http_status": None,
    }
    parsed = await scrape(metrics)
    assert (
        value(parsed, "videobot_provider_errors_total", provider="kvid", code="too_many_requests")
        == 1
    )


async def test_discord_429s_are_counted_by_scope() -> None:
    metrics = Metrics()

    async def limited(request: web.Request) -> web.Response:
        return web.json_response(
            {"retry_after": 0.01}, status=429, headers={"X-RateLimit-Scope": "user"}
        )

    async def fine(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/limited", limited)
    app.router.add_get("/fine", fine)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(trace_configs=[metrics.discord_trace()]) as session:
            for path in ("/limited", "/fine", "/limited"):
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    await response.read()
    finally:
        await runner.cleanup()
    parsed = await scrape(metrics)
    assert value(parsed, "videobot_discord_rate_limits_total", scope="user") == 2


def block_the_loop(seconds: float) -> None:
    """What a blocking call in a coroutine does to every other task."""
    time.sleep(seconds)


async def test_event_loop_lag_is_measured() -> None:
    metrics = Metrics()
    measured = asyncio.create_task(metrics.measure_loop_lag(0.01))
    await asyncio.sleep(0)  # the measurement starts its timer
    block_the_loop(0.1)
    lag = await measured
    assert lag >= 0.08
    parsed = await scrape(metrics)
    assert value(parsed, "videobot_event_loop_lag_seconds_count") == 1
    assert value(parsed, "videobot_event_loop_lag_seconds_sum") == pytest.approx(lag)
    assert value(parsed, "videobot_event_loop_lag_seconds_bucket", le="0.05") == 0


async def test_each_bot_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.leases_taken_over(3)
    assert value(await scrape(first), "videobot_lease_takeovers_total") == 3
    assert value(await scrape(second), "videobot_lease_takeovers_total") == 0


async def test_health_needs_the_gateway_and_a_database_write(db: Database) -> None:
    metrics = Metrics(db)
    metrics.provider_answered(
        "kling", ProviderFailure("invalid_token", "no", retryable=False, http_status=401)
    )
    healthy, report = await Health(db, metrics, lambda: True).report()
    assert healthy
    assert report["database"] == {"writable": True, "error": None}
    assert report["providers"]["kling"]["code"] == "invalid_token"
    assert report["providers"]["kling"]["ok"] is False
    row = await db.fetchone("SELECT value FROM meta WHERE key = 'health_probe'")
    assert row is not None

    healthy, report = await Health(db, metrics, lambda: False).report()
    assert not healthy
    assert report["gateway"] == {"connected": False}


async def test_a_database_that_cannot_be_written_is_reported(db: Database) -> None:
    await db.close()
    error = await database_write_error(db)
    assert error is not None
    healthy, report = await Health(db, Metrics(), lambda: True).report()
    assert not healthy
    assert report["database"]["writable"] is False


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_two_log_formats_are_accepted(fmt: str) -> None:
    assert Settings.from_env({"LOG_FORMAT": fmt.upper()}).log_format == fmt


def test_an_unknown_log_format_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of TEXT, JSON, not 'XML'"):
        Settings.from_env({"LOG_FORMAT": "xml"})


def test_http_port_alone_starts_the_endpoint_without_callbacks() -> None:
    settings = Settings.from_env({"HTTP_PORT": "9100"}).callbacks
    assert (settings.serve, settings.enabled, settings.port) == (True, False, 9100)
    assert not Settings.from_env({}).callbacks.serve
    assert Settings.from_env({"PUBLIC_URL": "https://bot.example.org"}).callbacks.serve
