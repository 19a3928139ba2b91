"""The loop that submits, polls, settles and delivers every job, in any number of processes.

The database is the only source of truth. Each step starts with a claim (the job leased to this
process in the statement that found it due) and ends with a transition that lands only while the
claim holds; a lapsed lease hands a dead process's step to whoever looks next.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import random
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, assert_never

import httpx

from bot.background import run_passes
from bot.db import Transaction
from bot.i18n import Text
from bot.jobs.deps import JobDeps, OnJobDeps
from bot.jobs.models import Delivery, DeliveryState, Job, JobState, ResultFitter, note_to_column
from bot.jobs.store import Guard, finish_cols, transition_in
from bot.logs import log_job
from bot.media import DownloadTooLarge, copy_local_result, download
from bot.metrics import NO_METRICS, StepMetrics
from bot.providers.base import (
    AcceptsCallbacks,
    BatchPolling,
    Cancellable,
    JobUpdate,
    Provider,
    ProviderError,
    ProviderFailure,
)

log = logging.getLogger(__name__)

FIRST_POLL_MAX_INTERVALS = 6
# A phase (downloading) is shown on the card only once it has lasted this long.
SLOW_PHASE_SECONDS = 1.0
# The failure code every provider uses for a refusal on content grounds.
CONTENT_POLICY = "content_policy_violation"
RESTART_DURING_SUBMIT = ProviderFailure(
    code="interrupted",
    member_message=(
        "The bot restarted while sending this job to the video service, so it could not tell "
        "whether the job was accepted."
    ),
    retryable=False,
)
TIMED_OUT = ProviderFailure(
    code="timeout",
    member_message="The video service took too long to finish this video.",
    retryable=False,
)
RESULT_UNAVAILABLE = ProviderFailure(
    code="result_unavailable",
    member_message="The video service finished, but its video could not be fetched.",
    retryable=False,
)
FALLBACK_FAILURE = ProviderFailure(
    code="failed", member_message="The video service could not make this video.", retryable=False
)
# The step a claimed job's state calls for, as the step-latency metric names it.
_STEP_KINDS = {
    JobState.QUEUED: "submit",
    JobState.SUBMITTING: "recover_submit",
    JobState.RUNNING: "poll",
    JobState.SUCCEEDED: "none",
    JobState.FAILED: "none",
    JobState.CANCELLED: "none",
}


class CallbackRefused(Exception):
    """A callback that must change nothing (wrong token, unknown job, malformed body)."""


class ResultMissing(Exception):
    """The result URL did not give a video (gone, or the connection failed)."""


class DeliveryRefused(Exception):
    """Discord did not take the outcome where it was sent; `code` is Discord's, if any."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class ResultFile:
    """A downloaded result: attachable, or too large (then perhaps with a poster frame)."""

    path: Path
    size: int
    attachable: bool = True
    poster: Path | None = None
    # Said on the card when the result needed help to reach the member.
    note: Text | None = None


class JobPresenter(Protocol):
    """Shows jobs to members; implemented by the Discord layer."""

    async def job_changed(self, job: Job, phase: str | None = None) -> None:
        """The job moved to a new state, status or phase (e.g. downloading); show it."""
        ...

    async def deliver(
        self, job: Job, video: ResultFile | None, *, may_have_sent: bool
    ) -> tuple[Delivery, int | None]:
        """Tell the member the outcome where they asked; return how, and the message's id.

        `may_have_sent`: an earlier attempt may have posted it (look before posting again).
        Raises DeliveryRefused.
        """
        ...

    async def deliver_privately(
        self, job: Job, video: ResultFile | None
    ) -> tuple[Delivery, int | None]:
        """Tell the member the outcome in a direct message. Raises DeliveryRefused."""
        ...


