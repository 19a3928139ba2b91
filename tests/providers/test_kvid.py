"""KvidProvider against FakeKvid over real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.providers.base import Provider, ProviderError
from bot.providers.http import RetryPolicy
from bot.providers.kvid import (
    ERROR_TABLE,
    RESULT_PATH,
    STATUS_PATH,
    SUBMIT_PATHS,
    KvidProvider,
    build_client,
    parse_estimated_time,
)
from tests.fakes.kvid import DOCUMENTED_ERRORS, Edition, FakeKvid, KvidContract, KvidScenario
from tests.fakes.scripted import serve_loopback
from tests.providers.contracts import KVID, Contract
from tests.providers.support import (
    FAST_RETRY,
    RecordingSleep,
    assert_h264_mp4,
    failure_of,
    submit_and_capture,
    submit_and_poll,
)

API_KEY = KVID.secret
T2V, I2V = SUBMIT_PATHS["text"], SUBMIT_PATHS["image"]

TEXT, IMAGE = KVID.text, KVID.image


@pytest.fixture
def contract() -> Contract[KvidProvider, FakeKvid]:
    """The conftest's `fake` and `provider` are FakeKvid and KvidProvider."""
    return KVID


@pytest.fixture
async def fake_a2() -> AsyncIterator[FakeKvid]:
    async with FakeKvid(api_key=API_KEY, contract=KvidContract(edition="a2")) as server:
        yield server


make_provider = KVID.make_provider


@pytest.fixture
async def provider_a2(fake_a2: FakeKvid, sleeps: RecordingSleep) -> AsyncIterator[KvidProvider]:
    kvid = make_provider(fake_a2.base_url, sleeps)
    yield kvid
    await kvid.aclose()


# -- the provider satisfies the boundary ----------------------------------------------------------


def test_provider_shape(provider: KvidProvider) -> None:
    boundary: Provider = provider  # checked statically; Provider is not runtime_checkable
    members = ("name", "display_name", "models", "default_model", "poll_interval")
    assert all(hasattr(boundary, m) for m in (*members, "validate", "submit", "poll", "aclose"))
    assert (provider.name, provider.display_name, provider.default_model) == (
        "kvid",
        "kvidAI",
        "v2",
    )
    assert set(provider.models) == {"v1", "v2", "v3"}
    assert provider.models["v1"].resolutions == ("480p", "720p")
    assert provider.models["v3"].resolutions == ("480p", "720p", "1080p")
    for spec in provider.models.values():
        assert spec.default_resolution == "720p"
        assert spec.durations == ()
        assert spec.aspect_ratios.get("text", ()) == ()
        assert spec.aspect_ratios["image"] == ("auto", "16:9", "9:16", "1:1")
        assert spec.supports_seed
        assert not spec.supports_negative_prompt
        assert spec.description


def test_poll_interval_defaults_to_ten_seconds() -> None:
    client = build_client("http://127.0.0.1:9", API_KEY)
    assert KvidProvider(client).poll_interval == 10.0


# -- submit ---------------------------------------------------------------------------------------


async def test_text_submit_sends_exactly_the_documented_fields(
    fake: FakeKvid, provider: KvidProvider
) -> None:
    request = replace(
        TEXT,
        model="v3",
        resolution="1080p",
        seed=5834,
        num_inference_steps=30,
        enable_safety_checker=False,
        enable_prompt_expansion=True,
    )
    submission, sent = await submit_and_capture(provider, fake, request, T2V)
    assert sent.json == {
        "prompt": "A woman is drinking coffee.",
        "model": "v3",
        "resolution": "1080p",
        "seed": 5834,
        "num_inference_steps": 30,
        "enable_safety_checker": False,
        "enable_prompt_expansion": True,
    }
    assert sent.authorized
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"].startswith("discord-video-bot/")
    [job] = fake.submissions
    assert submission.provider_job_id == job.job_id
    assert submission.provider_job_id.startswith("vid_")
    assert submission.status == "queued"
    assert submission.estimated_seconds == 30.0


async def test_image_submit_adds_image_url_and_aspect_ratio(
    fake: FakeKvid, provider: KvidProvider
) -> None:
    await provider.submit(replace(IMAGE, aspect_ratio="9:16", seed=7))
    [sent] = fake.requests_to(I2V)
    assert sent.json == {
        "prompt": "The tiger blinks.",
        "model": "v2",
        "resolution": "720p",
        "seed": 7,
        "enable_safety_checker": True,
        "image_url": "https://cdn.example/tiger.png",
        "aspect_ratio": "9:16",
    }
    assert fake.submissions[0].kind == "image"


