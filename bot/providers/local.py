"""A free provider on the bot's own machine: camera moves over the member's image or a title card.

Renders run in a process pool (spawn), so the event loop never waits on Pillow or x264. The task
table lives in memory only: after a restart every unknown job id is reported as lost, with a
failure the runner refunds.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from bot.camera import CameraMove, parse_directives
from bot.providers.base import (
    InvalidRequest,
    JobUpdate,
    ModelSpec,
    ProviderError,
    ProviderFailure,
    Submission,
    VideoRequest,
)
from bot.providers.validation import check_against_spec
from bot.render import ASPECTS, DURATIONS, RenderResult, RenderSpec, frame_size, render_clip
from bot.render.text import left_out

log = logging.getLogger(__name__)

ImageFetcher = Callable[[str], Awaitable[bytes]]
Renderer = Callable[[RenderSpec, Path], RenderResult]

_ASPECTS: Final = tuple(ASPECTS)
MODELS: Final[Mapping[str, ModelSpec]] = MappingProxyType(
    {
        "motion": ModelSpec(
            name="motion",
            kinds=("text", "image"),
            resolutions=("480p", "720p", "1080p"),
            default_resolution="720p",
            durations=DURATIONS,
            default_duration=5,
            aspect_ratios=MappingProxyType({"text": _ASPECTS, "image": _ASPECTS}),
            supports_seed=True,
            supports_negative_prompt=False,
            description=(
                "Free, made on the bot's own machine: camera moves over your image, or your "
                "prompt as a title card. No AI generation."
            ),
        )
    }
)
DEFAULT_ASPECT: Final = "16:9"

RENDER_LOST: Final = "local_render_lost"
RENDER_FAILED: Final = "local_render_failed"
RENDER_CRASHED: Final = "local_render_crashed"
IMAGE_UNAVAILABLE: Final = "local_image_unavailable"
IMAGE_REFUSED: Final = "local_image_refused"
PROVIDER_CLOSED: Final = "local_closed"

_LOST = ProviderFailure(
    code=RENDER_LOST,
    member_message=(
        "The bot restarted while this video was being rendered, so the render was lost. "
        "Please start it again."
    ),
    retryable=False,
    detail="job id unknown to this process: the bot restarted during rendering",
)
_FAILED_MESSAGE = (
    "The bot could not render this video. Try another image or prompt, or a lower resolution."
)
_CRASHED_MESSAGE = (
    "The bot's renderer stopped unexpectedly (perhaps out of memory) while making this video. "
    "Try again, perhaps at a lower resolution."
)
_DETAIL_LIMIT: Final = 500
# Seconds of work per output frame at each resolution on two cores, measured with
# bench/render_bench.py, plus the worker's start-up; a rough guide for the first poll.
_SECONDS_PER_FRAME: Final = {"480p": 0.012, "720p": 0.025, "1080p": 0.05}
_STARTUP_SECONDS: Final = 1.5
# Finished files older than this are removed on the next submit; the runner copies results
# within minutes of a job finishing.
RETENTION_SECONDS: Final = 24 * 3600


def camera_moves(request: VideoRequest) -> tuple[CameraMove, ...]:
    """The moves asked for: the `camera` option first, then bracketed prompt directives."""
    moves: list[CameraMove] = []
    if request.camera:
        try:
            moves.append(CameraMove(request.camera))
        except ValueError:
            log.warning("unknown camera move %r ignored", request.camera)
    moves.extend(move for move in parse_directives(request.prompt) if move not in moves)
    return tuple(moves)


def seed_for(request: VideoRequest) -> int:
    """The request's seed, or one derived from the prompt so the same prompt looks the same."""
    if request.seed is not None:
        return request.seed
    return zlib.crc32(request.prompt.encode("utf-8"))


@dataclass(frozen=True)
class _Task:
    """One render the pool was given."""

    future: Future[RenderResult]
    submitted: float  # time.monotonic()
    work_seconds: float  # the render itself
    estimated_seconds: float  # the render plus the queue ahead of it