@dataclass(frozen=True)
class RunnerSettings:
    """Timing knobs of the runner."""

    deadline_seconds: float = 900.0
    max_download_bytes: int = 200 * 1024 * 1024
    max_parallel_steps: int = 64
    idle_wake_seconds: float = 30.0
    max_poll_backoff: float = 120.0
    # A step whose process died is taken over this long after its last renewal.
    lease_seconds: float = 30.0
    # Posting the outcome: tries where the member asked, with growing gaps (base x 3^n),
    # before a direct message and, failing that, keeping it for /video status.
    delivery_attempts: int = 4
    delivery_retry_seconds: float = 5.0
    # A result that cannot be fetched is asked of the provider again this many times.
    result_fetch_attempts: int = 3
    # Base of the URLs providers post results to; None means every job is polled.
    callback_base_url: str | None = None
    # This process's name among several sharing one database (leases carry it).
    instance: str = "main"


class JobRunner(OnJobDeps):
    """Drives jobs from the database; the database, not this object, is the source of truth."""

    def __init__(
        self,
        deps: JobDeps,
        presenter: JobPresenter,
        http: httpx.AsyncClient,
        *,
        settings: RunnerSettings,
        work_dir: Path,
        wake: asyncio.Event | None = None,
        fitter: ResultFitter | None = None,
        on_refused: Callable[[Job, ProviderFailure], Awaitable[None]] | None = None,
        metrics: StepMetrics = NO_METRICS,
    ) -> None:
        super().__init__(deps)
        self._presenter = presenter
        self._http = http
        self._settings = settings
        self._work_dir = work_dir
        self._wake = wake or asyncio.Event()
        self._fitter = fitter
        # Told when a provider refuses a job on content grounds (for the moderators' log).
        self._on_refused = on_refused
        self._metrics = metrics
        # Leases name the process: `instance/` + a token new at every start, so a restarted
        # process knows its earlier life's leases (that life is over) and nobody else's.
        self._owner_prefix = f"{settings.instance}/"
        self.owner = self._owner_prefix + secrets.token_hex(4)
        self._steps: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._rng = random.Random()

    def start(self) -> None:
        """Take over this instance's unfinished steps, then keep driving jobs until stopped."""
        self._loop_task = asyncio.create_task(self._run(), name="job-runner")
        self._renew_task = asyncio.create_task(self._renew_forever(), name="job-leases")

    def wake(self) -> None:
        """A job became due earlier than planned (e.g. a new one was created)."""
        self._wake.set()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop claiming; give steps in hand `grace` seconds, then cancel and release them."""
        for task in (self._loop_task, self._renew_task):
            if task is not None:
                task.cancel()
        if self._steps and grace > 0:
            await asyncio.wait(set(self._steps), timeout=grace)
        steps = list(self._steps)
        for task in steps:
            task.cancel()
        await asyncio.gather(
            *(t for t in (self._loop_task, self._renew_task, *steps) if t is not None),
            return_exceptions=True,
        )
        # Whatever was cut short is due again at once, for this process's next life or another.
        with contextlib.suppress(Exception):
            released = await self._store.release_leases(self.owner, self._clock())
            if released:
                log.info("released %d unfinished steps", released)

    async def recover(self) -> None:
        """Make every step an earlier life of this instance held due now (it died with them)."""
        taken = await self._store.release_leases(self._owner_prefix, self._clock())
        if taken:
            # Counted as takeovers when claimed (see _note_takeovers), like any other's.
            log.warning("taking over %d steps left by this instance's previous run", taken)

    def _expects_callback(self, job: Job) -> bool:
        provider = self._providers.get(job.provider)
        return (
            self._settings.callback_base_url is not None
            and job.callback_token is not None
            and isinstance(provider, AcceptsCallbacks)
        )

    def _callback_url(self, job: Job) -> str | None:
        if not self._expects_callback(job):
            return None
        base = self._settings.callback_base_url
        return f"{base}/callbacks/{job.provider}/{job.id}/{job.callback_token}"

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        await self.recover()
        await run_passes(
            "job runner",
            self._claim_and_start,
            self._wake,
            idle=self._settings.idle_wake_seconds,
            next_due=self._next_due,
            clock=self._clock,
        )

    async def run_due(self) -> None:
        """Do every step that is due now and wait for them (one deterministic pass)."""
        started = await self._claim_and_start()
        await asyncio.gather(*started)

    async def _claim_and_start(self) -> list[asyncio.Task[None]]:
        started: list[asyncio.Task[None]] = []
        free = self._settings.max_parallel_steps - len(self._steps)
        if free <= 0:
            return started
        now = self._clock()
        until = now + self._settings.lease_seconds
        batches: dict[str, list[Job]] = {}
        for job in self._note_takeovers(
            await self._store.claim_steps(self.owner, now, until, free)
        ):
            provider = self._providers.get(job.provider)
            if job.state is JobState.RUNNING and isinstance(provider, BatchPolling):
                batches.setdefault(job.provider, []).append(job)
            else:
                started.append(self._start_step(self._step(job)))
        for name, jobs in batches.items():
            # Every running job of a batch provider rides along once any is due: asking about
            # one more job in a round costs nothing, and each round keeps them all current.
            horizon = now + self._providers[name].poll_interval
            jobs += await self._store.claim_riders(name, self.owner, horizon, until, 1000)
            started.append(self._start_step(self._poll_batch(name, jobs)))
        free = self._settings.max_parallel_steps - len(self._steps)
        if free > 0:
            for job in self._note_takeovers(
                await self._store.claim_deliveries(self.owner, now, until, free)
            ):
                started.append(self._start_step(self._deliver(job)))
        if started:
            log.debug("runner pass started %d steps", len(started))
        return started

    def _note_takeovers(self, claimed: list[Job]) -> list[Job]:
        """Log and count the claims that took a step over from a lapsed lease; return all."""
        taken = [job for job in claimed if job.taken_from not in (None, self.owner)]
        for job in taken:
            log.info("job %s taken over from %s (its lease lapsed)", job.id, job.taken_from)
        if taken:
            self._metrics.leases_taken_over(len(taken))
        return claimed

    async def _next_due(self) -> float | None:
        """When the next step is due; None at full capacity, when only a step's end (or a new
        job) is worth waking for."""
        if len(self._steps) >= self._settings.max_parallel_steps:
            return None
        return await self._store.next_due()

    async def _renew_forever(self) -> None:
        period = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            if self._steps:
                try:
                    until = self._clock() + self._settings.lease_seconds
                    await self._store.renew(self.owner, until)
                except Exception:
                    log.exception("could not renew the leases of steps in hand")

    def _start_step(self, step: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await step
            except asyncio.CancelledError:
                raise
            except Exception:
                # The claim stays until its lease lapses; then the step is simply tried again.
                log.exception("a job step failed; it will be retried when its lease lapses")
            finally:
                self._steps.discard(task)
                # The step may have made its job due sooner than the loop planned to look.
                self._wake.set()

        task = asyncio.create_task(guarded())
        self._steps.add(task)
        return task

    # -- submit, poll, settle -------------------------------------------------------------------

    async def _step(self, job: Job) -> None:
        log_job(job.id)
        started = time.perf_counter()
        match job.state:
            case JobState.QUEUED:
                finished = await self._submit(job)
            case JobState.SUBMITTING:
                finished = await self._recover_submit(job)
            case JobState.RUNNING:
                finished = await self._poll(job)
            case JobState.SUCCEEDED | JobState.FAILED | JobState.CANCELLED:
                finished = None
            case _:
                assert_never(job.state)
        self._metrics.step_finished(_STEP_KINDS[job.state], time.perf_counter() - started)
        if finished is not None:
            await self._deliver_now(finished.id)

    async def _submit(self, job: Job) -> Job | None:
        provider = self._providers.get(job.provider)
        if provider is None:
            return await self._fail(job, Guard.claimed(job), _provider_gone(job.provider))
        # Persisted before the network call: a crash from here on is visible to whoever
        # claims the step after the lease lapses.
        sending = await self._store.apply(
            Guard.claimed(job), job.id, keep_lease=True, state=JobState.SUBMITTING
        )
        if sending is None:
            return None
        callback_url = self._callback_url(job)
        try:
            if callback_url is not None and isinstance(provider, AcceptsCallbacks):
                submission = await provider.submit(job.request, callback_url=callback_url)
            else:
                submission = await provider.submit(job.request)
        except ProviderError as exc:
            log.warning("job %s: submit refused: %s", job.id, exc.failure.code)
            return await self._fail(sending, Guard.claimed(sending), exc.failure)
        now = self._clock()
        running = await self._store.apply(
            Guard.claimed(sending),
            job.id,
            state=JobState.RUNNING,
            provider_job_id=submission.provider_job_id,
            provider_status=submission.status,
            estimated_seconds=submission.estimated_seconds,
            submitted_at=now,
            deadline_at=now + self._settings.deadline_seconds,
            next_poll_at=now + _first_poll_delay(provider, submission.estimated_seconds),
        )
        if running is None:
            await self._overtaken_submit(job, provider, submission.provider_job_id)
            return None
        log.info("job %s submitted to %s as %s", job.id, job.provider, submission.provider_job_id)
        await self._show(running)
        return None

    async def _overtaken_submit(self, job: Job, provider: Provider, task_id: str) -> None:
        """The job changed while it was being sent: adopted by a callback, or cancelled."""
        current = await self._store.get(job.id)
        if current is None or current.state is not JobState.CANCELLED:
            return
        log.info("job %s was cancelled while being submitted; asking the provider to stop", job.id)
        if isinstance(provider, Cancellable):
            with contextlib.suppress(ProviderError):
                await provider.cancel(task_id)

    async def _recover_submit(self, job: Job) -> Job | None:
        """A submit whose process died: the provider may or may not have the job."""
        wait_until = job.created_at + self._settings.deadline_seconds
        if self._expects_callback(job) and self._clock() < wait_until:
            # The provider's callback names its task and recovers the job; until the deadline.
            log.warning("job %s was being submitted at a crash; awaiting its callback", job.id)
            await self._store.apply(Guard.claimed(job), job.id, next_poll_at=wait_until)
            return None
        log.warning("job %s was being submitted when its process stopped; releasing it", job.id)
        return await self._fail(job, Guard.claimed(job), RESTART_DURING_SUBMIT)

    async def _poll(self, job: Job) -> Job | None:
        provider = self._providers.get(job.provider)
        if provider is None:
            return await self._fail(job, Guard.claimed(job), _provider_gone(job.provider))
        if self._past_deadline(job):
            return await self._fail(job, Guard.claimed(job), TIMED_OUT)
        assert job.provider_job_id is not None
        try:
            update = await provider.poll(job.provider_job_id)
        except ProviderError as exc:
            return await self._poll_failed(job, provider, exc.failure)
        return await self._apply(job, Guard.claimed(job), provider, update)

    async def _poll_batch(self, provider_name: str, jobs: list[Job]) -> None:
        """One request for every running job of a provider that can answer for many at once."""
        provider = self._providers[provider_name]
        assert isinstance(provider, BatchPolling)
        started = time.perf_counter()
        finished: list[Job | None] = []
        live: dict[str, Job] = {}
        for job in jobs:
            if self._past_deadline(job):
                finished.append(await self._fail(job, Guard.claimed(job), TIMED_OUT))
            elif job.provider_job_id:
                live[job.provider_job_id] = job
        if live:
            try:
                updates = await provider.poll_many(list(live))
            except ProviderError as exc:
                for job in live.values():
                    await self._poll_failed(job, provider, exc.failure)
                updates = None
            for task_id, job in live.items() if updates is not None else ():
                assert updates is not None
                update = updates.get(task_id) or JobUpdate(
                    state="pending", provider_status=job.provider_status or ""
                )
                finished.append(await self._apply(job, Guard.claimed(job), provider, update))
        self._metrics.step_finished("poll_batch", time.perf_counter() - started)
        for done in finished:
            if done is not None:
                await self._deliver_now(done.id)

    def _past_deadline(self, job: Job) -> bool:
        if job.deadline_at is None or self._clock() < job.deadline_at:
            return False
        log.warning("job %s passed its deadline", job.id)
        return True

    async def _apply(
        self, job: Job, guard: Guard, provider: Provider, update: JobUpdate
    ) -> Job | None:
        """Act on what the provider said about a running job; the job if it just finished."""
        match update.state:
            case "pending":
                now_running = await self._store.apply(
                    guard,
                    job.id,
                    provider_status=update.provider_status,
                    estimated_seconds=update.estimated_seconds or job.estimated_seconds,
                    poll_failures=0,
                    next_poll_at=self._clock() + provider.poll_interval,
                )
                if now_running is not None and update.provider_status != job.provider_status:
                    await self._show(now_running)
                return None
            case "succeeded":
                done = await self._store.apply(
                    guard,
                    job.id,
                    **finish_cols(
                        JobState.SUCCEEDED,
                        self._clock(),
                        provider_status=update.provider_status,
                        result_url=update.video_url,
                        provider_cost=update.provider_cost,
                        width=update.width,
                        height=update.height,
                        provider_video_id=update.provider_video_id,
                    ),
                )
                if done is not None:
                    # Credits stay held until the video reaches the member (see _delivered).
                    log.info("job %s succeeded", job.id)
                return done
            case "failed":
                failure = update.failure or FALLBACK_FAILURE
                return await self._fail(job, guard, failure, provider_status=update.provider_status)
            case _:
                assert_never(update.state)

    async def _poll_failed(
        self, job: Job, provider: Provider, failure: ProviderFailure
    ) -> Job | None:
        if not failure.retryable:
            log.warning("job %s: status check refused: %s", job.id, failure.code)
            return await self._fail(job, Guard.claimed(job), failure)
        failures = job.poll_failures + 1
        backoff = min(self._settings.max_poll_backoff, provider.poll_interval * 2**failures)
        delay = max(failure.retry_after or 0.0, self._rng.uniform(provider.poll_interval, backoff))
        log.info("job %s: status check failed (%s); next try in %.1fs", job.id, failure.code, delay)
        await self._store.apply(
            Guard.claimed(job),
            job.id,
            poll_failures=failures,
            next_poll_at=self._clock() + delay,
        )
        return None

    async def _fail(
        self,
        job: Job,
        guard: Guard,
        failure: ProviderFailure,
        *,
        provider_status: str | None = None,
    ) -> Job | None:
        """End the job as failed and release its hold, in one transaction; None if overtaken."""
        cols = finish_cols(
            JobState.FAILED,
            self._clock(),
            failure_code=failure.code,
            failure_message=failure.member_message,
            provider_status=provider_status or job.provider_status,
        )
        failed = await self._db.run(self._fail_in, job.id, guard, f"refund: {failure.code}", cols)
        if failed is None:
            return None
        log.info("job %s failed (%s); %d credits released", job.id, failure.code, job.price)
        if failure.code == CONTENT_POLICY and self._on_refused is not None:
            try:
                await self._on_refused(failed, failure)
            except Exception:
                log.exception("job %s: could not record the content refusal", job.id)
        return failed

    async def _fail_in(
        self, tx: Transaction, job_id: str, guard: Guard, reason: str, cols: dict[str, Any]
    ) -> Job | None:
        failed = await transition_in(tx, job_id, guard, **cols)
        if failed is not None:
            await self._ledger.resolve_in(tx, job_id, "released", reason)
        return failed

    # -- callbacks ------------------------------------------------------------------------------

    async def accept_callback(
        self, provider_name: str, job_id: str, token: str, body: object
    ) -> str:
        """Apply a provider's callback; return what happened. Raises CallbackRefused."""
        job = await self._store.get(job_id)
        provider = self._providers.get(provider_name)
        if (
            job is None
            or job.provider != provider_name
            or job.callback_token is None
            or not hmac.compare_digest(job.callback_token, token)
        ):
            raise CallbackRefused("unknown job or wrong token")
        if not isinstance(provider, AcceptsCallbacks):
            raise CallbackRefused("this provider does not send callbacks")
        try:
            task_id, update = provider.parse_callback(body)
        except ValueError as exc:
            raise CallbackRefused(f"malformed body: {exc}") from None
        if job.state.terminal:
            return "already settled"
        if job.provider_job_id is None:
            if job.state is not JobState.SUBMITTING:
                raise CallbackRefused("job was never submitted")
            # Either the submit answer is still on its way, or a crash lost it: adopt the task.
            job = await self._adopt(job, task_id)
            if job.state.terminal:
                return "already settled"
        if job.provider_job_id != task_id:
            raise CallbackRefused("task id does not match the job")
        if update.state == "pending":
            return "still running"
        # Guarded by state, not by a claim: it overtakes any poll of this job in flight.
        await self._apply(job, Guard.in_states(JobState.RUNNING), provider, update)
        self._wake.set()
        return update.state

    async def _adopt(self, job: Job, task_id: str) -> Job:
        """Record the provider's task for a job still marked as submitting; return the job now."""
        now = self._clock()
        adopted = await self._store.apply(
            Guard.in_states(JobState.SUBMITTING),
            job.id,
            state=JobState.RUNNING,
            provider_job_id=task_id,
            submitted_at=now,
            deadline_at=job.created_at + self._settings.deadline_seconds,
            next_poll_at=now,
        )
        if adopted is not None:
            log.info("job %s recovered from a callback as task %s", job.id, task_id)
            return adopted
        current = await self._store.get(job.id)
        assert current is not None
        return current

    # -- delivery -------------------------------------------------------------------------------

    async def _deliver_now(self, job_id: str) -> None:
        """Deliver a job that just finished, in the step that finished it, if it can be claimed."""
        now = self._clock()
        for job in await self._store.claim_deliveries(
            self.owner, now, now + self._settings.lease_seconds, 1, job_id
        ):
            await self._deliver(job)

    async def _deliver(self, job: Job) -> None:
        """Fetch the result (if any) and post the outcome, once; the claim is on delivery."""
        log_job(job.id)
        started = time.perf_counter()
        video: ResultFile | None = None
        try:
            if job.state is JobState.SUCCEEDED and job.result_url:
                # Said on the card only when the download takes a while: most results arrive
                # within a second, and the card then goes straight to the video.
                phase = None
                if not job.result_url.startswith("file://"):
                    phase = asyncio.create_task(self._show_later(job, "downloading"))
                try:
                    video = await self._fetch_result(job)
                except ResultMissing as exc:
                    await self._result_missing(job, str(exc))
                    return
                finally:
                    if phase is not None:
                        phase.cancel()
                if video is not None and video.note:
                    noted = await self._store.apply(
                        Guard.claimed(job),
                        job.id,
                        keep_lease=True,
                        delivery_note=note_to_column(video.note),
                    )
                    if noted is None:
                        return
                    job = noted
            await self._post(job, video)
        finally:
            self._metrics.step_finished("deliver", time.perf_counter() - started)
            if video is not None:
                video.path.unlink(missing_ok=True)
                if video.poster is not None:
                    video.poster.unlink(missing_ok=True)

    async def _post(self, job: Job, video: ResultFile | None) -> None:
        try:
            delivery, message_id = await self._presenter.deliver(
                job, video, may_have_sent=job.may_have_sent
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, DeliveryRefused):
                log.exception("job %s: delivery failed", job.id)
            if job.delivery_attempts < self._settings.delivery_attempts:
                delay = self._settings.delivery_retry_seconds * 3 ** (job.delivery_attempts - 1)
                log.info("job %s: outcome not posted (%s); again in %.0fs", job.id, exc, delay)
                # Discord's own refusal means nothing was posted; any other end (a timeout, a
                # dropped connection) may hide a post: stay 'delivering' so the next look first.
                refused = isinstance(exc, DeliveryRefused) and exc.code is not None
                await self._store.apply(
                    Guard.claimed(job),
                    job.id,
                    delivery_state=DeliveryState.PENDING if refused else DeliveryState.DELIVERING,
                    deliver_at=self._clock() + delay,
                )
                return
            await self._post_privately(job, video, exc)
            return
        await self._delivered(job, delivery, message_id)

    async def _post_privately(self, job: Job, video: ResultFile | None, cause: Exception) -> None:
        """The channel would not take it: a direct message, else keep it for /video status."""
        try:
            delivery, message_id = await self._presenter.deliver_privately(job, video)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "job %s: could not post its outcome in channel %s (%s) nor by direct message "
                "(%s); kept for /video status",
                job.id,
                job.channel_id,
                cause,
                exc,
            )
            await self._delivered(job, None, None)
            return
        log.warning(
            "job %s: could not post its outcome in channel %s (%s); sent by direct message",
            job.id,
            job.channel_id,
            cause,
        )
        await self._delivered(job, delivery, message_id)

    async def _delivered(self, job: Job, delivery: Delivery | None, message_id: int | None) -> None:
        """Record the outcome as delivered (or parked, with no delivery) and charge for it."""
        state = DeliveryState.DELIVERED if delivery is not None else DeliveryState.PARKED
        cols: dict[str, Any] = {"delivery_state": state, "deliver_at": None}
        if delivery is not None:
            cols.update(delivered_at=self._clock(), delivery=delivery, result_message_id=message_id)
        done = await self._db.run(self._delivered_in, job, cols)
        if done is None:
            log.warning("job %s: delivery lost its claim before it was recorded", job.id)
            return
        kind = delivery.value if delivery is not None else "parked"
        log.info("job %s delivered (%s)", job.id, kind)

    async def _delivered_in(self, tx: Transaction, job: Job, cols: dict[str, Any]) -> Job | None:
        done = await transition_in(tx, job.id, Guard.claimed(job), **cols)
        if done is not None and job.state is JobState.SUCCEEDED:
            # Charged when the video reached the member (or was kept for them), in the same
            # transaction that records it: never charged for a video that could not be had.
            await self._ledger.resolve_in(tx, job.id, "captured", "video delivered")
        return done

    async def _result_missing(self, job: Job, reason: str) -> None:
        """Ask the provider for a fresh result URL a few times; then fail and refund."""
        provider = self._providers.get(job.provider)
        if (
            job.result_fetches < self._settings.result_fetch_attempts
            and provider is not None
            and job.provider_job_id
        ):
            url = job.result_url
            with contextlib.suppress(ProviderError):
                update = await provider.poll(job.provider_job_id)
                if update.state == "succeeded" and update.video_url:
                    url = update.video_url
            delay = self._settings.delivery_retry_seconds * 2**job.result_fetches
            log.info(
                "job %s: result could not be fetched (%s); asked the provider again, next try in "
                "%.0fs",
                job.id,
                reason,
                delay,
            )
            await self._store.apply(
                Guard.claimed(job),
                job.id,
                result_url=url,
                result_fetches=job.result_fetches + 1,
                delivery_state=DeliveryState.PENDING,
                deliver_at=self._clock() + delay,
            )
            return
        if await self._ledger.captured(job.id):
            # A kept outcome sent again with "Post here" was paid for when it was kept: calling
            # it failed now would promise a refund that cannot happen. Keep it again instead.
            log.warning("job %s: kept result could not be fetched again (%s)", job.id, reason)
            await self._delivered(job, None, None)
            return
        log.warning("job %s: result could not be fetched (%s); refunding", job.id, reason)
        if await self._fail(job, Guard.claimed(job), RESULT_UNAVAILABLE) is not None:
            await self._deliver_now(job.id)

    async def _fetch_result(self, job: Job) -> ResultFile | None:
        """Fetch the result; re-encode it when over the upload limit; None: link only.

        Raises ResultMissing when the result is gone or could not be reached.
        """
        assert job.result_url is not None
        self._work_dir.mkdir(parents=True, exist_ok=True)
        path = _temp_path(self._work_dir, job.id, ".mp4")
        cap = max(self._settings.max_download_bytes, job.upload_limit)
        try:
            if job.result_url.startswith("file://"):
                size = await asyncio.to_thread(copy_local_result, job.result_url, path, cap)
            else:
                size = await download(self._http, job.result_url, path, max_bytes=cap)
        except DownloadTooLarge:
            # It exists, it is just too big to carry: the member gets its link.
            log.info("job %s: result is larger than the %d-byte download cap", job.id, cap)
            path.unlink(missing_ok=True)
            return None
        except httpx.HTTPStatusError as exc:
            path.unlink(missing_ok=True)
            raise ResultMissing(f"HTTP {exc.response.status_code}") from None
        except (httpx.HTTPError, OSError) as exc:
            path.unlink(missing_ok=True)
            raise ResultMissing(type(exc).__name__) from None
        if size <= job.upload_limit:
            return ResultFile(path=path, size=size)
        return await self._fit(job, path, size)

    async def _fit(self, job: Job, path: Path, size: int) -> ResultFile:
        """Make an oversize result fit the upload limit, or fall back to a link and a poster."""
        limit = job.upload_limit
        if self._fitter is not None:
            fitted = _temp_path(self._work_dir, job.id, "-fit.mp4")
            outcome = await asyncio.to_thread(self._fitter.fit, path, fitted, limit)
            if outcome is not None:
                path.unlink(missing_ok=True)
                log.info("job %s: re-encoded %d -> %d bytes", job.id, size, outcome.size)
                sizes = {"original": _mib(size), "size": _mib(outcome.size), "limit": _mib(limit)}
                if outcome.width and outcome.height:
                    note = Text(
                        "delivery.note_resized",
                        width=outcome.width,
                        height=outcome.height,
                        **sizes,
                    )
                else:
                    note = Text("delivery.note_reencoded", **sizes)
                return ResultFile(path=fitted, size=outcome.size, note=note)
            fitted.unlink(missing_ok=True)
        poster = None
        if self._fitter is not None:
            poster_path = _temp_path(self._work_dir, job.id, "-poster.jpg")
            poster = await asyncio.to_thread(self._fitter.poster, path, poster_path)
        return ResultFile(
            path=path,
            size=size,
            attachable=False,
            poster=poster,
            note=Text("delivery.note_link", size=_mib(size), limit=_mib(limit)),
        )

    async def _show_later(self, job: Job, phase: str) -> None:
        await asyncio.sleep(SLOW_PHASE_SECONDS)
        await self._show(job, phase)

    async def _show(self, job: Job, phase: str | None = None) -> None:
        try:
            await self._presenter.job_changed(job, phase)
        except Exception:
            log.exception("job %s: could not refresh its card", job.id)


def _temp_path(folder: Path, job_id: str, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(dir=folder, prefix=f"{job_id}-", suffix=suffix)
    os.close(fd)
    return Path(name)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def _first_poll_delay(provider: Provider, estimated_seconds: float | None) -> float:
    """Wait for most of the provider's own estimate before the first poll, within reason.

    A batch provider is asked about every job each round anyway, so its jobs start at once.
    """
    interval = provider.poll_interval
    if not estimated_seconds or isinstance(provider, BatchPolling):
        return interval
    # Estimates are rough ("2-5min"): never skip more than a few regular polls.
    return min(max(interval, estimated_seconds * 0.8), interval * FIRST_POLL_MAX_INTERVALS)


def _provider_gone(name: str) -> ProviderFailure:
    return ProviderFailure(
        code="provider_unavailable",
        member_message=f"The video service `{name}` is no longer configured on this bot.",
        retryable=False,
    )
