"""What the provider tests share: a recording sleep, fast retries, polling and failure helpers."""

from __future__ import annotations

import io
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import av
import httpx
import pytest

from bot.providers.base import (
    InvalidRequest,
    JobUpdate,
    Provider,
    ProviderError,
    ProviderFailure,
    Submission,
    VideoRequest,
)
from bot.providers.http import RetryPolicy
from tests.fakes.scripted import RecordedRequest, ScriptedServer

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
# A cap far above the Retry-After values the tests send, so the wait is the server's, not the cap.
HONOURS_RETRY_AFTER = RetryPolicy(base_delay=0.01, max_delay=30)


def fast_options(sleep: RecordingSleep, **overrides: Any) -> dict[str, Any]:
    """Constructor options for a provider under test: no poll wait, quick seeded retries."""
    options = {"poll_interval": 0.0, "retry": FAST_RETRY, "sleep": sleep, "rng": random.Random(1)}
    return {**options, **overrides}


class RecordingSleep:
    """A sleep that returns at once and remembers what it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def poll_until_done(provider: Provider, job_id: str, limit: int = 20) -> list[JobUpdate]:
    """Poll until the job leaves pending; return every update seen."""
    updates = []
    for _ in range(limit):
        update = await provider.poll(job_id)
        updates.append(update)
        if update.state != "pending":
            return updates
    raise AssertionError(f"job {job_id} still pending after {limit} polls: {updates}")


async def submit_and_poll(provider: Provider, request: VideoRequest) -> tuple[str, list[JobUpdate]]:
    """Submit `request` and poll the job until it leaves pending: (its id, every update)."""
    job_id = (await provider.submit(request)).provider_job_id
    return job_id, await poll_until_done(provider, job_id)


async def failure_of(call: Awaitable[object]) -> ProviderFailure:
    """The failure a provider call raises; the test fails if it raises none."""
    with pytest.raises(ProviderError) as caught:
        await call
    return caught.value.failure


async def injected_failure(
    fake: ScriptedServer[Any, Any], call: Awaitable[object]
) -> ProviderFailure:
    """The failure `call` raises from an injected error; the injections left unused are dropped."""
    failure = await failure_of(call)
    fake.clear_injected()  # a non-retryable error stops before using up every injection
    return failure


async def assert_refused(provider: Provider, request: VideoRequest, expected: str) -> None:
    """validate() refuses `request` with a message matching `expected`, and so does submit()."""
    with pytest.raises(InvalidRequest, match=expected):
        provider.validate(request)
    with pytest.raises(InvalidRequest):
        await provider.submit(request)


async def assert_h264_mp4(url: str, width: int, height: int) -> None:
    """The video at `url` is served as video/mp4, at its exact length, and decodes as H.264."""
    async with httpx.AsyncClient() as http:
        head = await http.head(url)
        body = (await http.get(url)).content
    assert head.headers["content-type"] == "video/mp4"
    assert int(head.headers["content-length"]) == len(body)
    with av.open(io.BytesIO(body)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", width, height)
        assert sum(1 for _ in container.decode(stream)) >= 1


async def assert_one_message_per_meaning(
    meanings: Mapping[str, Sequence[str]], message_of: Callable[[str], Awaitable[str]]
) -> None:
    """Codes of one meaning share a member message, and no two meanings share one."""
    by_meaning: dict[str, set[str]] = {}
    for meaning, codes in meanings.items():
        by_meaning[meaning] = {await message_of(code) for code in codes}
    assert all(len(messages) == 1 for messages in by_meaning.values()), by_meaning
    assert len({next(iter(m)) for m in by_meaning.values()}) == len(meanings)


async def submit_and_capture(
    provider: Provider, fake: ScriptedServer[Any, Any], request: VideoRequest, path: str
) -> tuple[Submission, RecordedRequest]:
    """Submit `request`: the submission, and the one request it sent to `path`, a POST."""
    submission = await provider.submit(request)
    [sent] = fake.requests_to(path)
    assert sent.method == "POST"
    return submission, sent


async def raw_chunks(url: str) -> list[bytes]:
    """The body at `url` as the chunks it arrived in."""
    chunks = []
    async with httpx.AsyncClient() as http, http.stream("GET", url) as response:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
    return chunks