async def test_unset_options_are_left_out(fake: FakeKvid, provider: KvidProvider) -> None:
    await provider.submit(TEXT)
    [sent] = fake.requests_to(T2V)
    assert set(sent.json) == {"prompt", "model", "resolution", "enable_safety_checker"}


async def test_submit_reads_the_other_editions_estimate(
    fake_a2: FakeKvid, provider_a2: KvidProvider
) -> None:
    submission = await provider_a2.submit(TEXT)
    assert submission.provider_job_id.startswith("job_")
    assert submission.estimated_seconds == 300.0  # "2-5min": the upper end


# -- poll -----------------------------------------------------------------------------------------


async def test_poll_walks_queued_processing_then_reads_the_result(
    fake: FakeKvid, provider: KvidProvider
) -> None:
    fake.script(KvidScenario(queued_polls=1, processing_polls=2, used_credit=54))
    job_id, updates = await submit_and_poll(provider, TEXT)

    assert [(u.state, u.provider_status) for u in updates] == [
        ("pending", "queued"),
        ("pending", "processing"),
        ("pending", "processing"),
        ("succeeded", "completed"),
    ]
    done = updates[-1]
    assert done.video_url == fake.cdn_url(job_id)
    assert (done.width, done.height, done.provider_cost) == (1280, 720, 54.0)
    # The result endpoint is read once, and only after the status said completed.
    [result_call] = fake.requests_to(RESULT_PATH)
    assert result_call.query == {"jobId": job_id}
    assert fake.requests.index(result_call) == len(fake.requests) - 1
    assert all(r.query == {"jobId": job_id} for r in fake.requests_to(STATUS_PATH))


async def test_completed_video_is_downloadable_and_real(
    fake: FakeKvid, provider: KvidProvider
) -> None:
    fake.script(KvidScenario(processing_polls=0, width=320, height=240))
    _, [done] = await submit_and_poll(provider, TEXT)
    assert done.video_url is not None
    await assert_h264_mp4(done.video_url, 320, 240)


async def test_failed_job_carries_the_status_error_message(
    fake: FakeKvid, provider: KvidProvider
) -> None:
    fake.script(KvidScenario(outcome="failed", error_message="Model crashed while rendering"))
    _, updates = await submit_and_poll(provider, TEXT)

    failed = updates[-1]
    assert (failed.state, failed.provider_status) == ("failed", "failed")
    assert failed.failure is not None
    assert failed.failure.code == "generation_failed"
    assert not failed.failure.retryable
    assert "Model crashed while rendering" in failed.failure.member_message
    assert fake.requests_to(RESULT_PATH) == []


async def test_failed_job_without_message_still_explains(
    fake: FakeKvid, provider: KvidProvider
) -> None:
    fake.script(KvidScenario(processing_polls=0, outcome="failed"))
    _, [failed] = await submit_and_poll(provider, TEXT)
    assert failed.failure is not None
    assert failed.failure.member_message.startswith("kvidAI could not make this video")


async def test_failure_naming_content_policy_is_recognisable(
    fake: FakeKvid, provider: KvidProvider
) -> None:
    fake.script(
        KvidScenario(processing_polls=0, outcome="failed", error_message="content_policy_violation")
    )
    _, [failed] = await submit_and_poll(provider, TEXT)
    assert failed.failure is not None
    assert failed.failure.code == "content_policy_violation"
    assert not failed.failure.retryable


async def test_canceled_job_is_failed(fake_a2: FakeKvid, provider_a2: KvidProvider) -> None:
    fake_a2.script(KvidScenario(processing_polls=1, outcome="canceled"))
    _, updates = await submit_and_poll(provider_a2, TEXT)
    assert [u.state for u in updates] == ["pending", "failed"]
    assert updates[-1].failure is not None
    assert updates[-1].failure.code == "canceled"


