"""KlingProvider against FakeAceData over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.camera import MOVES, CameraMove
from bot.providers.base import (
    BatchPolling,
    JobUpdate,
    Provider,
    VideoRequest,
)
from bot.providers.kling import (
    CONTENT_POLICY_VIOLATION,
    ERROR_TABLE,
    EXTEND_MODELS,
    TASKS_PATH,
    VIDEOS_PATH,
    KlingProvider,
    can_extend,
    parse_callback,
)
from tests.fakes.acedata import (
    DOCUMENTED_ERRORS,
    FOUR_K_MODELS,
    MODELS,
    FakeAceData,
    KlingScenario,
)
from tests.fakes.scripted import serve_loopback
from tests.providers.contracts import KLING, KLING_EXTEND, KLING_IMAGE, KLING_TEXT, Contract
from tests.providers.support import (
    FAST_RETRY,
    RecordingSleep,
    assert_h264_mp4,
    failure_of,
    poll_until_done,
    submit_and_capture,
)

TOKEN = KLING.secret

TEXT, IMAGE, EXTEND = KLING_TEXT, KLING_IMAGE, KLING_EXTEND


class CallbackReceiver:
    """The bot's side of a callback: a loopback web server that keeps every JSON body."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> CallbackReceiver:
        app = web.Application()
        app.router.add_post("/hooks/kling", self._handle)
        self._runner, base_url = await serve_loopback(app)
        self.url = f"{base_url}/hooks/kling"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"ok": True})

    async def wait_for(self, n: int, timeout: float = 5.0) -> list[Any]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.bodies) >= n)
        return self.bodies


@pytest.fixture
def contract() -> Contract[KlingProvider, FakeAceData]:
    """The conftest's `fake` and `provider` are FakeAceData and KlingProvider."""
    return KLING


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    hooks = await CallbackReceiver().start()
    yield hooks
    await hooks.stop()


make_provider = KLING.make_provider


async def fake_post(fake: FakeAceData, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST `body` to the fake with the right token, past the provider's own checks."""
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as http:
        return await http.post(path, json=body)


async def submit_id(kling: KlingProvider, request: VideoRequest = TEXT, **kwargs: Any) -> str:
    return (await kling.submit(request, **kwargs)).provider_job_id


async def body_sent_for(
    kling: KlingProvider, fake: FakeAceData, request: VideoRequest
) -> dict[str, Any]:
    """Submit `request` and return the one createKlingVideos body it sent."""
    await kling.submit(request)
    [body] = sent_bodies(fake)
    return body


def sent_bodies(fake: FakeAceData) -> list[dict[str, Any]]:
    return [r.json for r in fake.requests_to(VIDEOS_PATH)]


# -- the provider satisfies the boundary ----------------------------------------------------------


def test_provider_shape(provider: KlingProvider) -> None:
    boundary: Provider = provider
    assert isinstance(boundary, BatchPolling)
    assert (provider.name, provider.display_name) == ("kling", "Kling")
    assert provider.default_model in provider.models
    # The fake's lists are AceData's documented ones: the provider offers exactly those.
    assert tuple(provider.models) == MODELS
    for spec in provider.models.values():
        four_k = spec.name in FOUR_K_MODELS
        assert spec.resolutions == (("std", "pro", "4k") if four_k else ("std", "pro"))
        assert spec.default_resolution == "std"
        assert spec.default_duration == 5
        if four_k:
            assert spec.durations == tuple(range(3, 16))
        elif spec.name == "kling-o1":
            assert spec.durations == (5,)
        else:
            assert spec.durations == (5, 10)
        assert spec.aspect_ratios["text"] == spec.aspect_ratios["image"] == ("16:9", "9:16", "1:1")
        assert not spec.supports_seed
        assert spec.supports_negative_prompt
        assert ("extend" in spec.kinds) is (spec.name in EXTEND_MODELS)
        assert spec.description
    assert EXTEND_MODELS == ("kling-v1", "kling-v1-6", "kling-v2-5-turbo")
    assert [m for m in provider.models if provider.can_extend(m)] == list(EXTEND_MODELS)
    assert not can_extend("kling-v3")


async def test_kvid_is_not_batch_polling() -> None:
    from bot.providers.kvid import KvidProvider

    kvid = KvidProvider(httpx.AsyncClient())
    assert not isinstance(kvid, BatchPolling)
    await kvid.aclose()


# -- submit: exact bodies -------------------------------------------------------------------------


async def test_text2video_body(fake: FakeAceData, provider: KlingProvider) -> None:
    request = replace(
        TEXT,
        resolution="pro",
        duration=10,
        aspect_ratio="9:16",
        negative_prompt="blurry, low quality",
        cfg_scale=0.7,
    )
    submission, sent = await submit_and_capture(provider, fake, request, VIDEOS_PATH)
    assert sent.json == {
        "action": "text2video",
        "model": "kling-v1",
        "mode": "pro",
        "prompt": "A woman is drinking coffee.",
        "duration": 10,
        "aspect_ratio": "9:16",
        "negative_prompt": "blurry, low quality",
        "cfg_scale": 0.7,
        "async": True,
    }
    assert sent.authorized
    assert sent.headers["authorization"] == "Bearer [redacted]"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["content-type"] == "application/json"
    [task] = fake.submissions
    assert submission.provider_job_id == task.task_id
    assert submission.status == "submitted"
    assert submission.estimated_seconds == 300.0
    assert task.mode == "async"


def sent_body(
    action: str, model: str, mode: str, prompt: str, duration: int, **fields: object
) -> dict[str, object]:
    """The createKlingVideos body the provider should send, with the action's own fields."""
    body = {"action": action, "model": model, "mode": mode, "prompt": prompt, "duration": duration}
    return {**body, **fields, "async": True}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        # Unset options are left out.
        (TEXT, sent_body("text2video", "kling-v1", "std", "A woman is drinking coffee.", 5)),
        (
            replace(
                IMAGE,
                end_image_url="https://cdn.example/tiger-end.png",
                aspect_ratio="1:1",
                duration=5,
            ),
            sent_body(
                "image2video",
                "kling-v1-6",
                "pro",
                "The tiger blinks.",
                5,
                aspect_ratio="1:1",
                start_image_url="https://cdn.example/tiger.png",
                end_image_url="https://cdn.example/tiger-end.png",
            ),
        ),
        (
            replace(EXTEND, duration=10),
            sent_body(
                "extend",
                "kling-v1-6",
                "std",
                "She puts the cup down and smiles.",
                10,
                video_id="900798310464749610",
            ),
        ),
    ],
    ids=["minimal-text", "image-with-end-frame", "extend"],
)
async def test_each_action_sends_exactly_its_body(
    fake: FakeAceData, provider: KlingProvider, request_: VideoRequest, expected: dict[str, object]
) -> None:
    await provider.submit(request_)
    assert sent_bodies(fake) == [expected]


