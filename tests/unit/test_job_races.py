"""Every pair of steps that can meet on one job, raced with randomised interleavings.

Real SQLite, the real store, ledger, service and runner; only the provider and the presenter are
doubles, and they yield to the event loop a random number of times wherever a network call would
wait, so each run interleaves the two steps differently. The seed of every run is printed (and
part of the test id): `RACE_SEED=... pytest -k ...` replays one.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.community.approval import SqlJobGate
from bot.db import Database
from bot.jobs.models import Delivery, Job, JobState
from bot.jobs.runner import CallbackRefused, JobRunner, ResultFile, RunnerSettings
from bot.jobs.service import CancelRefused
from bot.jobs.store import Guard, finish_cols
from bot.ledger import Ledger
from bot.providers.base import JobUpdate, Submission, VideoRequest
from tests.unit.conftest import ManualClock
from tests.unit.job_support import Machinery, text_order
from tests.unit.test_jobs import VIDEO_BYTES, RecordingPresenter, ScriptedProvider

GUILD, USER, CHANNEL = 1, 2, 3
RUNS = int(os.environ.get("RACE_RUNS", "30"))
SEEDS = (
    [int(os.environ["RACE_SEED"])]
    if "RACE_SEED" in os.environ
    else [random.SystemRandom().randrange(10**9) for _ in range(RUNS)]
)
DONE = JobUpdate(state="succeeded", provider_status="completed", video_url="https://cdn/v.mp4")


async def jitter(rng: random.Random) -> None:
    """Yield to the loop 0-7 times: where a network call would let other steps run."""
    for _ in range(rng.randrange(8)):
        await asyncio.sleep(0)


class RacingProvider(ScriptedProvider):
    """Answers `pending` until told the job is done; every call yields a random number of times."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng
        self.done = False

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> Submission:
        await jitter(self.rng)
        self.submits.append(request)
        return Submission("task-1", "queued")

    async def poll(self, provider_job_id: str) -> JobUpdate:
        await jitter(self.rng)
        return DONE if self.done else JobUpdate(state="pending", provider_status="processing")

    def parse_callback(self, body: object) -> tuple[str, JobUpdate]:
        return "task-1", DONE