def _failure_detail(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


class LocalProvider:
    """Renders camera-motion clips with Pillow and PyAV in a local process pool, for free."""

    name = "local"
    display_name = "Local camera motion"
    models: Mapping[str, ModelSpec] = MODELS
    default_model = "motion"

    def __init__(
        self,
        output_dir: Path,
        *,
        max_workers: int = 1,
        image_fetcher: ImageFetcher,
        poll_interval: float = 0.5,
        renderer: Renderer = render_clip,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.output_dir = output_dir
        self.poll_interval = poll_interval
        self._max_workers = max_workers
        self._fetch_image = image_fetcher
        # Must be a module-level function: the spawned worker imports it by name.
        self._renderer = renderer
        self._pool: ProcessPoolExecutor | None = None
        self._tasks: dict[str, _Task] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"LocalProvider(output_dir={str(self.output_dir)!r}, workers={self._max_workers})"

    # -- validation ---------------------------------------------------------------------------

    def validate(self, request: VideoRequest) -> None:
        """Refuse, naming what is supported, anything this renderer would ignore."""
        check_against_spec(self.display_name, self.models, request)
        if request.kind == "text" and request.image_url:
            raise InvalidRequest("Text-to-video takes no image; use image-to-video instead.")
        if request.num_inference_steps is not None:
            raise InvalidRequest(
                "Local camera motion does not take inference steps; leave them empty."
            )
        # Options other providers take; nothing here could honour them.
        if getattr(request, "end_image_url", None):
            raise InvalidRequest(
                "Local camera motion does not take an end frame; leave `end_image` empty."
            )
        if getattr(request, "cfg_scale", None) is not None:
            raise InvalidRequest("Local camera motion does not take a cfg_scale; leave it empty.")

    def left_out(self, request: VideoRequest) -> str:
        """What of a text prompt the title card cannot draw (emoji), so the card can say so."""
        return left_out(request.prompt) if request.kind == "text" else ""

    # -- submit ---------------------------------------------------------------------------------

    async def submit(self, request: VideoRequest) -> Submission:
        """Fetch the image if any, and hand the render to the pool."""
        self.validate(request)
        if self._closed:
            raise ProviderError(
                ProviderFailure(
                    PROVIDER_CLOSED, "The bot is shutting down; try again shortly.", True
                )
            )
        image = await self._image(request) if request.kind == "image" else None
        spec = self._spec(request, image)
        job_id = f"local-{uuid.uuid4().hex}"
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._sweep()
        future = self._start(spec, self.output_dir / f"{job_id}.mp4")
        work = _STARTUP_SECONDS + spec.frame_count * _SECONDS_PER_FRAME[request.resolution]
        # Renders still ahead in the queue add their share of the pool's time.
        ahead = sum(task.work_seconds for task in self._tasks.values() if not task.future.done())
        estimate = work + ahead / self._max_workers
        self._tasks[job_id] = _Task(future, time.monotonic(), work, estimate)
        log.info(
            "local job %s: %s %dx%d %ds, moves %s",
            job_id,
            spec.kind,
            spec.width,
            spec.height,
            spec.duration,
            ",".join(spec.moves) or "default",
        )
        return Submission(job_id, "queued", estimated_seconds=round(estimate, 1))

    def _spec(self, request: VideoRequest, image: bytes | None) -> RenderSpec:
        width, height = frame_size(request.resolution, request.aspect_ratio or DEFAULT_ASPECT)
        spec = self.models[request.model]
        # validate() refused "extend": no model here lists it.
        assert request.kind != "extend"
        return RenderSpec(
            kind=request.kind,
            width=width,
            height=height,
            duration=request.duration or spec.default_duration or DURATIONS[0],
            moves=camera_moves(request),
            text=request.prompt,
            image=image,
            seed=seed_for(request),
        )

    async def _image(self, request: VideoRequest) -> bytes:
        assert request.image_url is not None
        try:
            return await self._fetch_image(request.image_url)
        except InvalidRequest as exc:
            raise ProviderError(ProviderFailure(IMAGE_REFUSED, str(exc), False)) from exc
        except Exception as exc:
            raise ProviderError(
                ProviderFailure(
                    IMAGE_UNAVAILABLE,
                    "The bot could not download the image. Try again in a moment.",
                    True,
                    detail=_failure_detail(exc),
                )
            ) from exc

    def _start(self, spec: RenderSpec, path: Path) -> Future[RenderResult]:
        """Submit to the pool, replacing it once if a crashed worker has broken it."""
        for attempt in range(2):
            try:
                return self._executor().submit(self._renderer, spec, path)
            except BrokenProcessPool:
                log.warning("render pool broken; starting a new one (attempt %d)", attempt + 1)
                self._drop_pool()
        raise ProviderError(
            ProviderFailure(RENDER_CRASHED, _CRASHED_MESSAGE, True, detail="pool keeps breaking")
        )

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a forked copy of a running event loop and its sockets is not safe.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self._max_workers, mp_context=context)
        return self._pool

    def _drop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _sweep(self) -> None:
        """Forget old finished tasks and remove files nobody fetched within the retention time."""
        stale = time.monotonic() - RETENTION_SECONDS
        for job_id, task in list(self._tasks.items()):
            if task.future.done() and task.submitted < stale:
                del self._tasks[job_id]
        cutoff = time.time() - RETENTION_SECONDS
        for path in self.output_dir.glob("local-*.mp4*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue

    # -- poll -----------------------------------------------------------------------------------

    async def poll(self, provider_job_id: str) -> JobUpdate:
        """Where a render stands; an id this process never started was lost to a restart."""
        task = self._tasks.get(provider_job_id)
        if task is None:
            return JobUpdate(state="failed", provider_status="lost", failure=_LOST)
        future = task.future
        if not future.done():
            elapsed = time.monotonic() - task.submitted
            return JobUpdate(
                state="pending",
                provider_status="rendering" if future.running() else "queued",
                estimated_seconds=round(max(0.0, task.estimated_seconds - elapsed), 1),
            )
        try:
            error = future.exception()
        except CancelledError:
            return JobUpdate(state="failed", provider_status="cancelled", failure=_LOST)
        if error is not None:
            return self._failed(provider_job_id, error)
        result = future.result()
        if not result.path.is_file():
            return JobUpdate(
                state="failed",
                provider_status="failed",
                failure=ProviderFailure(
                    RENDER_FAILED, _FAILED_MESSAGE, False, detail="finished file is missing"
                ),
            )
        return JobUpdate(
            state="succeeded",
            provider_status="completed",
            video_url=result.path.resolve().as_uri(),
            provider_cost=0.0,
            width=result.width,
            height=result.height,
        )

    def _failed(self, job_id: str, error: BaseException) -> JobUpdate:
        if isinstance(error, BrokenProcessPool):
            log.error("local job %s: the render worker died", job_id)
            failure = ProviderFailure(
                RENDER_CRASHED, _CRASHED_MESSAGE, True, detail=_failure_detail(error)
            )
            return JobUpdate(state="failed", provider_status="crashed", failure=failure)
        log.error("local job %s: render failed: %s", job_id, _failure_detail(error))
        failure = ProviderFailure(
            RENDER_FAILED, _FAILED_MESSAGE, False, detail=_failure_detail(error)
        )
        return JobUpdate(state="failed", provider_status="failed", failure=failure)

    # -- shutdown ---------------------------------------------------------------------------------

    async def cancel(self, provider_job_id: str) -> bool:
        """Stop a render that has not started; a running one finishes but is thrown away."""
        task = self._tasks.pop(provider_job_id, None)
        if task is None:
            return False
        return task.future.cancel()

    async def aclose(self) -> None:
        """Cancel queued renders and wait (off the loop) for running ones to stop."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