async def test_other_edition_with_null_fields_while_running(
    fake_a2: FakeKvid, provider_a2: KvidProvider
) -> None:
    fake_a2.script(KvidScenario(queued_polls=1, processing_polls=1, used_credit=12))
    job_id, updates = await submit_and_poll(provider_a2, TEXT)
    assert [u.state for u in updates] == ["pending", "pending", "succeeded"]
    assert all(u.failure is None for u in updates)
    assert updates[-1].video_url == fake_a2.cdn_url(job_id)
    assert updates[-1].provider_cost == 12.0


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("QUEUED", "pending"),
        ("Processing", "pending"),
        (" processing ", "pending"),
        ("FAILED", "failed"),
        ("Cancelled", "failed"),
        ("CANCELED", "failed"),
        ("COMPLETED", "succeeded"),
    ],
)
async def test_status_words_in_any_case(
    fake: FakeKvid, provider: KvidProvider, word: str, state: str
) -> None:
    fake.script(KvidScenario(queued_polls=0, processing_polls=0))
    job_id = (await provider.submit(TEXT)).provider_job_id
    fake.respond_next("status", {"success": True, "data": {"job_id": job_id, "status": word}})
    # The fake's own status answer is replaced, so complete the job's count by hand.
    fake.jobs[job_id].status_calls += 1
    update = await provider.poll(job_id)
    assert update.state == state
    assert update.provider_status == word.strip()