class CountingPresenter(RecordingPresenter):
    """Records what reached the member, yielding like a Discord request each time."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    async def job_changed(self, job: Job, phase: str | None = None) -> None:
        await jitter(self.rng)
        await super().job_changed(job, phase)

    async def deliver(
        self, job: Job, video: ResultFile | None, *, may_have_sent: bool
    ) -> tuple[Delivery, int | None]:
        await jitter(self.rng)
        return await super().deliver(job, video, may_have_sent=may_have_sent)


class Bench(Machinery[RacingProvider]):
    """One database and the machinery of as many bot processes as a race needs."""

    def __init__(self, db: Database, seed: int, tmp_path: Path) -> None:
        self.rng = random.Random(seed)
        clock = ManualClock()
        ledger = Ledger(db, starting_credits=100, clock=clock)
        super().__init__(db, clock, RacingProvider(self.rng), ledger)
        self.presenter = CountingPresenter(self.rng)
        self.tmp_path = tmp_path

    def runner(self, instance: str = "main", *, callbacks: bool = False) -> JobRunner:
        """A runner as one bot process would have it."""
        settings = RunnerSettings(
            deadline_seconds=600,
            instance=instance,
            callback_base_url="http://bot.test" if callbacks else None,
        )
        return self.new_runner(self.presenter, VIDEO_BYTES, settings, self.tmp_path / instance)

    async def start_job(self) -> Job:
        order = text_order(self.rng.randrange(10**9), GUILD, CHANNEL, USER, "a race")
        return await self.service.start(order)

    async def running_job(self, runner: JobRunner) -> Job:
        """A job that has been submitted and is waiting for its next poll."""
        job = await self.start_job()
        await runner.run_due()
        current = await self.store.get(job.id)
        assert current is not None
        assert current.state is JobState.RUNNING
        return current

    async def finishing_job(self, runner: JobRunner, seconds: float = 30) -> Job:
        """A running job the provider has finished, its next poll due `seconds` on."""
        job = await self.running_job(runner)
        self.provider.done = True
        self.clock.advance(seconds)
        return job

    async def member_cancel(self, job_id: str) -> object:
        """The member cancels the job; None when refused (it went on without them)."""
        try:
            return await self.service.cancel(job_id, USER, moderator=False)
        except CancelRefused:
            return None

    async def race(self, *steps: Callable[[], Awaitable[object]]) -> list[object]:
        """Run the steps concurrently, each starting after a random number of yields."""

        async def late(step: Callable[[], Awaitable[object]]) -> object:
            await jitter(self.rng)
            return await step()

        return await asyncio.gather(*(late(s) for s in steps), return_exceptions=True)

    async def settle(self, *runners: JobRunner) -> None:
        """Let every runner finish whatever is still due (deliveries, retries)."""
        for _ in range(3):
            self.clock.advance(60)
            for runner in runners:
                await runner.run_due()

    async def assert_one_effect(self, job_id: str) -> Job:
        """The job is final, told once, and its hold resolved once (the ledger agrees)."""
        job = await self.store.get(job_id)
        assert job is not None
        assert job.state.terminal, job
        told = [entry[:2] for entry in self.presenter.deliveries if entry[0] == job_id]
        assert told == [(job_id, job.state)], told
        rows = await self.db.fetchall(
            "SELECT kind FROM ledger WHERE job_id = ? AND kind IN ('capture', 'release')",
            (job_id,),
        )
        expected = "capture" if job.state is JobState.SUCCEEDED else "release"
        assert [row["kind"] for row in rows] == [expected]
        await self.assert_ledger_balanced()
        return job

    async def assert_ledger_balanced(self) -> None:
        """The member's cached balance is the ledger's sum, and only open jobs hold credits."""
        member = await self.db.fetchone(
            "SELECT m.balance, m.held, SUM(l.balance_delta) AS b, SUM(l.held_delta) AS h "
            "FROM members m JOIN ledger l USING (guild_id, user_id) GROUP BY m.guild_id, m.user_id"
        )
        assert member is not None
        assert (member["balance"], member["held"]) == (member["b"], member["h"])
        spent = await self.db.fetchone(
            "SELECT COALESCE(SUM(price), 0) AS spent FROM jobs WHERE state = 'succeeded' "
            "AND delivery_state = 'delivered'"
        )
        open_jobs = await self.db.fetchone(
            "SELECT COALESCE(SUM(price), 0) AS held FROM jobs WHERE delivery_state IS NULL "
            "OR delivery_state IN ('pending', 'delivering')"
        )
        assert spent is not None
        assert open_jobs is not None
        assert member["balance"] == 100 - spent["spent"]
        assert member["held"] == open_jobs["held"] - (await self._released_but_undelivered())

    async def _released_but_undelivered(self) -> int:
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(price), 0) AS n FROM jobs WHERE state IN ('failed', 'cancelled') "
            "AND delivery_state IN ('pending', 'delivering')"
        )
        assert row is not None
        return int(row["n"])


@pytest.fixture(params=SEEDS, ids=lambda seed: f"seed{seed}")
async def bench(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> Bench:
    print(f"race seed {request.param}")
    return Bench(db, request.param, tmp_path)


async def test_finishing_poll_vs_another_process_delivery_pass(bench: Bench) -> None:
    """Two processes' runners pass over the same due job at once: one poll, one delivery."""
    first, second = bench.runner("one"), bench.runner("two")
    job = await bench.finishing_job(first)
    await bench.race(first.run_due, second.run_due, first.run_due, second.run_due)
    await bench.settle(first, second)
    assert (await bench.assert_one_effect(job.id)).state is JobState.SUCCEEDED


