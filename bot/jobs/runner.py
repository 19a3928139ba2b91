"""The one loop that submits, polls, settles and delivers every job, resuming after restarts."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import random
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from bot.db import Database
from bot.i18n import Text
from bot.jobs.models import Delivery, Job, JobState, ResultFitter, note_to_column
from bot.jobs.store import JobStore
from bot.ledger import Ledger
from bot.media import DownloadTooLarge, copy_local_result, download
from bot.providers.base import (
    AcceptsCallbacks,
    BatchPolling,
    JobUpdate,
    Provider,
    ProviderError,
    ProviderFailure,
)

log = logging.getLogger(__name__)

FIRST_POLL_MAX_INTERVALS = 6
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


class CallbackRefused(Exception):
    """A callback that must change nothing (wrong token, unknown job, malformed body)."""


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

    async def deliver(self, job: Job, video: ResultFile | None) -> tuple[Delivery, int | None]:
        """Tell the member the outcome; return how, and the id of the message that did."""
        ...


@dataclass(frozen=True)
class RunnerSettings:
    """Timing knobs of the runner."""

    deadline_seconds: float = 900.0
    max_download_bytes: int = 200 * 1024 * 1024
    max_parallel_steps: int = 32
    idle_wake_seconds: float = 30.0
    max_poll_backoff: float = 120.0
    delivery_retry_seconds: float = 15.0
    # Base of the URLs providers post results to; None means every job is polled.
    callback_base_url: str | None = None


class JobRunner:
    """Drives jobs from the database; the database, not this object, is the source of truth."""

    def __init__(
        self,
        db: Database,
        store: JobStore,
        ledger: Ledger,
        providers: Mapping[str, Provider],
        presenter: JobPresenter,
        http: httpx.AsyncClient,
        *,
        settings: RunnerSettings,
        clock: Callable[[], float],
        work_dir: Path,
        wake: asyncio.Event | None = None,
        fitter: ResultFitter | None = None,
        on_refused: Callable[[Job, ProviderFailure], Awaitable[None]] | None = None,
    ) -> None:
        self._db = db
        self._store = store
        self._ledger = ledger
        self._providers = providers
        self._presenter = presenter
        self._http = http
        self._settings = settings
        self._clock = clock
        self._work_dir = work_dir
        self._wake = wake or asyncio.Event()
        self._fitter = fitter
        # Told when a provider refuses a job on content grounds (for the moderators' log).
        self._on_refused = on_refused
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._delivery_not_before: dict[str, float] = {}
        self._limit = asyncio.Semaphore(settings.max_parallel_steps)
        self._loop_task: asyncio.Task[None] | None = None
        self._rng = random.Random()

    def start(self) -> None:
        """Recover unfinished work, then keep driving jobs until stopped."""
        self._loop_task = asyncio.create_task(self._run(), name="job-runner")

    def wake(self) -> None:
        """A job became due earlier than planned (e.g. a new one was created)."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop and any step in progress; unfinished work resumes on next start."""
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def recover(self) -> None:
        """Settle jobs a crash left between 'submit sent' and 'provider id saved'.

        A job whose provider will call back is kept: the callback names the provider's task and
        recovers it. Without a callback by the job's deadline it is released like the others.
        """
        for job in await self._store.in_state(JobState.SUBMITTING):
            if self._expects_callback(job):
                log.warning(
                    "job %s was being submitted at the crash; awaiting its callback", job.id
                )
                continue
            log.warning("job %s was being submitted when the bot stopped; releasing it", job.id)
            await self._finish_failed(job, RESTART_DURING_SUBMIT, expect=(JobState.SUBMITTING,))

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

    async def _run(self) -> None:
        await self.recover()
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job runner tick failed; continuing")
            await self._sleep_until_due()

    async def run_due(self) -> None:
        """Do every step that is due now and wait for them (one deterministic pass)."""
        tasks = await self._tick()
        await asyncio.gather(*tasks)

    async def _tick(self) -> list[asyncio.Task[None]]:
        # Cleared before anything is read, so a wake-up set during or after this pass (a step
        # ending, a callback, a new job) makes the next sleep return at once instead of lost.
        self._wake.clear()
        now = self._clock()
        spawned: list[asyncio.Task[None] | None] = []
        batched: set[str] = set()
        for job in await self._store.due(now):
            provider = self._providers.get(job.provider)
            if job.state is JobState.RUNNING and isinstance(provider, BatchPolling):
                batched.add(job.provider)
            else:
                spawned.append(self._spawn(job.id, self._advance(job)))
        for name in batched:
            # Jobs due within the next interval ride along, so their schedules converge and
            # each round costs one request rather than one per slightly different due time.
            horizon = now + self._providers[name].poll_interval
            jobs = [
                job
                for job in await self._store.running(name, due_before=horizon)
                if job.id not in self._busy
            ]
            if jobs:
                spawned.append(self._spawn_batch(jobs, self._poll_batch(name, jobs)))
        spawned += [
            self._spawn(job.id, self._deliver(job))
            for job in await self._store.undelivered()
            if self._delivery_not_before.get(job.id, 0.0) <= now
        ]
        spawned += [
            self._spawn(
                job.id,
                self._finish_failed(job, RESTART_DURING_SUBMIT, expect=(JobState.SUBMITTING,)),
            )
            for job in await self._store.in_state(JobState.SUBMITTING)
            if job.id not in self._busy and now >= job.created_at + self._settings.deadline_seconds
        ]
        started = [task for task in spawned if task is not None]
        if started:
            log.debug("runner tick started %d steps", len(started))
        return started

    async def _sleep_until_due(self) -> None:
        now = self._clock()
        # A job with a step in flight is skipped: its stored time is stale until the step ends,
        # and the step's end wakes the loop anyway.
        due_times = [at for job_id, at in await self._store.schedule() if job_id not in self._busy]
        due_times += [
            at for job_id, at in self._delivery_not_before.items() if job_id not in self._busy
        ]
        timeout = min([self._settings.idle_wake_seconds, *(at - now for at in due_times)])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(timeout, 0.01))

    def _spawn(self, job_id: str, step: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        if job_id in self._busy:
            step.close()
            return None
        self._busy.add(job_id)

        async def guarded() -> None:
            try:
                async with self._limit:
                    await step
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("step for job %s failed", job_id)
            finally:
                self._busy.discard(job_id)
                # A finished step may have made more work due (e.g. a result to deliver).
                self._wake.set()

        task = asyncio.create_task(guarded(), name=f"job-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _spawn_batch(
        self, jobs: list[Job], step: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None] | None:
        """Run one step covering several jobs, each marked busy until it ends."""
        ids = [job.id for job in jobs]
        self._busy.update(ids)

        async def release_all() -> None:
            try:
                await step
            finally:
                self._busy.difference_update(ids)

        key = f"batch:{jobs[0].provider}:{ids[0]}"
        return self._spawn(key, release_all())

    async def _advance(self, job: Job) -> None:
        if job.state is JobState.QUEUED:
            await self._submit(job)
        elif job.state is JobState.RUNNING:
            await self._poll(job)

    async def _submit(self, job: Job) -> None:
        provider = self._providers.get(job.provider)
        if provider is None:
            await self._finish_failed(job, _provider_gone(job.provider))
            return
        async with self._db.transaction() as tx:
            # Persisted before the network call: a crash from here on is visible at restart.
            if not await self._store.update(
                tx, job.id, expect=(JobState.QUEUED,), state=JobState.SUBMITTING
            ):
                return
        callback_url = self._callback_url(job)
        try:
            if callback_url is not None and isinstance(provider, AcceptsCallbacks):
                submission = await provider.submit(job.request, callback_url=callback_url)
            else:
                submission = await provider.submit(job.request)
        except ProviderError as exc:
            log.warning("job %s: submit refused: %s", job.id, exc.failure.code)
            await self._finish_failed(job, exc.failure, expect=(JobState.SUBMITTING,))
            return
        now = self._clock()
        async with self._db.transaction() as tx:
            await self._store.update(
                tx,
                job.id,
                expect=(JobState.SUBMITTING,),
                state=JobState.RUNNING,
                provider_job_id=submission.provider_job_id,
                provider_status=submission.status,
                estimated_seconds=submission.estimated_seconds,
                submitted_at=now,
                deadline_at=now + self._settings.deadline_seconds,
                next_poll_at=now + _first_poll_delay(provider, submission.estimated_seconds),
            )
            updated = await self._store.get_in(tx, job.id)
        log.info("job %s submitted to %s as %s", job.id, job.provider, submission.provider_job_id)
        await self._show(updated)

    async def _poll(self, job: Job) -> None:
        provider = self._providers.get(job.provider)
        if provider is None:
            await self._finish_failed(job, _provider_gone(job.provider))
            return
        if await self._past_deadline(job):
            return
        assert job.provider_job_id is not None
        try:
            update = await provider.poll(job.provider_job_id)
        except ProviderError as exc:
            await self._poll_failed(job, provider, exc.failure)
            return
        await self._apply(job, provider, update)

    async def _poll_batch(self, provider_name: str, jobs: list[Job]) -> None:
        """One request for every due job of a provider that can answer for many at once."""
        provider = self._providers[provider_name]
        assert isinstance(provider, BatchPolling)
        live = [job for job in jobs if not await self._past_deadline(job)]
        if not live:
            return
        ids = {job.provider_job_id: job for job in live if job.provider_job_id}
        try:
            updates = await provider.poll_many(list(ids))
        except ProviderError as exc:
            for job in live:
                await self._poll_failed(job, provider, exc.failure)
            return
        for task_id, job in ids.items():
            update = updates.get(task_id)
            if update is None:
                update = JobUpdate(state="pending", provider_status=job.provider_status or "")
            await self._apply(job, provider, update)

    async def _past_deadline(self, job: Job) -> bool:
        if job.deadline_at is None or self._clock() < job.deadline_at:
            return False
        log.warning("job %s passed its deadline", job.id)
        await self._finish_failed(job, TIMED_OUT)
        return True

    async def _apply(
        self, job: Job, provider: Provider, update: JobUpdate, *, deliver: bool = True
    ) -> None:
        """Act on what the provider said about a running job (from a poll or a callback)."""
        match update.state:
            case "pending":
                await self._still_running(job, provider, update)
            case "succeeded":
                await self._finish_succeeded(job, update, deliver=deliver)
            case "failed":
                failure = update.failure or ProviderFailure(
                    code="failed",
                    member_message="The video service could not make this video.",
                    retryable=False,
                )
                await self._finish_failed(
                    job, failure, provider_status=update.provider_status, deliver=deliver
                )

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
        await self._apply(job, provider, update, deliver=False)
        self._wake.set()
        return update.state

    async def _adopt(self, job: Job, task_id: str) -> Job:
        """Record the provider's task for a job still marked as submitting; return the job now."""
        now = self._clock()
        async with self._db.transaction() as tx:
            moved = await self._store.update(
                tx,
                job.id,
                expect=(JobState.SUBMITTING,),
                state=JobState.RUNNING,
                provider_job_id=task_id,
                submitted_at=now,
                deadline_at=job.created_at + self._settings.deadline_seconds,
                next_poll_at=now,
            )
            current = await self._store.get_in(tx, job.id)
        if moved:
            log.info("job %s recovered from a callback as task %s", job.id, task_id)
        return current

    async def _still_running(self, job: Job, provider: Provider, update: JobUpdate) -> None:
        async with self._db.transaction() as tx:
            await self._store.update(
                tx,
                job.id,
                expect=(JobState.RUNNING,),
                provider_status=update.provider_status,
                estimated_seconds=update.estimated_seconds or job.estimated_seconds,
                poll_failures=0,
                next_poll_at=self._clock() + provider.poll_interval,
            )
            updated = await self._store.get_in(tx, job.id)
        if update.provider_status != job.provider_status:
            await self._show(updated)

    async def _poll_failed(self, job: Job, provider: Provider, failure: ProviderFailure) -> None:
        if not failure.retryable:
            log.warning("job %s: status check refused: %s", job.id, failure.code)
            await self._finish_failed(job, failure)
            return
        failures = job.poll_failures + 1
        backoff = min(self._settings.max_poll_backoff, provider.poll_interval * 2**failures)
        delay = max(failure.retry_after or 0.0, self._rng.uniform(provider.poll_interval, backoff))
        log.info("job %s: status check failed (%s); next try in %.1fs", job.id, failure.code, delay)
        async with self._db.transaction() as tx:
            await self._store.update(
                tx,
                job.id,
                expect=(JobState.RUNNING,),
                poll_failures=failures,
                next_poll_at=self._clock() + delay,
            )

    async def _finish_succeeded(self, job: Job, update: JobUpdate, *, deliver: bool = True) -> None:
        async with self._db.transaction() as tx:
            moved = await self._store.update(
                tx,
                job.id,
                expect=(JobState.RUNNING,),
                state=JobState.SUCCEEDED,
                provider_status=update.provider_status,
                result_url=update.video_url,
                provider_cost=update.provider_cost,
                width=update.width,
                height=update.height,
                provider_video_id=update.provider_video_id,
                finished_at=self._clock(),
                next_poll_at=None,
            )
            if moved:
                await self._ledger.capture(tx, job.id)
            updated = await self._store.get_in(tx, job.id)
        if moved:
            log.info("job %s succeeded; %d credits captured", job.id, job.price)
            if deliver:
                await self._deliver(updated)

    async def _finish_failed(
        self,
        job: Job,
        failure: ProviderFailure,
        *,
        expect: tuple[JobState, ...] = (JobState.QUEUED, JobState.RUNNING),
        provider_status: str | None = None,
        deliver: bool = True,
    ) -> None:
        async with self._db.transaction() as tx:
            moved = await self._store.update(
                tx,
                job.id,
                expect=expect,
                state=JobState.FAILED,
                failure_code=failure.code,
                failure_message=failure.member_message,
                provider_status=provider_status or job.provider_status,
                finished_at=self._clock(),
                next_poll_at=None,
            )
            if moved:
                await self._ledger.release(tx, job.id, f"refund: {failure.code}")
            updated = await self._store.get_in(tx, job.id)
        if moved:
            log.info("job %s failed (%s); %d credits released", job.id, failure.code, job.price)
            if failure.code == CONTENT_POLICY and self._on_refused is not None:
                try:
                    await self._on_refused(updated, failure)
                except Exception:
                    log.exception("job %s: could not record the content refusal", job.id)
            if deliver:
                await self._deliver(updated)

    async def _deliver(self, job: Job) -> None:
        if job.delivered_at is not None:
            return
        video: ResultFile | None = None
        try:
            if job.state is JobState.SUCCEEDED and job.result_url:
                await self._show(job, phase="downloading")
                video = await self._fetch_result(job)
                if video is not None and video.note:
                    job = await self._note_delivery(job, video.note)
            delivery, message_id = await self._presenter.deliver(job, video)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: delivery failed; will retry", job.id)
            self._delivery_not_before[job.id] = (
                self._clock() + self._settings.delivery_retry_seconds
            )
            return
        finally:
            if video is not None:
                video.path.unlink(missing_ok=True)
                if video.poster is not None:
                    video.poster.unlink(missing_ok=True)
        self._delivery_not_before.pop(job.id, None)
        async with self._db.transaction() as tx:
            await self._store.update(
                tx,
                job.id,
                delivered_at=self._clock(),
                delivery=delivery,
                result_message_id=message_id,
            )
        log.info("job %s delivered (%s)", job.id, delivery.value)

    async def _note_delivery(self, job: Job, note: Text) -> Job:
        async with self._db.transaction() as tx:
            # Kept as a message key and its parameters: the card says it in the reader's language.
            await self._store.update(tx, job.id, delivery_note=note_to_column(note))
            return await self._store.get_in(tx, job.id)

    async def _fetch_result(self, job: Job) -> ResultFile | None:
        """Fetch the result; re-encode it when over the upload limit; None: link only."""
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
            log.info("job %s: result is larger than the %d-byte download cap", job.id, cap)
            path.unlink(missing_ok=True)
            return None
        except (httpx.HTTPError, OSError) as exc:
            log.warning("job %s: could not download the result (%s)", job.id, type(exc).__name__)
            path.unlink(missing_ok=True)
            return None
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
    """Wait for most of the provider's own estimate before the first poll, within reason."""
    interval = provider.poll_interval
    if not estimated_seconds:
        return interval
    # Estimates are rough ("2-5min"): never skip more than a few regular polls.
    return min(max(interval, estimated_seconds * 0.8), interval * FIRST_POLL_MAX_INTERVALS)


def _provider_gone(name: str) -> ProviderFailure:
    return ProviderFailure(
        code="provider_unavailable",
        member_message=f"The video service `{name}` is no longer configured on this bot.",
        retryable=False,
    )
