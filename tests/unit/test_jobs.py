"""Jobs through the real service, store, ledger and runner, with a scripted provider at the edge."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from bot.db import Database
from bot.jobs.models import Delivery, Job, JobOrder, JobState
from bot.jobs.runner import ResultFile, RunnerSettings
from bot.ledger import InsufficientCredits, Ledger
from bot.metrics import NO_METRICS, StepMetrics
from bot.providers.base import (
    InvalidRequest,
    JobUpdate,
    ProviderError,
    ProviderFailure,
    Submission,
    VideoRequest,
)
from tests.unit.conftest import ManualClock
from tests.unit.job_support import KvidDouble, Machinery, text_order

GUILD, USER, CHANNEL = 1, 2, 3
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 2000
TRANSIENT = ProviderFailure(code="RATE_LIMITED", member_message="busy", retryable=True)
REFUSED = ProviderFailure(
    code="content_policy_violation", member_message="Not allowed.", retryable=False
)


class ScriptedProvider(KvidDouble):
    """A provider whose answers a test lists in advance."""

    def __init__(self) -> None:
        self.submits: list[VideoRequest] = []
        self.submit_results: deque[Submission | ProviderFailure] = deque()
        self.polls: deque[JobUpdate | ProviderFailure] = deque()

    async def submit(self, request: VideoRequest) -> Submission:
        self.submits.append(request)
        result = (
            self.submit_results.popleft() if self.submit_results else Submission("p1", "queued")
        )
        if isinstance(result, ProviderFailure):
            raise ProviderError(result)
        return result

    async def poll(self, provider_job_id: str) -> JobUpdate:
        result = self.polls.popleft()
        if isinstance(result, ProviderFailure):
            raise ProviderError(result)
        return result


class RecordingPresenter:
    """Remembers what members would have seen."""

    def __init__(self) -> None:
        self.changes: list[JobState] = []
        self.deliveries: list[tuple[str, JobState, bytes | None]] = []

    async def job_changed(self, job: Job, phase: str | None = None) -> None:
        self.changes.append(job.state)

    async def deliver(
        self, job: Job, video: ResultFile | None, *, may_have_sent: bool
    ) -> tuple[Delivery, int | None]:
        attachable = video is not None and video.attachable
        data = video.path.read_bytes() if video and attachable else None
        self.deliveries.append((job.id, job.state, data))
        if job.state is not JobState.SUCCEEDED:
            return Delivery.NOTICE, 99
        return (Delivery.ATTACHED if attachable else Delivery.LINK), 99

    async def deliver_privately(
        self, job: Job, video: ResultFile | None
    ) -> tuple[Delivery, int | None]:
        raise AssertionError("these tests never need a direct message")


class World(Machinery[ScriptedProvider]):
    """The real job machinery wired the way the composition root wires it."""

    def __init__(
        self,
        db: Database,
        clock: ManualClock,
        tmp_path: Path,
        metrics: StepMetrics = NO_METRICS,
    ) -> None:
        super().__init__(
            db, clock, ScriptedProvider(), Ledger(db, starting_credits=100, clock=clock)
        )
        self.presenter = RecordingPresenter()
        settings = RunnerSettings(deadline_seconds=600)
        self.runner = self.new_runner(self.presenter, VIDEO_BYTES, settings, tmp_path, metrics)

    def order(self, interaction_id: int = 1000, *, upload_limit: int = 10_000_000) -> JobOrder:
        return text_order(
            interaction_id, GUILD, CHANNEL, USER, "a cat surfing", upload_limit=upload_limit
        )

    async def step(self, seconds: float = 0.0) -> Job:
        self.clock.advance(seconds)
        await self.runner.run_due()
        jobs = await self.store.for_member(GUILD, USER, 1)
        return jobs[0]


@pytest.fixture
def world(db: Database, clock: ManualClock, tmp_path: Path) -> World:
    return World(db, clock, tmp_path)


def succeeded(url: str = "https://cdn.example/v.mp4") -> JobUpdate:
    return JobUpdate(
        state="succeeded", provider_status="completed", video_url=url, provider_cost=54
    )


async def test_happy_path_holds_then_captures_once_and_attaches(world: World) -> None:
    job = await world.service.start(world.order())
    assert job.state is JobState.QUEUED
    assert (await world.ledger.balance(GUILD, USER)).held == 15
    world.provider.polls.extend(
        [JobUpdate(state="pending", provider_status="processing"), succeeded()]
    )
    job = await world.step()
    assert job.state is JobState.RUNNING
    job = await world.step(5)
    assert job.provider_status == "processing"
    job = await world.step(5)
    assert job.state is JobState.SUCCEEDED
    assert job.delivery is Delivery.ATTACHED
    assert job.provider_cost == 54
    assert world.presenter.deliveries == [(job.id, JobState.SUCCEEDED, VIDEO_BYTES)]
    balance = await world.ledger.balance(GUILD, USER)
    assert (balance.balance, balance.held) == (85, 0)
    await world.step(60)
    assert len(world.presenter.deliveries) == 1


async def test_result_over_the_upload_limit_is_delivered_as_a_link(world: World) -> None:
    await world.service.start(world.order(upload_limit=1000))
    world.provider.polls.append(succeeded())
    await world.step()
    job = await world.step(5)
    assert job.delivery is Delivery.LINK
    assert world.presenter.deliveries == [(job.id, JobState.SUCCEEDED, None)]


async def test_provider_failure_releases_the_hold_and_tells_the_member(world: World) -> None:
    await world.service.start(world.order())
    world.provider.polls.append(
        JobUpdate(state="failed", provider_status="failed", failure=REFUSED)
    )
    await world.step()
    job = await world.step(5)
    assert job.state is JobState.FAILED
    assert job.failure_code == "content_policy_violation"
    assert job.delivery is Delivery.NOTICE
    balance = await world.ledger.balance(GUILD, USER)
    assert (balance.balance, balance.held) == (100, 0)


async def test_refused_submit_releases_the_hold(world: World) -> None:
    world.provider.submit_results.append(REFUSED)
    await world.service.start(world.order())
    job = await world.step()
    assert job.state is JobState.FAILED
    assert (await world.ledger.balance(GUILD, USER)).available == 100


async def test_transient_poll_errors_back_off_then_recover(world: World) -> None:
    await world.service.start(world.order())
    world.provider.polls.extend([TRANSIENT, TRANSIENT, succeeded()])
    await world.step()
    first = await world.step(5)
    assert first.poll_failures == 1
    assert first.next_poll_at is not None
    assert first.next_poll_at - world.clock.now >= world.provider.poll_interval
    second = await world.step(first.next_poll_at - world.clock.now)
    assert second.poll_failures == 2
    done = await world.step(second.next_poll_at - world.clock.now)
    assert done.state is JobState.SUCCEEDED


async def test_job_past_its_deadline_fails_and_releases(world: World) -> None:
    await world.service.start(world.order())
    world.provider.polls.extend([JobUpdate(state="pending", provider_status="processing")] * 3)
    await world.step()
    job = await world.step(601)
    assert job.state is JobState.FAILED
    assert job.failure_code == "timeout"
    assert (await world.ledger.balance(GUILD, USER)).held == 0


async def test_restart_during_submit_releases_instead_of_charging(world: World) -> None:
    job = await world.service.start(world.order())
    # An earlier life of this instance claimed the submit and died with the lease in hand.
    async with world.db.transaction() as tx:
        await tx.execute(
            "UPDATE jobs SET state = 'submitting', lease_owner = 'main/dead', next_poll_at = ? "
            "WHERE id = ?",
            (world.clock.now + 30, job.id),
        )
    await world.runner.recover()
    job = await world.step()
    assert job.state is JobState.FAILED
    assert job.failure_code == "interrupted"
    assert (await world.ledger.balance(GUILD, USER)).available == 100
    assert world.provider.submits == []


async def test_repeated_interaction_creates_one_job_and_one_hold(world: World) -> None:
    first = await world.service.start(world.order(interaction_id=5))
    second = await world.service.start(world.order(interaction_id=5))
    assert first.id == second.id
    holds = await world.db.fetchall("SELECT * FROM holds")
    assert len(holds) == 1


async def test_unsupported_option_is_refused_before_anything_is_held(world: World) -> None:
    order = world.order()
    bad = JobOrder(
        **{
            **order.__dict__,
            "request": VideoRequest(kind="text", prompt="x", model="v2", resolution="1080p"),
        }
    )
    with pytest.raises(InvalidRequest, match="480p, 720p"):
        await world.service.start(bad)
    assert await world.db.fetchall("SELECT * FROM jobs") == []


async def test_not_enough_credits_holds_nothing(world: World) -> None:
    await world.ledger.take(GUILD, USER, 90, "test", actor_id=None)
    with pytest.raises(InsufficientCredits):
        await world.service.start(world.order())
    assert await world.db.fetchall("SELECT * FROM jobs") == []
    assert await world.db.fetchall("SELECT * FROM holds") == []


@pytest.mark.parametrize("prompt", ["   ", "\u200b\u200b", "\u200b \ufeff\u2028\u00a0", "\t\n"])
async def test_a_prompt_of_invisible_characters_is_refused_with_nothing_held(
    world: World, prompt: str
) -> None:
    order = world.order()
    blank = JobOrder(
        **{
            **order.__dict__,
            "request": VideoRequest(kind="text", prompt=prompt, model="v2", resolution="720p"),
        }
    )
    with pytest.raises(InvalidRequest, match="invisible characters do not count"):
        await world.service.start(blank)
    assert await world.db.fetchall("SELECT * FROM holds") == []


async def test_a_prompt_with_one_visible_character_among_invisible_ones_is_accepted(
    world: World,
) -> None:
    order = world.order()
    request = VideoRequest(kind="text", prompt="\u200b고\u200b", model="v2", resolution="720p")
    job = await world.service.start(JobOrder(**{**order.__dict__, "request": request}))
    assert job.state is JobState.QUEUED


async def test_a_parked_outcome_is_posted_once_in_the_channel_it_is_asked_for(
    world: World,
) -> None:
    job = await world.service.start(world.order())
    world.provider.polls.append(succeeded())
    await world.step()
    await world.step(5)
    # Neither the channel nor a direct message took it: the runner kept it (parked).
    async with world.db.transaction() as tx:
        await tx.execute(
            "UPDATE jobs SET delivery_state = 'parked', delivered_at = NULL WHERE id = ?",
            (job.id,),
        )
    moved = await world.service.repost(job.id, 777)
    assert moved is not None
    assert moved.channel_id == 777
    assert await world.service.repost(job.id, 778) is None
    done = await world.step()
    assert done.delivery_state == "delivered"
    assert len(world.presenter.deliveries) == 2
    captures = await world.db.fetchall("SELECT * FROM ledger WHERE kind = 'capture'")
    assert len(captures) == 1