async def test_callback_vs_poll(bench: Bench) -> None:
    """The provider's callback and a poll both report the finish: one effect."""
    runner = bench.runner(callbacks=True)
    job = await bench.finishing_job(runner)
    assert job.callback_token is not None

    async def callback() -> str:
        return await runner.accept_callback("kvid", job.id, job.callback_token or "", {})

    await bench.race(runner.run_due, callback, callback)
    # Providers repeat callbacks: one arriving after everything settled changes nothing.
    await callback()
    await bench.settle(runner)
    assert (await bench.assert_one_effect(job.id)).state is JobState.SUCCEEDED


async def test_cancel_vs_finish(bench: Bench) -> None:
    """A member cancels as the provider finishes: cancelled and refunded, or done and charged."""
    runner = bench.runner()
    job = await bench.finishing_job(runner)
    await bench.race(runner.run_due, lambda: bench.member_cancel(job.id))
    await bench.settle(runner)
    await bench.assert_one_effect(job.id)


async def test_deadline_vs_finish(bench: Bench) -> None:
    """The deadline passes as the callback reports the finish: one of them wins, once."""
    runner = bench.runner(callbacks=True)
    job = await bench.finishing_job(runner, seconds=601)

    async def callback() -> object:
        try:
            return await runner.accept_callback("kvid", job.id, job.callback_token or "", {})
        except CallbackRefused:
            return None

    await bench.race(runner.run_due, callback)
    await bench.settle(runner)
    await bench.assert_one_effect(job.id)


async def test_approval_vs_cancel(bench: Bench) -> None:
    """A moderator approves (or denies) a parked job while its member cancels it."""
    runner = bench.runner()
    gate = SqlJobGate(bench.ledger)
    job = await bench.start_job()
    await bench.db.run(gate.park_in, job.id)
    deny = bench.rng.random() < 0.5

    async def decide() -> bool:
        if deny:
            return await bench.db.run(
                gate.reject_in, job.id, "approval_denied", "Denied.", bench.clock.now
            )
        return await bench.db.run(gate.approve_in, job.id, bench.clock.now)

    decided, cancelled = await bench.race(decide, lambda: bench.member_cancel(job.id))
    assert bool(decided) != bool(cancelled) or (not deny and decided and cancelled)
    bench.provider.done = True
    await bench.settle(runner)
    await bench.assert_one_effect(job.id)


async def test_two_recoveries_of_a_dead_process(bench: Bench) -> None:
    """A process died mid-submit and mid-delivery; two survivors take over at once."""
    dead = bench.runner("dead")
    submitting = await bench.start_job()
    delivering = await bench.finishing_job(dead)
    # The dead process claimed both steps, moved them on, and stopped before finishing them.
    claimed = await bench.store.claim_steps(dead.owner, bench.clock.now, bench.clock.now + 30, 2)
    assert submitting.id in {job.id for job in claimed}
    async with bench.db.transaction() as tx:
        await tx.execute("UPDATE jobs SET state = 'submitting' WHERE id = ?", (submitting.id,))
    await bench.store.apply(
        Guard.in_states(JobState.RUNNING),
        delivering.id,
        **finish_cols(JobState.SUCCEEDED, bench.clock.now, result_url="https://cdn/v.mp4"),
    )
    assert await bench.store.claim_deliveries(dead.owner, bench.clock.now, bench.clock.now + 30, 5)
    # Both leases lapse; two processes look at the same moment.
    bench.clock.advance(31)
    first, second = bench.runner("one"), bench.runner("two")
    await bench.race(first.run_due, second.run_due, first.run_due)
    await bench.settle(first, second)
    assert (await bench.assert_one_effect(submitting.id)).failure_code == "interrupted"
    assert (await bench.assert_one_effect(delivering.id)).state is JobState.SUCCEEDED