async def test_unknown_status_is_pending_and_logged(
    fake: FakeKvid, provider: KvidProvider, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = (await provider.submit(TEXT)).provider_job_id
    fake.respond_next("status", {"success": True, "data": {"job_id": job_id, "status": "warming"}})
    with caplog.at_level(logging.WARNING, logger="bot.providers.kvid"):
        update = await provider.poll(job_id)
    assert (update.state, update.provider_status) == ("pending", "warming")
    assert "warming" in caplog.text
    assert job_id in caplog.text


@pytest.mark.parametrize("code", ["JOB_NOT_COMPLETED", "RESULT_FETCH_ERROR"])
async def test_result_not_ready_means_still_pending(
    fake: FakeKvid, provider: KvidProvider, sleeps: RecordingSleep, code: str
) -> None:
    fake.script(KvidScenario(processing_polls=0))
    job_id = (await provider.submit(TEXT)).provider_job_id
    fake.fail_next("result", status=400, code=code)

    first = await provider.poll(job_id)
    second = await provider.poll(job_id)

    assert first.state == "pending"
    assert second.state == "succeeded"
    assert sleeps.delays == []  # "not ready" is an answer, not an error to back off from


async def test_result_job_failed_is_a_failed_job(fake: FakeKvid, provider: KvidProvider) -> None:
    fake.script(KvidScenario(processing_polls=0))
    job_id = (await provider.submit(TEXT)).provider_job_id
    fake.fail_next("result", status=400, code="JOB_FAILED")
    update = await provider.poll(job_id)
    assert update.state == "failed"
    assert update.failure is not None
    assert update.failure.code == "JOB_FAILED"


async def test_unknown_job_raises_not_retryable(fake: FakeKvid, provider: KvidProvider) -> None:
    failure = await failure_of(provider.poll("vid_0_nope"))
    assert failure.code == "JOB_NOT_FOUND"
    assert not failure.retryable
    assert len(fake.requests_to(STATUS_PATH)) == 1


# -- error mapping --------------------------------------------------------------------------------


def test_every_documented_code_is_in_the_table() -> None:
    documented = {code for code, _, _ in DOCUMENTED_ERRORS} | {"invalid_api_key"}
    assert documented == set(ERROR_TABLE)
    assert {c for codes in KVID.meanings.values() for c in codes} == set(ERROR_TABLE)


@pytest.mark.parametrize(("code", "status", "retryable"), DOCUMENTED_ERRORS)
async def test_documented_error_is_mapped(
    fake: FakeKvid, provider: KvidProvider, code: str, status: int, retryable: bool
) -> None:
    fake.fail_next("status", status=status, code=code, times=10)
    with pytest.raises(ProviderError) as caught:
        await provider.poll("vid_1_x")
    failure = caught.value.failure
    assert failure.code == code
    assert failure.retryable is retryable
    assert failure.http_status == status
    assert failure.member_message.strip()
    assert code in str(caught.value)
    # Retryable errors were retried up to the policy; the others were asked once.
    expected_calls = FAST_RETRY.attempts if retryable else 1
    assert len(fake.requests_to(STATUS_PATH)) == expected_calls


async def test_messages_say_what_to_do(fake: FakeKvid, provider: KvidProvider) -> None:
    assert "300×300" in await KVID.member_message(fake, provider, "image_too_small")
    assert "6000×6000" in await KVID.member_message(fake, provider, "image_too_large")
    assert "content policy" in await KVID.member_message(fake, provider, "content_policy_violation")
    assert "admin" in await KVID.member_message(fake, provider, "INSUFFICIENT_CREDITS")
    assert "lower resolution" in await KVID.member_message(fake, provider, "generation_timeout")


@pytest.mark.parametrize(
    ("shape", "status", "error", "code", "retryable"),
    [
        ("object", 402, "INSUFFICIENT_CREDIT", "INSUFFICIENT_CREDIT", False),
        ("fal", 422, "image_too_small", "image_too_small", False),
        ("fal", 422, "content_policy_violation", "content_policy_violation", False),
        ("text", 502, None, "http_502", True),
        ("empty", 503, None, "http_503", True),
        ("no_code", 403, None, "invalid_api_key", False),
        # kvid documents no code for a 403: one it does not document is still the key.
        ("seed", 403, "NOT_ALLOWED", "invalid_api_key", False),
        ("seed", 403, "content_policy_violation", "content_policy_violation", False),
        ("seed", 418, "TEAPOT", "TEAPOT", False),
        ("seed", 503, "UPSTREAM_DOWN", "UPSTREAM_DOWN", True),
        ("seed", 429, "SLOW_DOWN", "SLOW_DOWN", True),
        ("seed", 400, "content_POLICY_violation", "content_policy_violation", False),
    ],
)
async def test_other_error_shapes(
    fake: FakeKvid,
    provider: KvidProvider,
    shape: str,
    status: int,
    error: str | None,
    code: str,
    retryable: bool,
) -> None:
    fake.fail_next("status", status=status, code=error, shape=shape, message="nope", times=10)
    failure = await failure_of(provider.poll("vid_1_x"))
    assert (failure.code, failure.retryable) == (code, retryable)
    assert failure.member_message


async def test_success_false_on_http_200_is_an_error(
    fake: FakeKvid, provider: KvidProvider
) -> None:
    fake.fail_next("status", status=200, code="INSUFFICIENT_CREDITS")
    failure = await failure_of(provider.poll("vid_1_x"))
    assert failure.code == "INSUFFICIENT_CREDITS"


# -- retries --------------------------------------------------------------------------------------


async def test_concurrency_limit_on_submit_is_retried(
    fake: FakeKvid, provider: KvidProvider, sleeps: RecordingSleep
) -> None:
    fake.fail_next("submit", status=429, code="CONCURRENT_LIMIT", times=2)
    await provider.submit(TEXT)
    assert len(sleeps.delays) == 2
    assert len(fake.submissions) == 1


async def test_server_errors_on_status_are_retried_up_to_the_policy(
    fake: FakeKvid, provider: KvidProvider, sleeps: RecordingSleep
) -> None:
    fake.fail_next("status", status=500, code="internal_server_error", times=10)
    failure = await failure_of(provider.poll("vid_1_x"))
    assert failure.code == "internal_server_error"
    assert failure.retryable
    assert len(fake.requests_to(STATUS_PATH)) == FAST_RETRY.attempts
    assert len(sleeps.delays) == FAST_RETRY.attempts - 1
    assert all(0 <= d <= FAST_RETRY.max_delay for d in sleeps.delays)


async def test_server_error_then_recovery(
    fake: FakeKvid, provider: KvidProvider, sleeps: RecordingSleep
) -> None:
    fake.script(KvidScenario(processing_polls=0))
    job_id = (await provider.submit(TEXT)).provider_job_id
    fake.fail_next("status", status=502, code=None, shape="text", message="Bad Gateway")
    fake.fail_next("result", status=500, code="internal_server_error")
    update = await provider.poll(job_id)
    assert update.state == "succeeded"
    assert len(sleeps.delays) == 2


async def test_submit_server_error_is_not_resent(
    fake: FakeKvid, provider: KvidProvider, sleeps: RecordingSleep
) -> None:
    # kvid has no idempotency key: a 500 may come after the job was created, so a blind resend
    # could pay for two videos. The caller gets a retryable failure and decides.
    fake.fail_next("submit", status=500, code="internal_server_error", times=10)
    failure = await failure_of(provider.submit(TEXT))
    assert failure.retryable
    assert len(fake.requests_to(T2V)) == 1
    assert sleeps.delays == []


# -- estimated_time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("2-5min", 300.0),
        ("90 seconds", 90.0),
        ("1-2 minutes", 120.0),
        ("5 min", 300.0),
        ("1m30s", 90.0),
        ("1 min 30 sec", 90.0),
        ("45", 45.0),
        ("1.5h", 5400.0),
        ("about 2 minutes", 120.0),
        ("10 - 20 s", 20.0),
        ("30s-2min", 120.0),
        (" 30S ", 30.0),
        (12, 12.0),
        (2.5, 2.5),
        ("", None),
        ("soon", None),
        ("30 parsecs", None),
        (None, None),
        (True, None),
        (-5, None),
        ({"s": 30}, None),
    ],
)
def test_parse_estimated_time(value: object, seconds: float | None) -> None:
    assert parse_estimated_time(value) == seconds


