"""A fake AceData Cloud "Kling" server on 127.0.0.1 that follows reference/providers.md §1.

- `POST /kling/videos`: Bearer check; with `callback_url` or `async: true` it answers
  `{"task_id"}` at once, otherwise it blocks (a configurable delay) and answers the sync body.
- `POST /kling/tasks`: `retrieve` answers the task record (no `response`/`finished_at`/`elapsed`
  until done, `{}` for an unknown id); `retrieve_batch` answers `{"items": [...], "count": n}`.
- On completion the sync-shaped body (or `{"success": false, "error", "task_id", "trace_id"}`)
  is POSTed to `callback_url`, loopback addresses only.
- The result MP4 is served at the fake's own CDN path.
- Errors use `{"error": {"code", "message"}, "trace_id"}`; `fail_next` also injects every odd
  shape the contract lists (bare string, `{code, detail}`, `{code}`, non-JSON, empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from tests.fakes.media import make_mp4, pad_mp4
from tests.fakes.scripted import (
    ScriptedServer,
    shaped_response,
    stream_video,
)

Outcome = Literal["succeed", "failed"]
ErrorShape = Literal[
    "standard",  # {"error": {"code", "message"}, "trace_id"} (OpenAPI examples)
    "success_false",  # the guide's example: adds a top-level "success": false
    "with_task_id",  # the lip-sync sibling: adds "task_id" as well
    "string",  # {"error": "<code>", "trace_id"}: the SDK copes with a bare string
    "code_detail",  # {"code", "detail"} (lip-sync 400)
    "code_only",  # {"code"} (lip-sync 401 authorization_missing)
    "text",  # a non-JSON body, e.g. a gateway's HTML
    "empty",  # no body at all
]

VIDEOS_PATH = "/kling/videos"
TASKS_PATH = "/kling/tasks"
CDN_PREFIX = "/cdn/kling/"
API_ID = "29187cb2-1acb-43b8-baf5-3f3f709292eb"

# (HTTP status, error.code) -> error.message, exactly as the OpenAPI examples give them.
DOCUMENTED_ERRORS: Mapping[tuple[int, str], str] = {
    (400, "token_mismatched"): "The specified token is not matched with API.",
    (400, "api_not_implemented"): "The API is not implemented.",
    (400, "disabled"): (
        "Your application has been disabled by Ace Data Cloud due to abnormal usage behavior, "
        "please contact our support to get more information."
    ),
    (400, "bad_request"): "model is invalid.",
    (400, "no_token"): "No token specified for the request.",
    (401, "invalid_token"): "The specified token is invalid or wrong.",
    (401, "token_expired"): "token expired.",
    (401, "token_mismatched"): "token and api does not match.",
    (403, "used_up"): (
        "Your balance is not sufficient for current request, please buy more in Ace Data Cloud."
    ),
    (403, "forbidden"): "Blocked by content moderation",
    (404, "no_api"): "API does not exist, please make sure url is correct.",
    (429, "too_many_requests"): "You have exceeded the rate limit.",
    (500, "api_error"): "Internal server error.",
}
_STATUS_OF_CODE = {code: status for (status, code) in reversed(DOCUMENTED_ERRORS)}

MODELS = (
    "kling-v1",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
    "kling-v3-omni",
    "kling-o1",
)
FOUR_K_MODELS = ("kling-v3", "kling-v3-omni")
EXTEND_MODELS = ("kling-v1", "kling-v1-6", "kling-v2-5-turbo")
ACTIONS = ("text2video", "image2video", "extend")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
CAMERA_TYPES = ("simple", "down_back", "forward_up", "left_turn_forward", "right_turn_forward")
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
KNOWN_FIELDS = frozenset(
    {
        "action",
        "model",
        "mode",
        "prompt",
        "negative_prompt",
        "duration",
        "aspect_ratio",
        "cfg_scale",
        "start_image_url",
        "end_image_url",
        "camera_control",
        "video_id",
        "generate_audio",
        "image_list",
        "video_list",
        "callback_url",
        "async",
        "timeout",
    }
)
# Small real clips per aspect ratio; Kling's real sizes would only slow the tests down.
FRAME_SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}


@dataclass(frozen=True)
class KlingScenario:
    """How one task behaves, chosen when it is submitted."""

    # Task lookups (retrieve or retrieve_batch) answered without `response` before the outcome.
    polls_until_done: int = 1
    # When set, the task finishes this many seconds after submit instead (callbacks on time).
    seconds_until_done: float | None = None
    outcome: Outcome = "succeed"
    # For outcome "failed": the error in the response/callback body.
    error_code: str = "api_error"
    error_message: str | None = None
    # Also write `"state": "failed"` into the failure body.
    failed_state: bool = False
    # The video served; None means a small H.264 clip of the requested aspect ratio.
    result_bytes: bytes | None = None
    # Bytes appended as an MP4 `free` box, to make a large but valid file.
    result_padding: int = 0
    # The `duration` string of the result (a string, as the schema says).
    video_duration: str = "5.041"
    send_callback: bool = True
    callback_delay: float = 0.0
    duplicate_callback: bool = False
    # Replaces the video_url the fake would report (e.g. a dead link).
    result_url: str | None = None
    # Seconds between 64 KiB chunks when the video is downloaded (a slow CDN).
    chunk_delay: float = 0.0


@dataclass
class FakeTask:
    """A task the fake holds; tests may read it."""

    task_id: str
    trace_id: str
    video_id: str
    request: dict[str, Any]
    scenario: KlingScenario
    created_at: float
    created_mono: float
    lookups: int = 0
    finished_at: float | None = None
    # time.monotonic() when the outcome was recorded (to time the bot's reaction).
    finished_mono: float | None = None
    response: dict[str, Any] | None = None
    downloads: int = 0
    aborted_downloads: int = 0

    @property
    def done(self) -> bool:
        """Whether the outcome is recorded."""
        return self.response is not None

    @property
    def mode(self) -> str:
        """How it was submitted: callback, async or sync."""
        if self.request.get("callback_url"):
            return "callback"
        return "async" if self.request.get("async") is True else "sync"

    def record(self) -> dict[str, Any]:
        """The KlingTaskRecord: `response`, `finished_at`, `elapsed` only once done."""
        record: dict[str, Any] = {
            "_id": self.task_id.replace("-", "")[:24],
            "id": self.task_id,
            "api_id": API_ID,
            "application_id": "f35762fe-e8a4-4613-bb70-e5c1be4f9fc2",
            "created_at": round(self.created_at, 3),
            "started_at": round(self.created_at + 0.06, 3),
            "credential_id": "ce81345f-7e2a-4871-b539-aefb5f725220",
            "request": self.request,
            "trace_id": self.trace_id,
            "type": "videos",
            "user_id": "ad7afe47-cea9-4cda-980f-2ad8810e51cf",
        }
        if self.finished_at is not None and self.response is not None:
            record["finished_at"] = round(self.finished_at, 3)
            record["elapsed"] = round(self.finished_at - self.created_at, 3)
            record["job_id"] = "CjJzzGfBfqcAAAAAAKdVMQ"
            record["response"] = self.response
        return record


@dataclass(frozen=True)
class CallbackDelivery:
    """One callback the fake sent (or refused to send to a non-loopback address)."""

    task_id: str
    url: str
    body: dict[str, Any]
    status: int | None
    error: str | None = None


def error_response(
    status: int,
    code: str | None,
    message: str | None = None,
    *,
    shape: ErrorShape = "standard",
    retry_after: str | None = None,
    task_id: str | None = None,
) -> web.Response:
    """An error answer in one of the shapes AceData is seen to use."""
    text = message if message is not None else DOCUMENTED_ERRORS.get((status, code or ""), "error")
    trace_id = str(uuid.uuid4())
    error = {"code": code, "message": text}
    body: Any = None
    match shape:
        case "standard":
            body = {"error": error, "trace_id": trace_id}
        case "success_false":
            body = {"success": False, "error": error, "trace_id": trace_id}
        case "with_task_id":
            body = {
                "success": False,
                "error": error,
                "task_id": task_id or str(uuid.uuid4()),
                "trace_id": trace_id,
            }
        case "string":
            body = {"error": code, "trace_id": trace_id}
        case "code_detail":
            body = {"code": code, "detail": text}
        case "code_only":
            body = {"code": code}
    return shaped_response(status, body, text, shape, retry_after)


class FakeAceData(ScriptedServer[KlingScenario, FakeTask]):
    """A controllable AceData Kling server for tests; runs in the test's event loop."""

    default_shape = "standard"
    default_code = "api_error"
    paths = MappingProxyType({VIDEOS_PATH: "videos", TASKS_PATH: "tasks"})
    cdn_prefix = CDN_PREFIX
    error_response = staticmethod(error_response)

    def __init__(
        self,
        token: str = "test-acedata-token",
        *,
        sync_seconds: float = 0.2,
        batch_limit: int | None = None,
        reject_unknown_fields: bool = False,
    ) -> None:
        super().__init__(KlingScenario())
        self.token = token
        # How long a synchronous submit blocks when its scenario counts polls, not seconds.
        self.sync_seconds = sync_seconds
        # Cut retrieve_batch answers to this many items (a paging server); None: no limit.
        self.batch_limit = batch_limit
        self.reject_unknown_fields = reject_unknown_fields
        self.tasks: dict[str, FakeTask] = {}
        self.callbacks: list[CallbackDelivery] = []
        self._rng = random.Random(0)
        self._background: set[asyncio.Task[None]] = set()
        self._session: ClientSession | None = None

    # -- the scripted server's hooks --------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(VIDEOS_PATH, self._videos)
        router.add_post(TASKS_PATH, self._tasks)
        router.add_get(CDN_PREFIX + "{task_id}.mp4", self._cdn)

    def is_authorized(self, request: web.Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def refuse(
        self, request: web.Request, endpoint: str | None, authorized: bool
    ) -> web.StreamResponse | None:
        if endpoint in ("videos", "tasks") and not authorized:
            if not request.headers.get("authorization"):
                return error_response(400, "no_token")
            return error_response(401, "invalid_token")
        return None

    def redact(self, name: str, value: str) -> str:
        # Keep the scheme, so a test can see "Bearer", but never the token itself.
        return f"{value.split(' ', 1)[0]} [redacted]" if name == "authorization" else value

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> Self:
        """Listen on a free 127.0.0.1 port, with a client for the callbacks."""
        await super().start()
        self._session = ClientSession(timeout=ClientTimeout(total=5))
        return self

    async def stop(self) -> None:
        """Stop background work, stop listening and drop open connections."""
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().stop()

    # -- control --------------------------------------------------------------------------------

    def accepted(self) -> dict[str, FakeTask]:
        """The tasks, by id, in the order they were created."""
        return self.tasks

    async def complete(self, task_id: str) -> None:
        """Finish a task now with its scenario's outcome (sending its callback)."""
        await self._finish(self.tasks[task_id])

    @property
    def tasks_requests(self) -> int:
        """How many requests hit /kling/tasks: the cost of polling."""
        return len(self.requests_to(TASKS_PATH))

    async def wait_for_callbacks(self, n: int, timeout: float = 5.0) -> list[CallbackDelivery]:
        """Wait until at least `n` callbacks were attempted; return them all."""
        await self.wait_until(lambda: len(self.callbacks) >= n, timeout)
        return list(self.callbacks)

    async def wait_for_done(self, task_id: str, timeout: float = 5.0) -> FakeTask:
        """Wait until a task has its outcome."""
        await self.wait_until(lambda: task_id in self.tasks and self.tasks[task_id].done, timeout)
        return self.tasks[task_id]

    async def wait_until_quiet(self, timeout: float = 5.0) -> None:
        """Wait until nothing the fake started on its own (callbacks, timed finishes) is left."""
        async with asyncio.timeout(timeout):
            while self._background:
                await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- endpoints -------------------------------------------------------------------------------

    async def _videos(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        if body is None:
            return error_response(400, "bad_request", "request body must be a JSON object")
        refusal = _check_videos(body, self.reject_unknown_fields)
        if refusal is not None:
            return error_response(400, "bad_request", refusal)
        task = self._new_task(body)
        self.tasks[task.task_id] = task
        await self.changed()
        if task.mode != "sync":
            if task.scenario.seconds_until_done is not None:
                self._spawn(self._finish_later(task, task.scenario.seconds_until_done))
            return web.json_response({"task_id": task.task_id})
        # Synchronous: the HTTP call blocks until the video is done.
        wait = task.scenario.seconds_until_done
        await asyncio.sleep(self.sync_seconds if wait is None else wait)
        await self._finish(task)
        assert task.response is not None
        status = 200 if task.response.get("success") else self._failure_status(task)
        return web.json_response(task.response, status=status)

    async def _tasks(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        if body is None:
            return error_response(400, "bad_request", "request body must be a JSON object")
        action = body.get("action", "retrieve")
        if action == "retrieve":
            task_id = body.get("id")
            if not isinstance(task_id, str) or not task_id:
                return error_response(400, "bad_request", "id is required.")
            task = self.tasks.get(task_id)
            if task is None:
                return web.json_response({})
            return web.json_response(await self._look_up(task))
        if action == "retrieve_batch":
            return await self._retrieve_batch(body)
        return error_response(400, "bad_request", "action is invalid.")

    async def _retrieve_batch(self, body: dict[str, Any]) -> web.StreamResponse:
        ids = body.get("ids")
        if ids is None:
            # Nexior's filter form: every task, paged by limit/offset.
            offset = int(body.get("offset", 0) or 0)
            limit = int(body.get("limit", 12) or 12)
            ids = list(self.tasks)[offset : offset + limit]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return error_response(400, "bad_request", "ids must be a list of strings.")
        found = [self.tasks[i] for i in dict.fromkeys(ids) if i in self.tasks]
        listed = found if self.batch_limit is None else found[: self.batch_limit]
        items = [await self._look_up(task) for task in listed]
        return web.json_response({"items": items, "count": len(found)})

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or not task.done or task.scenario.outcome != "succeed":
            return web.Response(status=404, text="Not Found")
        payload = self._video_bytes(task)
        return await stream_video(request, task, payload, task.scenario.chunk_delay)

    # -- task lifecycle --------------------------------------------------------------------------

    def _new_task(self, body: dict[str, Any]) -> FakeTask:
        scenario = self.next_scenario(body)
        return FakeTask(
            task_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            trace_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            video_id=str(self._rng.randrange(10**17, 10**18)),
            request=dict(body),
            scenario=scenario,
            created_at=time.time(),
            created_mono=time.monotonic(),
        )

    async def _look_up(self, task: FakeTask) -> dict[str, Any]:
        """The record a lookup sees; counting lookups is what moves a poll-driven task on."""
        if (
            not task.done
            and task.scenario.seconds_until_done is None
            and task.lookups >= task.scenario.polls_until_done
        ):
            await self._finish(task)
        task.lookups += 1
        return task.record()

    async def _finish_later(self, task: FakeTask, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._finish(task)

    async def _finish(self, task: FakeTask) -> None:
        """Record the outcome once and send the callback, if one was asked for."""
        if task.done:
            return
        task.finished_at = time.time()
        task.finished_mono = time.monotonic()
        task.response = self._result_body(task)
        await self.changed()
        url = task.request.get("callback_url")
        if isinstance(url, str) and url and task.scenario.send_callback:
            self._spawn(self._send_callbacks(task, url))

    def _result_body(self, task: FakeTask) -> dict[str, Any]:
        s = task.scenario
        if s.outcome == "succeed":
            return {
                "success": True,
                "video_id": task.video_id,
                "video_url": s.result_url or self.cdn_url(task.task_id),
                "duration": s.video_duration,
                "state": "succeed",
                "task_id": task.task_id,
            }
        message = s.error_message or DOCUMENTED_ERRORS.get(
            (_STATUS_OF_CODE.get(s.error_code, 500), s.error_code), "fetch failed"
        )
        body: dict[str, Any] = {
            "success": False,
            "error": {"code": s.error_code, "message": message},
            "task_id": task.task_id,
            "trace_id": task.trace_id,
        }
        if s.failed_state:
            body["state"] = "failed"
        return body

    def _failure_status(self, task: FakeTask) -> int:
        return _STATUS_OF_CODE.get(task.scenario.error_code, 500)

    async def _send_callbacks(self, task: FakeTask, url: str) -> None:
        if task.scenario.callback_delay:
            await asyncio.sleep(task.scenario.callback_delay)
        for _ in range(2 if task.scenario.duplicate_callback else 1):
            await self._post_callback(task, url)

    async def _post_callback(self, task: FakeTask, url: str) -> None:
        assert task.response is not None
        body = dict(task.response)
        host = urlsplit(url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            # Tests never touch the network: a callback elsewhere is recorded, not sent.
            self.callbacks.append(CallbackDelivery(task.task_id, url, body, None, "not loopback"))
        elif self._session is not None:
            try:
                async with self._session.post(url, json=body) as response:
                    delivery = CallbackDelivery(task.task_id, url, body, response.status)
            except (ClientError, TimeoutError) as exc:
                delivery = CallbackDelivery(task.task_id, url, body, None, type(exc).__name__)
            self.callbacks.append(delivery)
        await self.changed()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _video_bytes(self, task: FakeTask) -> bytes:
        data = task.scenario.result_bytes
        if data is None:
            width, height = FRAME_SIZES.get(str(task.request.get("aspect_ratio")), (320, 180))
            data = make_mp4(width, height, seconds=0.25, fps=8)
        return pad_mp4(data, task.scenario.result_padding)


# -- request checks (the contract's parameter rules, answered as 400 bad_request) ---------------


def _check_videos(body: dict[str, Any], reject_unknown: bool) -> str | None:
    """Why AceData would refuse this createKlingVideos body, or None."""
    if reject_unknown and (unknown := set(body) - KNOWN_FIELDS):
        return f"unknown fields: {', '.join(sorted(unknown))}"
    action = body.get("action")
    if action not in ACTIONS:
        return "action is invalid."
    model = body.get("model", "kling-v1")
    if model not in MODELS:
        return "model is invalid."
    for check in (_check_mode, _check_text, _check_numbers, _check_frames, _check_camera):
        if (refusal := check(body, action, model)) is not None:
            return refusal
    return None


def _check_mode(body: dict[str, Any], action: str, model: str) -> str | None:
    mode = body.get("mode", "std")
    if mode not in ("std", "pro", "4k"):
        return "mode is invalid."
    if mode == "4k" and model not in FOUR_K_MODELS:
        return f"mode 4k is not supported by {model}."
    if mode == "4k" and body.get("camera_control") is not None:
        return "camera_control is not supported with mode 4k."
    if action == "extend":
        if model not in EXTEND_MODELS:
            return f"extend is not supported by {model}."
        if not isinstance(body.get("video_id"), str) or not body["video_id"]:
            return "video_id is required for extend."
    return None


def _check_text(body: dict[str, Any], action: str, model: str) -> str | None:
    prompt = body.get("prompt")
    if action in ("text2video", "image2video") and (not isinstance(prompt, str) or not prompt):
        return "prompt is required."
    negative = body.get("negative_prompt")
    if negative is not None and (not isinstance(negative, str) or len(negative) > 200):
        return "negative_prompt must be at most 200 characters."
    ratio = body.get("aspect_ratio")
    if ratio is not None and ratio not in ASPECT_RATIOS:
        return "aspect_ratio is invalid."
    return None


def _check_numbers(body: dict[str, Any], action: str, model: str) -> str | None:
    duration = body.get("duration", 5)
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        return "duration is invalid."
    if model in FOUR_K_MODELS:
        allowed: tuple[int, ...] = tuple(range(3, 16))
    elif model == "kling-o1":
        allowed = (5,)
    else:
        allowed = (5, 10)
    if duration not in allowed:
        return f"duration {duration:g} is not supported by {model}."
    cfg = body.get("cfg_scale")
    if cfg is not None and (
        isinstance(cfg, bool) or not isinstance(cfg, int | float) or not 0 <= cfg <= 1
    ):
        return "cfg_scale must be between 0 and 1."
    return None


def _check_frames(body: dict[str, Any], action: str, model: str) -> str | None:
    start, end = body.get("start_image_url"), body.get("end_image_url")
    if action == "image2video" and not start:
        return "start_image_url is required for image2video."
    if end is not None:
        if action != "image2video" or not start:
            return "end_image_url requires image2video with start_image_url."
        if body.get("duration", 5) != 5:
            mode, duration = body.get("mode", "std"), body["duration"]
            return (
                f"model/mode/duration({model}/{mode}/{duration}) is not supported with image_tail"
            )
    return None


def _check_camera(body: dict[str, Any], action: str, model: str) -> str | None:
    control = body.get("camera_control")
    if control is None:
        return None
    if not isinstance(control, dict) or control.get("type") not in CAMERA_TYPES:
        return "camera_control.type is invalid."
    config = control.get("config", {})
    if not isinstance(config, dict) or set(config) - set(CAMERA_AXES):
        return "camera_control.config is invalid."
    for value in config.values():
        if isinstance(value, bool) or not isinstance(value, int | float) or not -1 <= value <= 1:
            return "camera_control.config values must be numbers in [-1, 1]."
    return None


# -- responses ----------------------------------------------------------------------------------


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None
