"""Prometheus metrics of one bot process, in a registry of its own (no global state)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.db import Database
from bot.jobs.models import JobState
from bot.providers.base import ProviderFailure
from bot.providers.http import AnswerHook

# Counted at scrape time from the tables every process shares, so any process reports the same
# totals and nothing is lost at a restart. Plain SQL that SQLite and PostgreSQL both accept.
JOBS_SQL = "SELECT provider, state, COUNT(*) AS n FROM jobs GROUP BY provider, state"
# A hold holds `held_delta`; a capture spends `-balance_delta` (it may spend less than it held);
# a release gives back `-held_delta`. The ledger is append-only, so these only grow: counters.
CREDITS_SQL = (
    "SELECT kind, SUM(CASE kind WHEN 'capture' THEN -balance_delta "
    "WHEN 'release' THEN -held_delta ELSE held_delta END) AS credits "
    "FROM ledger WHERE kind IN ('hold', 'capture', 'release') GROUP BY kind"
)
CREDIT_KINDS = {"hold": "held", "capture": "captured", "release": "released"}

# A step is a database claim plus one provider call or one Discord delivery: milliseconds to
# minutes (a large download and re-encode).
STEP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Commands must be acknowledged within 3 s; lag of a few hundred ms already threatens that.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
LAG_INTERVAL_SECONDS = 0.5


class StepMetrics(Protocol):
    """What the job runner reports."""

    def step_finished(self, kind: str, seconds: float) -> None:
        """A step of `kind` (submit, poll, poll_batch, deliver, ...) took `seconds`."""
        ...

    def leases_taken_over(self, count: int) -> None:
        """`count` steps another owner had leased were taken over."""
        ...


class NoMetrics:
    """Records nothing (the runner's default, for tests that do not look)."""

    def step_finished(self, kind: str, seconds: float) -> None:
        """Ignore it."""

    def leases_taken_over(self, count: int) -> None:
        """Ignore it."""


NO_METRICS = NoMetrics()


@dataclass(frozen=True)
class ProviderAnswer:
    """The last answer a provider gave: when, and its error code (None: it was fine)."""

    at: float
    code: str | None
    http_status: int | None

    def as_json(self) -> dict[str, Any]:
        """For /healthz."""
        return {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "ok": self.code is None,
            "code": self.code,
            "http_status": self.http_status,
        }


class Metrics:
    """Every metric of one bot process, and the last answer of each provider."""

    def __init__(
        self,
        db: Database | None = None,
        providers: Sequence[str] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Its own registry: tests run several bots in one process, and the default registry
        # would mix their numbers (and refuse the second bot's metrics as duplicates).
        self.registry = CollectorRegistry()
        self._clock = clock
        self.steps = Histogram(
            "videobot_step_seconds",
            "Time the job runner spent on one step, by kind",
            ["step"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "videobot_provider_errors",
            "Provider answers that were errors (transport errors included), by provider and code",
            ["provider", "code"],
            registry=self.registry,
        )
        self.discord_rate_limits = Counter(
            "videobot_discord_rate_limits",
            "HTTP 429 answers from Discord's REST API, by X-RateLimit-Scope",
            ["scope"],
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "videobot_event_loop_lag_seconds",
            "How late the event loop ran a timer (a busy or blocked loop delays every command)",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.lease_takeovers = Counter(
            "videobot_lease_takeovers",
            "Job steps this process took over from an owner that stopped holding them",
            registry=self.registry,
        )
        self._tables = DatabaseCollector(providers)
        self.registry.register(self._tables)
        self._db = db
        self.answers: dict[str, ProviderAnswer] = {}

    def expect_providers(self, names: Iterable[str]) -> None:
        """Show these providers' job counts (as zeros) before they have any jobs."""
        self._tables.providers = tuple(names)

    # -- the runner's side ----------------------------------------------------------------------

    def step_finished(self, kind: str, seconds: float) -> None:
        """Record one step's duration."""
        self.steps.labels(kind).observe(seconds)

    def leases_taken_over(self, count: int) -> None:
        """Count steps taken over from another owner."""
        if count > 0:
            self.lease_takeovers.inc(count)

    # -- providers ------------------------------------------------------------------------------

    def provider_answered(self, provider: str, failure: ProviderFailure | None) -> None:
        """Remember a provider's answer; count it if it was an error."""
        code = failure.code if failure is not None else None
        status = failure.http_status if failure is not None else None
        self.answers[provider] = ProviderAnswer(self._clock(), code, status)
        if code is not None:
            self.provider_errors.labels(provider, code).inc()

    def answer_hook(self, provider: str) -> AnswerHook:
        """The callable a provider client reports each answer to."""
        return functools.partial(self.provider_answered, provider)

    # -- Discord --------------------------------------------------------------------------------

    def discord_trace(self) -> aiohttp.TraceConfig:
        """An aiohttp trace for discord.py's HTTP session that counts its 429s.

        discord.py waits out and retries a 429 itself; its `http_trace` option is the one
        public hook that sees every response, whatever the log level.
        """
        trace = aiohttp.TraceConfig()

        async def on_request_end(
            session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            if params.response.status == 429:
                scope = params.response.headers.get("X-RateLimit-Scope", "unknown")
                self.discord_rate_limits.labels(scope).inc()

        trace.on_request_end.append(on_request_end)
        return trace

    # -- the event loop -------------------------------------------------------------------------

    async def watch_event_loop(self, interval: float = LAG_INTERVAL_SECONDS) -> None:
        """Forever: measure the event loop's lag every `interval` seconds."""
        while True:
            await self.measure_loop_lag(interval)

    async def measure_loop_lag(self, interval: float) -> float:
        """Sleep `interval`; record and return how much later than asked the loop woke us."""
        loop = asyncio.get_running_loop()
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - asked)
        self.loop_lag.observe(lag)
        return lag

    # -- exposition -----------------------------------------------------------------------------

    async def render(self) -> bytes:
        """The text format of every metric, with the database counts read now."""
        if self._db is not None:
            await self._tables.refresh(self._db)
        return generate_latest(self.registry)


class DatabaseCollector(Collector):
    """Jobs by provider and state, and credits by ledger kind, as last read from the database."""

    def __init__(self, providers: Iterable[str]) -> None:
        self.providers = tuple(providers)
        self._jobs: dict[tuple[str, str], int] = {}
        self._credits: dict[str, int] = {}

    async def refresh(self, db: Database) -> None:
        """Read the counts (collect() is synchronous, so the scrape handler calls this first)."""
        jobs, credits = await _read_counts(db)
        self._jobs = {(str(r["provider"]), str(r["state"])): int(r["n"]) for r in jobs}
        self._credits = {str(r["kind"]): int(r["credits"] or 0) for r in credits}

    def collect(self) -> Iterator[Metric]:
        """The last counts read; every configured provider shows every state, zeros included."""
        jobs = GaugeMetricFamily(
            "videobot_jobs",
            "Jobs in the database, by provider and state",
            labels=["provider", "state"],
        )
        counts = {(p, s.value): 0 for p in self.providers for s in JobState} | self._jobs
        for (provider, state), count in sorted(counts.items()):
            jobs.add_metric([provider, state], count)
        yield jobs
        credits = CounterMetricFamily(
            "videobot_credits",
            "Credits ever held for jobs, captured (spent) and released (refunded)",
            labels=["kind"],
        )
        for kind, name in CREDIT_KINDS.items():
            credits.add_metric([name], self._credits.get(kind, 0))
        yield credits


async def _read_counts(db: Database) -> tuple[list[Any], list[Any]]:
    """The two scrape-time queries (the one place that knows how the database is read)."""
    return await db.fetchall(JOBS_SQL), await db.fetchall(CREDITS_SQL)