@given(st.integers(0, 10_000))
def test_parse_estimated_time_seconds_roundtrip(n: int) -> None:
    assert parse_estimated_time(f"{n}s") == n
    assert parse_estimated_time(f"{n} minutes") == n * 60


@given(st.integers(0, 100), st.integers(0, 100))
def test_parse_estimated_time_range_takes_upper_end(low: int, high: int) -> None:
    assert parse_estimated_time(f"{low}-{high}min") == high * 60


@given(st.text(max_size=30))
def test_parse_estimated_time_never_raises(text: str) -> None:
    result = parse_estimated_time(text)
    assert result is None or result >= 0


# -- the fake follows the contract ----------------------------------------------------------------


async def test_fake_rejects_a_missing_key_with_a_bare_403(fake: FakeKvid) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        response = await http.get(STATUS_PATH, params={"jobId": "x"})
    assert response.status_code == 403
    assert "error" not in response.json()


async def test_fake_error_body_follows_the_seed(fake: FakeKvid) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url, headers={"api-key": API_KEY}) as http:
        response = await http.post(T2V, json={"prompt": "x", "model": "v1", "resolution": "1080p"})
    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert body["error"] == "ValidationError"
    assert body["message"]
    assert body["details"]["http_status"] == 422
    assert body["details"]["help_url"].startswith("https://docs.kvid.ai/")


@pytest.mark.parametrize(
    ("edition", "code"), [("a1", "RESULT_FETCH_ERROR"), ("a2", "JOB_NOT_COMPLETED")]
)
async def test_fake_result_before_completion(edition: Edition, code: str) -> None:
    async with (
        FakeKvid(api_key=API_KEY, contract=KvidContract(edition)) as server,
        httpx.AsyncClient(base_url=server.base_url, headers={"api-key": API_KEY}) as http,
    ):
        submitted = await http.post(T2V, json={"prompt": "a cat"})
        job_id = submitted.json()["data"]["job_id"]
        status = await http.get(STATUS_PATH, params={"jobId": job_id})
        result = await http.get(RESULT_PATH, params={"jobId": job_id})
    assert status.json()["data"]["status"] == "processing"
    assert ("result_url" in status.json()["data"]) is (edition == "a2")
    assert (result.status_code, result.json()["error"]) == (400, code)


async def test_fake_concurrency_limit(sleeps: RecordingSleep) -> None:
    async with (
        FakeKvid(api_key=API_KEY, contract=KvidContract(edition="a2", max_concurrent=1)) as server,
        aclosing(make_provider(server.base_url, sleeps, retry=RetryPolicy(attempts=1))) as kvid,
    ):
        await kvid.submit(TEXT)
        failure = await failure_of(kvid.submit(TEXT))
    assert failure.code == "CONCURRENT_LIMIT"


async def test_fake_waits_for_submissions(fake: FakeKvid, provider: KvidProvider) -> None:
    import asyncio

    waiter = asyncio.create_task(fake.wait_for_submissions(2, timeout=5))
    await provider.submit(TEXT)
    assert not waiter.done()
    await provider.submit(IMAGE)
    jobs = await waiter
    assert [job.kind for job in jobs] == ["text", "image"]
    with pytest.raises(TimeoutError):
        await fake.wait_for_submissions(3, timeout=0.05)


async def test_fake_checks_image_sizes(sleeps: RecordingSleep) -> None:
    from aiohttp import web

    from tests.fakes.media import make_image

    images = {"small": make_image("png", 200, 200), "ok": make_image("jpeg", 400, 300)}

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=images[request.match_info["name"]], content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner, images_url = await serve_loopback(app)
    try:
        async with (
            FakeKvid(api_key=API_KEY, contract=KvidContract(inspect_images=True)) as server,
            aclosing(make_provider(server.base_url, sleeps)) as kvid,
        ):
            small = replace(IMAGE, image_url=f"{images_url}/small")
            failure = await failure_of(kvid.submit(small))
            await kvid.submit(replace(IMAGE, image_url=f"{images_url}/ok"))
    finally:
        await runner.cleanup()
    assert failure.code == "image_too_small"
    assert "300×300" in failure.member_message
