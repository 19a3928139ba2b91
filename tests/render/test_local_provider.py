"""LocalProvider end to end: a real spawn process pool rendering real MP4s."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from bot.camera import CameraMove
from bot.providers.base import InvalidRequest, JobUpdate, Provider, ProviderError, VideoRequest
from bot.providers.local import (
    IMAGE_REFUSED,
    IMAGE_UNAVAILABLE,
    RENDER_CRASHED,
    RENDER_FAILED,
    RENDER_LOST,
    LocalProvider,
    camera_moves,
)
from bot.render import RenderResult, RenderSpec, render_clip
from tests.render.helpers import probe, red_square, target_photo

IMAGE_URL = "https://cdn.example/food.jpg"


def crash_on_request(spec: RenderSpec, path: Path) -> RenderResult:
    """Render normally, unless the prompt is "crash"."""
    if spec.text == "crash":
        # The worker process dies outright, as an out-of-memory kill would.
        os._exit(17)
    return render_clip(spec, path)


def text_request(**changes: object) -> VideoRequest:
    fields: dict[str, object] = {
        "kind": "text",
        "prompt": "[Zoom in] 떡볶이 한 접시",
        "model": "motion",
        "resolution": "480p",
        "duration": 5,
    }
    fields.update(changes)
    return VideoRequest(**fields)  # type: ignore[arg-type]


def image_request(**changes: object) -> VideoRequest:
    fields: dict[str, object] = {
        "kind": "image",
        "image_url": IMAGE_URL,
        "prompt": "Remove the cooking effect and only add camera movement. highlight the food",
    }
    fields.update(changes)
    return text_request(**fields)


class Images:
    """An image fetcher double: returns set bytes or raises, and records what it was asked."""

    def __init__(self, data: bytes | BaseException) -> None:
        self.data = data
        self.urls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if isinstance(self.data, BaseException):
            raise self.data
        return self.data


async def finish(provider: LocalProvider, job_id: str, timeout: float = 60) -> JobUpdate:
    """Poll as the runner would until the job leaves pending."""
    deadline = time.monotonic() + timeout
    while True:
        update = await provider.poll(job_id)
        if update.state != "pending":
            return update
        assert time.monotonic() < deadline, f"still {update.provider_status} after {timeout}s"
        await asyncio.sleep(provider.poll_interval)


@pytest.fixture
def images() -> Images:
    return Images(target_photo())


@pytest.fixture
async def provider(tmp_path: Path, images: Images) -> AsyncIterator[LocalProvider]:
    local = LocalProvider(tmp_path / "out", image_fetcher=images, poll_interval=0.05)
    yield local
    await local.aclose()


def file_of(update: JobUpdate) -> Path:
    assert update.video_url is not None
    parts = urlsplit(update.video_url)
    assert parts.scheme == "file"
    return Path(unquote(parts.path))


def test_it_is_a_provider(tmp_path: Path, images: Images) -> None:
    local: Provider = LocalProvider(tmp_path, image_fetcher=images)
    assert local.name == "local"
    assert local.display_name == "Local camera motion"
    spec = local.models["motion"]
    assert spec.kinds == ("text", "image")
    assert spec.resolutions == ("480p", "720p", "1080p")
    assert spec.default_resolution == "720p"
    assert spec.durations == (5, 10)
    assert spec.default_duration == 5
    assert spec.aspect_ratios["text"] == spec.aspect_ratios["image"] == ("16:9", "9:16", "1:1")
    assert spec.supports_seed
    assert not spec.supports_negative_prompt


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        (text_request(negative_prompt="blur"), "negative prompt"),
        (text_request(resolution="4k"), "480p, 720p, 1080p"),
        (text_request(duration=7), "Local camera motion makes clips of 5 or 10 seconds, not 7"),
        (text_request(aspect_ratio="4:3"), "16:9, 9:16, 1:1"),
        (text_request(model="v2"), "motion"),
        (text_request(num_inference_steps=20), "inference steps"),
        (text_request(image_url=IMAGE_URL), "no image"),
        (image_request(image_url=None), "needs an image"),
    ],
)
def test_requests_it_cannot_serve_are_refused(
    tmp_path: Path, images: Images, request_: VideoRequest, complaint: str
) -> None:
    with pytest.raises(InvalidRequest, match=complaint):
        LocalProvider(tmp_path, image_fetcher=images).validate(request_)


def test_moves_come_from_the_option_then_the_prompt() -> None:
    request = text_request(prompt="[Truck left, Pan right] coffee [zoom in]", camera="zoom_in")
    assert camera_moves(request) == (
        CameraMove.ZOOM_IN,
        CameraMove.TRUCK_LEFT,
        CameraMove.PAN_RIGHT,
    )
    assert camera_moves(text_request(prompt="coffee", camera="no_such_move")) == ()


async def test_text_job_renders_to_a_file_url(provider: LocalProvider) -> None:
    submission = await provider.submit(text_request(aspect_ratio="9:16"))
    assert submission.provider_job_id.startswith("local-")
    assert submission.estimated_seconds
    assert submission.estimated_seconds > 0

    update = await finish(provider, submission.provider_job_id)

    assert update.state == "succeeded", update.failure
    assert (update.width, update.height) == (480, 854)
    assert update.provider_cost == 0
    path = file_of(update)
    assert path.parent == (provider.output_dir).resolve()
    info = probe(path)
    assert (info.width, info.height, info.frames) == (480, 854, 120)
    # Polling a finished job again gives the same answer.
    assert await provider.poll(submission.provider_job_id) == update


async def test_image_job_fetches_the_image_and_zooms_into_it(
    provider: LocalProvider, images: Images
) -> None:
    submission = await provider.submit(image_request(camera="zoom_in"))
    update = await finish(provider, submission.provider_job_id)

    assert update.state == "succeeded", update.failure
    assert images.urls == [IMAGE_URL]
    info = probe(file_of(update))
    assert (info.width, info.height, info.frames) == (854, 480, 120)
    assert red_square(info.last).width > red_square(info.first).width * 1.2


async def test_an_unknown_job_after_a_restart_is_lost_without_retry(
    provider: LocalProvider, tmp_path: Path, images: Images
) -> None:
    submission = await provider.submit(text_request())
    await finish(provider, submission.provider_job_id)
    restarted = LocalProvider(provider.output_dir, image_fetcher=images)

    update = await restarted.poll(submission.provider_job_id)

    assert update.state == "failed"
    assert update.failure is not None
    assert update.failure.code == RENDER_LOST
    assert not update.failure.retryable
    assert "restarted" in update.failure.member_message
    await restarted.aclose()


async def test_a_render_that_raises_is_a_failed_update(tmp_path: Path) -> None:
    local = LocalProvider(tmp_path, image_fetcher=Images(b"\xff\xd8\xff not really a jpeg"))
    try:
        submission = await local.submit(image_request())
        update = await finish(local, submission.provider_job_id)
    finally:
        await local.aclose()
    assert update.state == "failed"
    assert update.failure is not None
    assert update.failure.code == RENDER_FAILED
    assert "could not render" in update.failure.member_message
    assert "UnidentifiedImageError" in update.failure.detail
    assert not list(tmp_path.glob("*.mp4*"))


async def test_a_crashed_worker_fails_its_job_and_the_next_job_still_runs(
    tmp_path: Path, images: Images
) -> None:
    local = LocalProvider(
        tmp_path, image_fetcher=images, renderer=crash_on_request, poll_interval=0.05
    )
    try:
        crashed = await finish(
            local, (await local.submit(text_request(prompt="crash"))).provider_job_id
        )
        assert crashed.state == "failed"
        assert crashed.failure is not None
        assert crashed.failure.code == RENDER_CRASHED
        # The broken pool is replaced on the next submit.
        update = await finish(local, (await local.submit(text_request())).provider_job_id)
        assert update.state == "succeeded", update.failure
    finally:
        await local.aclose()


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (InvalidRequest("The attachment is not a PNG, JPEG or WebP image."), IMAGE_REFUSED, False),
        (ConnectionError("reset"), IMAGE_UNAVAILABLE, True),
    ],
)
async def test_an_image_that_cannot_be_fetched_refuses_the_submit(
    tmp_path: Path, error: Exception, code: str, retryable: bool
) -> None:
    local = LocalProvider(tmp_path, image_fetcher=Images(error))
    with pytest.raises(ProviderError) as caught:
        await local.submit(image_request())
    assert caught.value.failure.code == code
    assert caught.value.failure.retryable is retryable
    await local.aclose()


async def test_rendering_does_not_block_the_event_loop(provider: LocalProvider) -> None:
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    submission = await provider.submit(image_request(duration=10, camera="pan_right"))
    update = await finish(provider, submission.provider_job_id)
    stop.set()
    await ticking

    assert update.state == "succeeded", update.failure
    assert len(gaps) > 50
    # A render on the loop would stall it for seconds; here only scheduling jitter remains.
    print(f"longest loop stall: {max(gaps) * 1000:.0f} ms over {len(gaps)} ticks")
    assert max(gaps) < 0.5, max(gaps)


async def test_queued_jobs_wait_for_a_free_worker(provider: LocalProvider) -> None:
    first = await provider.submit(text_request())
    second = await provider.submit(text_request(prompt="second"))
    statuses = {(await provider.poll(second.provider_job_id)).provider_status}
    # With one worker, the second job is queued behind the first and estimated later.
    assert second.estimated_seconds
    assert first.estimated_seconds
    assert second.estimated_seconds > first.estimated_seconds
    assert statuses <= {"queued", "rendering"}
    for job in (first, second):
        assert (await finish(provider, job.provider_job_id)).state == "succeeded"


async def test_a_closed_provider_refuses_new_work(provider: LocalProvider) -> None:
    await provider.aclose()
    with pytest.raises(ProviderError) as caught:
        await provider.submit(text_request())
    assert caught.value.failure.retryable