async def test_extend_continues_a_finished_video(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    first = await submit_id(provider, replace(TEXT, model="kling-v2-5-turbo"))
    [done] = (await poll_until_done(provider, first))[-1:]
    assert done.provider_video_id == fake.tasks[first].video_id

    second = await submit_id(
        provider,
        replace(EXTEND, model="kling-v2-5-turbo", extend_video_id=done.provider_video_id),
    )
    assert fake.tasks[second].request["video_id"] == done.provider_video_id
    assert (await poll_until_done(provider, second))[-1].state == "succeeded"


async def test_callback_url_replaces_async(
    fake: FakeAceData, provider: KlingProvider, receiver: CallbackReceiver
) -> None:
    await provider.submit(TEXT, callback_url=receiver.url)
    [body] = sent_bodies(fake)
    assert body["callback_url"] == receiver.url
    assert "async" not in body
    assert fake.submissions[0].mode == "callback"


async def test_a_non_http_callback_url_is_refused(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    with pytest.raises(ValueError, match="callback_url"):
        await provider.submit(TEXT, callback_url="ftp://example/hook")
    assert fake.requests == []


# -- camera moves ---------------------------------------------------------------------------------

AXIS_MOVES = [m for m in CameraMove if MOVES[m].kling_axis is not None]
WORD_MOVES = [m for m in CameraMove if MOVES[m].kling_axis is None]


@pytest.mark.parametrize("move", AXIS_MOVES, ids=str)
async def test_camera_move_with_a_kling_axis_becomes_camera_control(
    fake: FakeAceData, provider: KlingProvider, move: CameraMove
) -> None:
    body = await body_sent_for(provider, fake, replace(TEXT, camera=move.value))
    info = MOVES[move]
    config = dict.fromkeys(("horizontal", "vertical", "pan", "tilt", "roll", "zoom"), 0.0)
    config[info.kling_axis or ""] = float(info.kling_sign)
    assert body["camera_control"] == {"type": "simple", "config": config}
    assert body["prompt"] == TEXT.prompt  # the move is not written into the prompt as well


def test_kling_swaps_pan_and_tilt() -> None:
    from bot.providers.kling import camera_control

    pan = camera_control(replace(TEXT, camera="pan_right"))
    tilt = camera_control(replace(TEXT, camera="tilt_up"))
    assert pan is not None
    assert tilt is not None
    assert pan["config"]["tilt"] == 1.0
    assert pan["config"]["pan"] == 0.0
    assert tilt["config"]["pan"] == 1.0
    assert tilt["config"]["tilt"] == 0.0


@pytest.mark.parametrize("move", WORD_MOVES, ids=str)
async def test_camera_move_without_a_kling_axis_is_written_in_the_prompt(
    fake: FakeAceData, provider: KlingProvider, move: CameraMove
) -> None:
    body = await body_sent_for(provider, fake, replace(TEXT, camera=move.value))
    assert "camera_control" not in body
    assert body["prompt"] == f"[{MOVES[move].directive}] {TEXT.prompt}"


async def test_directives_typed_in_the_prompt_pass_through_untouched(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    typed = "[Truck left, Pan right] A woman is drinking coffee. [Close-up]"
    await provider.submit(replace(TEXT, prompt=typed))
    await provider.submit(replace(TEXT, prompt=typed, camera="close_up"))
    await provider.submit(replace(TEXT, prompt=typed, camera="zoom_in"))
    plain, same_move, axis_move = sent_bodies(fake)
    assert plain["prompt"] == typed
    assert "camera_control" not in plain
    assert same_move["prompt"] == typed  # already written there: not added twice
    assert axis_move["prompt"] == typed
    assert axis_move["camera_control"]["config"]["zoom"] == -1.0


async def test_word_moves_are_fine_in_4k(fake: FakeAceData, provider: KlingProvider) -> None:
    body = await body_sent_for(
        provider, fake, replace(TEXT, model="kling-v3", resolution="4k", camera="low_angle")
    )
    assert body["mode"] == "4k"
    assert "camera_control" not in body
    assert body["prompt"].startswith("[Low-angle] ")


# -- sync and async -------------------------------------------------------------------------------


async def test_submit_never_waits_for_the_video(
    sleeps: RecordingSleep,
) -> None:
    async with FakeAceData(token=TOKEN, sync_seconds=10.0) as server:
        server.set_default(KlingScenario(seconds_until_done=10.0))
        async with aclosing(make_provider(server.base_url, sleeps, timeout=2.0)) as kling:
            started = time.monotonic()
            await kling.submit(TEXT)
        assert time.monotonic() - started < 1.0
        assert server.submissions[0].mode == "async"


async def test_fake_sync_mode_blocks_then_answers_the_sync_body(fake: FakeAceData) -> None:
    fake.set_default(KlingScenario(seconds_until_done=0.3))
    started = time.monotonic()
    response = await fake_post(fake, VIDEOS_PATH, {"action": "text2video", "prompt": "a cat"})
    elapsed = time.monotonic() - started
    assert elapsed >= 0.3
    body = response.json()
    [task] = fake.submissions
    assert response.status_code == 200
    assert body == {
        "success": True,
        "video_id": task.video_id,
        "video_url": fake.cdn_url(task.task_id),
        "duration": "5.041",
        "state": "succeed",
        "task_id": task.task_id,
    }
    assert task.mode == "sync"


async def test_fake_sync_failure_answers_the_error_body(fake: FakeAceData) -> None:
    fake.set_default(KlingScenario(outcome="failed", error_message="fetch failed"))
    fake.sync_seconds = 0.01
    response = await fake_post(fake, VIDEOS_PATH, {"action": "text2video", "prompt": "a cat"})
    assert response.status_code == 500
    body = response.json()
    assert body["success"] is False
    assert body["error"] == {"code": "api_error", "message": "fetch failed"}
    assert body["task_id"] == fake.submissions[0].task_id
    assert body["trace_id"]


async def test_fake_async_answers_only_a_task_id(fake: FakeAceData) -> None:
    body = {"action": "text2video", "prompt": "a cat", "async": True}
    response = await fake_post(fake, VIDEOS_PATH, body)
    assert response.json() == {"task_id": fake.submissions[0].task_id}


async def test_a_sync_body_on_submit_is_still_a_submission(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    # A gateway that ignored `async` would answer the finished body; the task id is what counts.
    fake.respond_next(
        "videos",
        {
            "success": True,
            "video_id": "1",
            "video_url": "https://cdn.example/v.mp4",
            "duration": "5.0",
            "state": "succeed",
            "task_id": "6c68c267-065b-4423-b66b-a0e4c59ee0d5",
        },
    )
    submission = await provider.submit(TEXT)
    assert (submission.provider_job_id, submission.status) == (
        "6c68c267-065b-4423-b66b-a0e4c59ee0d5",
        "succeed",
    )


async def test_submit_without_task_id_is_unexpected(
    fake: FakeAceData, provider: KlingProvider, sleeps: RecordingSleep
) -> None:
    fake.respond_next("videos", {"trace_id": "x"})
    failure = await failure_of(provider.submit(TEXT))
    assert failure.code == "unexpected_response"
    assert sleeps.delays == []  # the task may exist: not resent


# -- retrieve -------------------------------------------------------------------------------------


async def test_retrieve_pending_then_succeeded(fake: FakeAceData, provider: KlingProvider) -> None:
    fake.script(KlingScenario(polls_until_done=2))
    task_id = await submit_id(provider)

    updates = await poll_until_done(provider, task_id)

    assert [(u.state, u.provider_status) for u in updates] == [
        ("pending", "processing"),
        ("pending", "processing"),
        ("succeeded", "succeed"),
    ]
    done = updates[-1]
    task = fake.tasks[task_id]
    assert done.video_url == fake.cdn_url(task_id)
    assert done.provider_video_id == task.video_id
    assert done.failure is None
    calls = fake.requests_to(TASKS_PATH)
    assert [c.json for c in calls] == [{"id": task_id, "action": "retrieve"}] * 3


async def test_fake_record_has_no_response_until_done(fake: FakeAceData) -> None:
    body = {"action": "text2video", "prompt": "a cat", "async": True}
    task_id = (await fake_post(fake, VIDEOS_PATH, body)).json()["task_id"]
    running = (await fake_post(fake, TASKS_PATH, {"id": task_id, "action": "retrieve"})).json()
    done = (await fake_post(fake, TASKS_PATH, {"id": task_id})).json()  # action defaults
    for key in ("response", "finished_at", "elapsed"):
        assert key not in running
        assert key in done
    assert {"id", "type", "created_at", "trace_id", "request"} <= set(running)
    assert running["request"] == {"action": "text2video", "prompt": "a cat", "async": True}
    assert done["response"]["state"] == "succeed"
    assert done["elapsed"] >= 0


async def test_completed_video_is_downloadable_and_real(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    fake.script(KlingScenario(polls_until_done=0))
    task_id = await submit_id(provider, replace(TEXT, aspect_ratio="9:16"))
    [done] = await poll_until_done(provider, task_id)
    assert done.video_url is not None
    await assert_h264_mp4(done.video_url, 180, 320)


@pytest.mark.parametrize(
    ("code", "message", "expected_code", "retryable", "phrase"),
    [
        ("api_error", "fetch failed", "api_error", True, "internal error"),
        ("forbidden", "Blocked by content moderation", CONTENT_POLICY_VIOLATION, False, "policy"),
        ("bad_request", "duration 10 is not supported", "bad_request", False, "options"),
        ("video_failed", "The upstream render crashed", "generation_failed", False, "crashed"),
    ],
)
async def test_failed_task_maps_its_error(
    fake: FakeAceData,
    provider: KlingProvider,
    code: str,
    message: str,
    expected_code: str,
    retryable: bool,
    phrase: str,
) -> None:
    fake.script(
        KlingScenario(polls_until_done=1, outcome="failed", error_code=code, error_message=message)
    )
    task_id = await submit_id(provider)
    updates = await poll_until_done(provider, task_id)
    assert [u.state for u in updates] == ["pending", "failed"]
    failure = updates[-1].failure
    assert failure is not None
    assert (failure.code, failure.retryable) == (expected_code, retryable)
    assert phrase in failure.member_message
    assert message in failure.detail
    assert fake.tasks[task_id].record()["response"]["success"] is False


async def test_failed_state_word_alone_is_a_failure(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    task_id = await submit_id(provider)
    fake.respond_next("tasks", {"id": task_id, "response": {"state": "failed", "task_id": task_id}})
    update = await provider.poll(task_id)
    assert (update.state, update.provider_status) == ("failed", "failed")
    assert update.failure is not None
    assert update.failure.code == "generation_failed"


@pytest.mark.parametrize(
    "response",
    [
        {"success": True, "state": "succeed", "task_id": "t"},
        {"success": True, "task_id": "t"},
        {"state": "succeed", "task_id": "t"},
    ],
)
async def test_finished_without_a_link_is_a_failure(
    fake: FakeAceData, provider: KlingProvider, response: dict[str, Any]
) -> None:
    fake.respond_next("tasks", {"id": "t", "response": response})
    update = await provider.poll("t")
    assert update.state == "failed"
    assert update.failure is not None
    assert update.failure.code == "missing_result_url"


@pytest.mark.parametrize(
    "response",
    [None, {}, {"task_id": "t"}, {"state": "processing", "task_id": "t"}],
)
async def test_no_final_word_is_pending(
    fake: FakeAceData, provider: KlingProvider, response: dict[str, Any] | None
) -> None:
    fake.respond_next("tasks", {"id": "t", "started_at": 1.0, "response": response})
    update = await provider.poll("t")
    assert update.state == "pending"


async def test_unknown_task_is_not_found(
    fake: FakeAceData, provider: KlingProvider, sleeps: RecordingSleep
) -> None:
    update = await provider.poll("00000000-0000-4000-8000-000000000000")
    assert (update.state, update.provider_status) == ("failed", "not_found")
    assert update.failure is not None
    assert update.failure.code == "task_not_found"
    assert not update.failure.retryable
    assert fake.tasks_requests == 1
    assert sleeps.delays == []


async def test_fake_answers_an_empty_object_for_unknown_ids(fake: FakeAceData) -> None:
    one = await fake_post(fake, TASKS_PATH, {"id": "nope", "action": "retrieve"})
    many = await fake_post(fake, TASKS_PATH, {"ids": ["nope"], "action": "retrieve_batch"})
    assert (one.status_code, one.json()) == (200, {})
    assert many.json() == {"items": [], "count": 0}


# -- retrieve_batch -------------------------------------------------------------------------------


async def test_poll_many_asks_once_for_every_task(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    fake.script(
        KlingScenario(polls_until_done=0),
        KlingScenario(polls_until_done=5),
        KlingScenario(polls_until_done=0, outcome="failed", error_code="forbidden"),
        KlingScenario(polls_until_done=0),
    )
    ids = [await submit_id(provider) for _ in range(4)]
    unknown = "11111111-1111-4111-8111-111111111111"

    updates = await provider.poll_many([*ids, unknown, ids[0]])

    [call] = fake.requests_to(TASKS_PATH)
    assert call.json == {"ids": [*ids, unknown], "action": "retrieve_batch"}
    assert list(updates) == [*ids, unknown]
    assert [updates[i].state for i in ids] == ["succeeded", "pending", "failed", "succeeded"]
    assert updates[ids[0]].video_url == fake.cdn_url(ids[0])
    assert updates[ids[0]].provider_video_id == fake.tasks[ids[0]].video_id
    failure = updates[ids[2]].failure
    assert failure is not None
    assert failure.code == CONTENT_POLICY_VIOLATION
    assert (updates[unknown].state, updates[unknown].provider_status) == ("pending", "unlisted")


async def test_poll_many_of_nothing_asks_nothing(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    assert await provider.poll_many([]) == {}
    assert fake.requests == []


async def test_poll_many_splits_into_batches(fake: FakeAceData, sleeps: RecordingSleep) -> None:
    async with aclosing(make_provider(fake.base_url, sleeps, batch_size=2)) as kling:
        ids = [await submit_id(kling) for _ in range(5)]
        updates = await kling.poll_many(ids)
    assert set(updates) == set(ids)
    assert [len(r.json["ids"]) for r in fake.requests_to(TASKS_PATH)] == [2, 2, 1]


async def test_tasks_left_out_of_a_batch_stay_pending(
    sleeps: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeAceData(token=TOKEN, batch_limit=2) as server:
        server.set_default(KlingScenario(polls_until_done=0))
        async with aclosing(make_provider(server.base_url, sleeps)) as kling:
            ids = [await submit_id(kling) for _ in range(3)]
            with caplog.at_level(logging.WARNING, logger="bot.providers.kling"):
                updates = await kling.poll_many(ids)
            single = await kling.poll(ids[2])
    assert [updates[i].state for i in ids] == ["succeeded", "succeeded", "pending"]
    assert "left out 1 of 3" in caplog.text
    assert "count=3" in caplog.text
    assert single.state == "succeeded"  # a single retrieve settles it


async def test_poll_many_errors_raise_and_retry(
    fake: FakeAceData, provider: KlingProvider, sleeps: RecordingSleep
) -> None:
    task_id = await submit_id(provider)
    fake.fail_next("tasks", status=500, code="api_error")
    updates = await provider.poll_many([task_id])
    assert updates[task_id].state == "pending"
    assert len(sleeps.delays) == 1
    fake.respond_next("tasks", {"items": "nope", "count": 1})
    fake.respond_next("tasks", {"items": "nope", "count": 1})
    fake.respond_next("tasks", {"items": "nope", "count": 1})
    failure = await failure_of(provider.poll_many([task_id]))
    assert failure.code == "unexpected_response"


async def test_hundred_tasks_cost_one_tasks_request_per_round(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    fake.set_default(KlingScenario(polls_until_done=2))
    submissions = await asyncio.gather(*(provider.submit(TEXT) for _ in range(100)))
    ids = [s.provider_job_id for s in submissions]
    assert len(set(ids)) == 100

    per_round = []
    states: dict[str, JobUpdate] = {}
    for _ in range(3):
        before = fake.tasks_requests
        states = await provider.poll_many(ids)
        per_round.append(fake.tasks_requests - before)

    assert per_round == [1, 1, 1]
    assert all(update.state == "succeeded" for update in states.values())
    # One poll() each would have cost a hundred requests per round.
    before = fake.tasks_requests
    await asyncio.gather(*(provider.poll(task_id) for task_id in ids))
    assert fake.tasks_requests - before == 100


# -- callbacks ------------------------------------------------------------------------------------


async def test_callback_arrives_and_parses(
    fake: FakeAceData, provider: KlingProvider, receiver: CallbackReceiver
) -> None:
    fake.script(KlingScenario(seconds_until_done=0.05))
    task_id = await submit_id(provider, callback_url=receiver.url)

    [body] = await receiver.wait_for(1)

    task = fake.tasks[task_id]
    assert body == {
        "success": True,
        "video_id": task.video_id,
        "video_url": fake.cdn_url(task_id),
        "duration": "5.041",
        "state": "succeed",
        "task_id": task_id,
    }
    parsed_id, update = provider.parse_callback(body)
    assert parsed_id == task_id
    assert update == JobUpdate(
        "succeeded", "succeed", video_url=fake.cdn_url(task_id), provider_video_id=task.video_id
    )
    [delivery] = await fake.wait_for_callbacks(1)
    assert (delivery.status, delivery.url) == (200, receiver.url)
    # The callback is the same body a retrieve then shows as `response`.
    assert fake.tasks_requests == 0
    assert (await provider.poll(task_id)) == update


async def test_failure_callback_parses_to_a_mapped_failure(
    fake: FakeAceData, provider: KlingProvider, receiver: CallbackReceiver
) -> None:
    fake.script(
        KlingScenario(
            seconds_until_done=0.01, outcome="failed", error_code="forbidden", callback_delay=0.05
        )
    )
    task_id = await submit_id(provider, callback_url=receiver.url)
    await fake.wait_for_done(task_id)
    assert receiver.bodies == []  # held back by callback_delay
    [body] = await receiver.wait_for(1)
    assert set(body) == {"success", "error", "task_id", "trace_id"}
    parsed_id, update = parse_callback(json.dumps(body))
    assert parsed_id == task_id
    assert update.state == "failed"
    assert update.failure is not None
    assert update.failure.code == CONTENT_POLICY_VIOLATION


async def test_duplicate_and_suppressed_callbacks(
    fake: FakeAceData, provider: KlingProvider, receiver: CallbackReceiver
) -> None:
    fake.script(
        KlingScenario(seconds_until_done=0.01, duplicate_callback=True),
        KlingScenario(seconds_until_done=0.01, send_callback=False),
    )
    twice = await submit_id(provider, callback_url=receiver.url)
    never = await submit_id(provider, callback_url=receiver.url)
    first, second = await receiver.wait_for(2)
    await fake.wait_for_done(never)
    await fake.wait_until_quiet()  # a callback for `never` would have been sent by now
    assert first == second
    assert parse_callback(first)[0] == twice
    assert len(receiver.bodies) == 2
    assert all(d.task_id == twice for d in fake.callbacks)


async def test_poll_driven_completion_also_sends_the_callback(
    fake: FakeAceData, provider: KlingProvider, receiver: CallbackReceiver
) -> None:
    task_id = await submit_id(provider, callback_url=receiver.url)
    await poll_until_done(provider, task_id)
    [body] = await receiver.wait_for(1)
    assert body["task_id"] == task_id


async def test_fake_never_calls_back_off_loopback(fake: FakeAceData) -> None:
    body = {"action": "text2video", "prompt": "x", "callback_url": "https://webhook.site/624b2c78"}
    response = await fake_post(fake, VIDEOS_PATH, body)
    task_id = response.json()["task_id"]
    await fake.complete(task_id)
    [delivery] = await fake.wait_for_callbacks(1)
    assert (delivery.status, delivery.error) == (None, "not loopback")


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "not json",
        b"{",
        {},
        {"task_id": ""},
        {"task_id": 5, "success": True, "video_url": "https://x/v.mp4"},
        {"task_id": "t"},
        {"task_id": "t", "success": True},
        {"task_id": "t", "success": True, "state": "succeed"},
        {"task_id": "t", "success": False},
        {"task_id": "t", "state": "processing"},
        {"success": True, "video_url": "https://x/v.mp4", "state": "succeed"},
    ],
)
def test_malformed_callbacks_raise(body: object) -> None:
    with pytest.raises(ValueError, match=r"callback"):
        parse_callback(body)


def test_callback_shapes_parse() -> None:
    good = {
        "success": True,
        "video_id": "030bb06d-98d4-4044-9042-0aa0822e8c8c",
        "video_url": "https://platform2.cdn.acedata.cloud/gemini/04a.mp4?example=video-001",
        "duration": "5.1",
        "state": "succeed",
        "task_id": "20068983-0cc9-4c6a-aeb6-9c6a3c668be0",
    }
    task_id, update = parse_callback(good)
    assert task_id == "20068983-0cc9-4c6a-aeb6-9c6a3c668be0"
    assert (update.state, update.video_url) == ("succeeded", good["video_url"])
    assert update.provider_video_id == good["video_id"]
    assert parse_callback(json.dumps(good).encode()) == (task_id, update)

    failed = {
        "success": False,
        "error": {"code": "api_error", "message": "fetch failed"},
        "trace_id": "2cf86e86-22a4-46e1-ac2f-032c0f2a4e89",
        "task_id": "t-1",
    }
    task_id, update = parse_callback(failed)
    assert (task_id, update.state) == ("t-1", "failed")
    assert update.failure is not None
    assert (update.failure.code, update.failure.retryable) == ("api_error", True)
    assert (
        parse_callback({"task_id": "t-2", "success": False, "error": "used_up"})[1].failure.code
        == "used_up"
    )  # type: ignore[union-attr]


# -- error mapping --------------------------------------------------------------------------------

# Every row of providers.md §1.4 (plus the moderation 403 of the sibling endpoint): HTTP status,
# AceData's code, the code the bot sees, and whether simply trying again later can help.
DOCUMENTED = [
    (400, "token_mismatched", "token_mismatched", False),
    (400, "api_not_implemented", "api_not_implemented", False),
    (400, "disabled", "disabled", False),
    (400, "bad_request", "bad_request", False),
    (400, "no_token", "no_token", False),
    (401, "invalid_token", "invalid_token", False),
    (401, "token_expired", "token_expired", False),
    (401, "token_mismatched", "token_mismatched", False),
    (403, "used_up", "used_up", False),
    (403, "forbidden", CONTENT_POLICY_VIOLATION, False),
    (404, "no_api", "no_api", False),
    (429, "too_many_requests", "too_many_requests", True),
    (500, "api_error", "api_error", True),
]


def test_every_documented_code_is_in_the_table() -> None:
    assert {(s, c) for s, c, _, _ in DOCUMENTED} == set(DOCUMENTED_ERRORS)
    assert {c for _, c, _, _ in DOCUMENTED} | {"authorization_missing"} == set(ERROR_TABLE)
    assert {c for codes in KLING.meanings.values() for c in codes} == set(ERROR_TABLE)
    for status, code, _, _ in DOCUMENTED:
        assert status in ERROR_TABLE[code].statuses


@pytest.fixture(params=DOCUMENTED, ids=lambda row: f"{row[0]}-{row[1]}")
def documented(request: pytest.FixtureRequest) -> tuple[int, str, str, bool]:
    """One documented row: HTTP status, AceData's code, the code reported, retryable."""
    return request.param


async def test_documented_error_on_poll(
    fake: FakeAceData, provider: KlingProvider, documented: tuple[int, str, str, bool]
) -> None:
    status, code, reported, retryable = documented
    fake.fail_next("tasks", status=status, code=code, times=10)
    failure = await failure_of(provider.poll("t"))
    assert (failure.code, failure.retryable, failure.http_status) == (reported, retryable, status)
    assert failure.member_message.strip()
    assert DOCUMENTED_ERRORS[(status, code)] in failure.detail
    expected_calls = FAST_RETRY.attempts if retryable else 1
    assert fake.tasks_requests == expected_calls


async def test_documented_error_on_submit(
    fake: FakeAceData, provider: KlingProvider, documented: tuple[int, str, str, bool]
) -> None:
    status, code, reported, retryable = documented
    fake.fail_next("videos", status=status, code=code, shape="success_false", times=10)
    failure = await failure_of(provider.submit(TEXT))
    assert (failure.code, failure.retryable) == (reported, retryable)
    # Only a 429 proves AceData created nothing; a 500 may come after the task was made.
    expected_calls = FAST_RETRY.attempts if status == 429 else 1
    assert len(fake.requests_to(VIDEOS_PATH)) == expected_calls
    assert fake.tasks == {}


async def test_messages_say_what_to_do(fake: FakeAceData, provider: KlingProvider) -> None:
    for code in ("no_token", "token_mismatched", "disabled", "used_up", "no_api"):
        assert "admin" in await KLING.member_message(fake, provider, code)
    assert "content policy" in await KLING.member_message(fake, provider, "forbidden")
    assert "/video models" in await KLING.member_message(fake, provider, "bad_request")
    assert "Wait" in await KLING.member_message(fake, provider, "too_many_requests")


@pytest.mark.parametrize(
    ("shape", "status", "code", "message", "expected", "retryable"),
    [
        ("standard", 429, "too_many_requests", None, "too_many_requests", True),
        ("success_false", 403, "used_up", None, "used_up", False),
        ("with_task_id", 403, "forbidden", None, CONTENT_POLICY_VIOLATION, False),
        ("string", 401, "token_expired", None, "token_expired", False),
        ("string", 500, None, None, "http_500", True),
        ("code_detail", 400, "bad_request", "one of video_id or video_url", "bad_request", False),
        ("code_only", 401, "authorization_missing", None, "invalid_token", False),
        ("text", 502, None, "<html>Bad Gateway</html>", "http_502", True),
        ("empty", 503, None, None, "http_503", True),
        ("empty", 403, None, None, CONTENT_POLICY_VIOLATION, False),
        ("standard", 403, "nsfw_blocked", "no", CONTENT_POLICY_VIOLATION, False),
        ("standard", 401, "weird_auth", "no", "weird_auth", False),
        ("standard", 418, "teapot", "no", "teapot", False),
        ("standard", 503, "upstream_down", "no", "upstream_down", True),
        ("standard", 400, "BAD_REQUEST", "x", "bad_request", False),
    ],
)
async def test_odd_error_shapes(
    fake: FakeAceData,
    provider: KlingProvider,
    shape: str,
    status: int,
    code: str | None,
    message: str | None,
    expected: str,
    retryable: bool,
) -> None:
    fake.fail_next(
        "tasks",
        status=status,
        code=code,
        message=message,
        shape=shape,
        times=10,  # type: ignore[arg-type]
    )
    failure = await failure_of(provider.poll("t"))
    if expected == "invalid_token":  # authorization_missing reads as a token problem
        assert failure.code == "authorization_missing"
        assert failure.member_message == ERROR_TABLE["invalid_token"].message
    else:
        assert failure.code == expected
    assert failure.retryable is retryable
    assert failure.member_message


async def test_error_string_that_is_a_message(fake: FakeAceData, provider: KlingProvider) -> None:
    fake.fail_next("tasks", status=500, body={"error": "fetch failed"}, times=10)
    failure = await failure_of(provider.poll("t"))
    assert failure.code == "http_500"
    assert "fetch failed" in failure.detail


async def test_success_false_on_http_200_is_an_error(
    fake: FakeAceData, provider: KlingProvider
) -> None:
    fake.fail_next("videos", status=200, code="used_up", shape="success_false")
    failure = await failure_of(provider.submit(TEXT))
    assert failure.code == "used_up"


async def test_non_json_200_is_retried_as_unexpected(
    fake: FakeAceData, provider: KlingProvider, sleeps: RecordingSleep
) -> None:
    fake.respond_next("tasks", "<html>maintenance</html>")
    update = await provider.poll("t")  # the retry reaches the real handler: {} -> not found
    assert update.failure is not None
    assert update.failure.code == "task_not_found"
    assert len(sleeps.delays) == 1


async def test_fake_auth_errors_follow_the_contract(fake: FakeAceData) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        missing = await http.post(TASKS_PATH, json={"id": "x"})
        wrong = await http.post(
            TASKS_PATH, json={"id": "x"}, headers={"authorization": "Bearer nope"}
        )
        bare = await http.post(TASKS_PATH, json={"id": "x"}, headers={"authorization": TOKEN})
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "code": "no_token",
        "message": "No token specified for the request.",
    }
    assert wrong.status_code == bare.status_code == 401
    body = wrong.json()
    assert body["error"] == {
        "code": "invalid_token",
        "message": "The specified token is invalid or wrong.",
    }
    assert body["trace_id"]


async def test_fake_checks_parameters(fake: FakeAceData) -> None:
    tail_too_long = {
        "action": "image2video",
        "prompt": "x",
        "start_image_url": "https://a/1.png",
        "end_image_url": "https://a/2.png",
        "duration": 10,
        "async": True,
    }
    tail = await fake_post(fake, VIDEOS_PATH, tail_too_long)
    four_k_on_v1 = {"action": "text2video", "prompt": "x", "model": "kling-v1", "mode": "4k"}
    four_k = await fake_post(fake, VIDEOS_PATH, four_k_on_v1)
    assert tail.status_code == four_k.status_code == 400
    assert "image_tail" in tail.json()["error"]["message"]
    assert four_k.json()["error"]["code"] == "bad_request"
    assert fake.tasks == {}


# -- retries --------------------------------------------------------------------------------------


async def test_rate_limit_without_retry_after_backs_off(
    fake: FakeAceData, provider: KlingProvider, sleeps: RecordingSleep
) -> None:
    fake.fail_next("tasks", status=429, code="too_many_requests", times=2)
    await provider.poll("t")
    assert len(sleeps.delays) == 2
    assert all(0 <= d <= FAST_RETRY.max_delay for d in sleeps.delays)
