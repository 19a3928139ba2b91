"""A fake kvidAI server on 127.0.0.1 that follows reference/providers.md §2 and the kvid seed.

Two editions of kvid's public docs disagree on details; `edition` picks which one to speak:

- "a1" (default): the seed / v1-v2-v3 edition. Status bodies carry no `result_url`/`error_message`
  while running, result before completion answers 400 RESULT_FETCH_ERROR, validation answers
  422 ValidationError, rate limiting answers 429 RATE_LIMITED.
- "a2": the credit-pool edition. Status bodies carry `result_url: null, error_message: null`,
  results add `size`/`file_size`, result before completion answers 400 JOB_NOT_COMPLETED (or
  JOB_FAILED), validation answers 400 MISSING_PARAMETERS / INVALID_PARAMETERS, concurrency
  answers 429 CONCURRENT_LIMIT. The request schema stays a1's, because that is what the bot speaks.

Both editions send errors in the seed's shape
`{"success": false, "error": CODE, "message": ..., "details": {"http_status": N, "help_url": ...}}`
and answer a wrong or missing `api-key` with 403 and no code.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import random
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from aiohttp import ClientSession, ClientTimeout, web
from PIL import Image

from tests.fakes.media import make_mp4, pad_mp4
from tests.fakes.scripted import (
    ScriptedServer,
    shaped_response,
    stream_video,
)

Edition = Literal["a1", "a2"]
Outcome = Literal["completed", "failed", "canceled"]
ErrorShape = Literal[
    "seed",  # the seed's body: {"success": false, "error": CODE, "message", "details"}
    "object",  # `error: {code, message}`
    "fal",  # `detail: [{loc, msg, type}]`
    "text",  # a plain-text body
    "no_code",  # `success`/`message` only, like the 403
    "empty",  # no body at all
]

HELP_URL = "https://docs.kvid.ai/docs/api-services/video-api"
SUBMIT_PATHS = {
    "/ai/generation/text-to-video/generate-async": "text",
    "/ai/generation/image-to-video/generate-async": "image",
}
STATUS_PATH = "/ai/generation/status"
RESULT_PATH = "/ai/generation/result"
CDN_PREFIX = "/cdn/videos/"

# The seed's own wording (its 설명 column), used when a test injects an error without a message.
SEED_MESSAGES: Mapping[str, str] = {
    "INSUFFICIENT_CREDITS": "크레딧이 부족합니다.",
    "PROMPT_VALIDATION_ERROR": "프롬프트 검증 실패",
    "USER_NOT_FOUND": "사용자 없음",
    "RESULT_FETCH_ERROR": "결과 조회 실패",
    "ValidationError": "입력값 검증 실패",
    "image_too_small": "이미지 크기 부족",
    "image_too_large": "이미지 크기 초과",
    "content_policy_violation": "콘텐츠 정책 위반",
    "generation_timeout": "생성 시간 초과",
    "RATE_LIMITED": "요청 과다",
    "internal_server_error": "내부 서버 오류",
    "INSUFFICIENT_CREDIT": "Not enough credits",
    "CONCURRENT_LIMIT": "Too many concurrent jobs",
    "JOB_NOT_FOUND": "jobId not found",
    "JOB_NOT_COMPLETED": "Job is still queued or processing",
    "JOB_FAILED": "Job failed; see error_message from the status endpoint",
    "MISSING_PARAMETERS": "Missing prompt/image",
    "INVALID_PARAMETERS": "Invalid parameter",
}

# Every documented code with its documented HTTP status, and whether the docs' remedy is simply to
# try again later (retryable) or needs a different request or an admin (not).
DOCUMENTED_ERRORS = [
    # seed edition
    ("INSUFFICIENT_CREDITS", 402, False),
    ("PROMPT_VALIDATION_ERROR", 400, False),
    ("USER_NOT_FOUND", 404, False),
    ("RESULT_FETCH_ERROR", 400, True),
    ("ValidationError", 422, False),
    ("image_too_small", 422, False),
    ("image_too_large", 422, False),
    ("content_policy_violation", 422, False),
    ("generation_timeout", 504, False),
    ("RATE_LIMITED", 429, True),
    ("internal_server_error", 500, True),
    # credit-pool edition
    ("INSUFFICIENT_CREDIT", 402, False),
    ("CONCURRENT_LIMIT", 429, True),
    ("JOB_NOT_FOUND", 404, False),
    ("JOB_NOT_COMPLETED", 400, True),
    ("JOB_FAILED", 400, False),
    ("MISSING_PARAMETERS", 400, False),
    ("INVALID_PARAMETERS", 400, False),
]

# Documented request fields (a1). Anything else is ignored, as kvid's gateway does, but recorded.
COMMON_FIELDS = frozenset(
    {
        "prompt",
        "model",
        "resolution",
        "seed",
        "num_inference_steps",
        "enable_safety_checker",
        "enable_prompt_expansion",
    }
)
IMAGE_FIELDS = frozenset({"image_url", "aspect_ratio"})
MODELS = {"v1": ("480p", "720p"), "v2": ("480p", "720p", "1080p"), "v3": ("480p", "720p", "1080p")}
ASPECT_RATIOS = ("auto", "16:9", "9:16", "1:1")
FRAME_SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 300, 6000


@dataclass(frozen=True)
class KvidScenario:
    """How one job behaves, chosen when it is submitted."""

    # Status answers spent in each state before the outcome is reported.
    queued_polls: int = 0
    processing_polls: int = 1
    outcome: Outcome = "completed"
    # Sent as the status body's `error_message` when the job fails or is canceled.
    error_message: str | None = None
    # The video served at result_url; None means an H.264 clip of width×height made on demand.
    result_bytes: bytes | None = None
    # Bytes appended as an MP4 `free` box, to make a large but valid file.
    result_padding: int = 0
    # Reported size; None follows the requested resolution (and aspect ratio for images).
    width: int | None = None
    height: int | None = None
    used_credit: int = 54
    # None means the edition's documented example ("30s" for a1, "2-5min" for a2).
    estimated_time: str | None = None
    # Seconds each status/result answer for this job is held back (a slow API).
    delay_seconds: float = 0.0
    # Seconds between 64 KiB chunks when the video is downloaded (a slow CDN).
    chunk_delay: float = 0.0
    # Replaces the result_url the fake would report (e.g. to point at a dead link).
    result_url: str | None = None
    # Wall-clock seconds after submission before the outcome can be reported: until then a
    # status answer that would report it says "processing" instead (load tests, long jobs).
    processing_seconds: float = 0.0


@dataclass(frozen=True)
class KvidContract:
    """Which edition of kvid's docs the fake speaks, and which of the contract's checks it makes."""

    edition: Edition = "a1"
    # Jobs that have not yet reported their outcome count against this limit (a 429).
    max_concurrent: int | None = None
    # Download image_url (loopback test servers only) and enforce 300..6000 px per side.
    inspect_images: bool = False
    require_https_images: bool = False
    reject_unknown_fields: bool = False


SEED_CONTRACT = KvidContract()


@dataclass
class FakeJob:
    """A job the fake holds; tests may read it."""

    job_id: str
    kind: str
    body: dict[str, Any]
    scenario: KvidScenario
    created_at: str
    status_calls: int = 0
    result_calls: int = 0
    downloads: int = 0
    aborted_downloads: int = 0
    submitted_at: float = field(default_factory=time.monotonic)
    # Status answers turned into "processing" by `processing_seconds` (keeps states monotonic).
    held_polls: int = 0

    @property
    def status(self) -> str:
        """The state the next status answer reports."""
        return self._state_after(self.status_calls)

    @property
    def terminal(self) -> bool:
        """Whether a status answer has already reported the outcome."""
        return self.status_calls > 0 and self._state_after(self.status_calls - 1) in (
            "completed",
            "failed",
            "canceled",
        )

    def _state_after(self, calls: int) -> str:
        if calls < self.scenario.queued_polls:
            return "queued"
        if calls < self.scenario.queued_polls + self.scenario.processing_polls + self.held_polls:
            return "processing"
        return self.scenario.outcome

    @property
    def frame_size(self) -> tuple[int, int]:
        """The width and height this job reports."""
        s = self.scenario
        if s.width is not None and s.height is not None:
            return s.width, s.height
        width, height = FRAME_SIZES.get(str(self.body.get("resolution", "720p")), (1280, 720))
        ratio = self.body.get("aspect_ratio") if self.kind == "image" else None
        if ratio == "9:16":
            return height, width
        if ratio == "1:1":
            return height, height
        return width, height


def error_response(
    status: int,
    error: str | None,
    message: str | None = None,
    *,
    retry_after: str | None = None,
    shape: ErrorShape = "seed",
) -> web.Response:
    """An error answer in one of the shapes kvid (or the fal upstream it relays) is seen to use."""
    text = message if message is not None else SEED_MESSAGES.get(error or "", "error")
    body: Any = None
    match shape:
        case "seed":
            body = {
                "success": False,
                "error": error,
                "message": text,
                "details": {"http_status": status, "help_url": HELP_URL},
            }
        case "object":
            body = {"success": False, "error": {"code": error, "message": text}}
        case "fal":
            body = {"detail": [{"loc": ["body", "image_url"], "msg": text, "type": error}]}
        case "no_code":
            body = {"success": False, "message": text}
    return shaped_response(status, body, text, shape, retry_after)


class FakeKvid(ScriptedServer[KvidScenario, FakeJob]):
    """A controllable kvidAI server for tests; runs in the test's event loop."""

    default_shape = "seed"
    default_code = "internal_server_error"
    paths = MappingProxyType(
        {**dict.fromkeys(SUBMIT_PATHS, "submit"), STATUS_PATH: "status", RESULT_PATH: "result"}
    )
    cdn_prefix = CDN_PREFIX
    error_response = staticmethod(error_response)

    def __init__(
        self, api_key: str = "test-kvid-key", *, contract: KvidContract = SEED_CONTRACT
    ) -> None:
        super().__init__(KvidScenario())
        self.api_key = api_key
        self.contract = contract
        self.jobs: dict[str, FakeJob] = {}
        self._counter = itertools.count(1)
        self._rng = random.Random(0)

    # -- the scripted server's hooks --------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for path in SUBMIT_PATHS:
            router.add_post(path, self._submit)
        router.add_get(STATUS_PATH, self._status)
        router.add_get(RESULT_PATH, self._result)
        router.add_get(CDN_PREFIX + "{job_id}.mp4", self._cdn)

    def is_authorized(self, request: web.Request) -> bool:
        return request.headers.get("api-key") == self.api_key

    def refuse(
        self, request: web.Request, endpoint: str | None, authorized: bool
    ) -> web.StreamResponse | None:
        if endpoint != "cdn" and not authorized:
            # Both editions document a bare 403 for a bad key, with no error code.
            return web.json_response(
                {"success": False, "message": "Invalid or missing api-key"}, status=403
            )
        return None

    def redact(self, name: str, value: str) -> str:
        return "[redacted]" if name == "api-key" else value

    # -- control --------------------------------------------------------------------------------

    def accepted(self) -> dict[str, FakeJob]:
        """The jobs, by id, in the order they were accepted."""
        return self.jobs

    # -- endpoints -------------------------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        kind = SUBMIT_PATHS[request.path]
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._invalid("Request body must be JSON", missing=False)
        if not isinstance(body, dict):
            return self._invalid("Request body must be a JSON object", missing=False)
        refusal = await self._check_submit(kind, body)
        if refusal is not None:
            return refusal
        limit, a2 = self.contract.max_concurrent, self.contract.edition == "a2"
        if limit is not None and self._active_jobs() >= limit:
            code = "CONCURRENT_LIMIT" if a2 else "RATE_LIMITED"
            return error_response(429, code, retry_after=None)
        job = self._new_job(kind, body)
        estimated = job.scenario.estimated_time or ("2-5min" if a2 else "30s")
        message = "Video generation job queued." if a2 else "Job submitted"
        self.jobs[job.job_id] = job
        await self.changed()
        return web.json_response(
            {
                "success": True,
                "data": {
                    "job_id": job.job_id,
                    "status": "queued",
                    "message": message,
                    "estimated_time": estimated,
                    "video_type": f"{kind}-to-video",
                },
            }
        )

    async def _status(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.query.get("jobId", ""))
        if job is None:
            return self._job_not_found(request)
        await asyncio.sleep(job.scenario.delay_seconds)
        outcome_due = job.status not in ("queued", "processing") and not job.terminal
        if outcome_due and time.monotonic() - job.submitted_at < job.scenario.processing_seconds:
            job.held_polls += 1
        state = job.status
        job.status_calls += 1
        data: dict[str, Any] = {
            "job_id": job.job_id,
            "status": state,
            "video_type": f"{job.kind}-to-video",
            "prompt": job.body.get("prompt"),
            "created_at": job.created_at,
        }
        failed = state in ("failed", "canceled")
        if self.contract.edition == "a2":
            data["result_url"] = self._result_url(job) if state == "completed" else None
            data["error_message"] = job.scenario.error_message if failed else None
        elif failed and job.scenario.error_message is not None:
            data["error_message"] = job.scenario.error_message
        return web.json_response({"success": True, "data": data})

    async def _result(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.query.get("jobId", ""))
        if job is None:
            return self._job_not_found(request)
        await asyncio.sleep(job.scenario.delay_seconds)
        job.result_calls += 1
        # The result exists once a status answer has reported completion (as kvid's flow implies).
        if not (job.terminal and job.scenario.outcome == "completed"):
            return self._result_not_ready(job)
        width, height = job.frame_size
        data: dict[str, Any] = {
            "job_id": job.job_id,
            "status": "completed",
            "result_url": self._result_url(job),
            "prompt": job.body.get("prompt"),
            "width": width,
            "height": height,
            "type": "video/mp4" if self.contract.edition == "a1" else f"{job.kind}-to-video",
            "used_credit": job.scenario.used_credit,
            "created_at": job.created_at,
        }
        if self.contract.edition == "a2":
            data["size"] = data["file_size"] = len(self._video_bytes(job))
        return web.json_response({"success": True, "data": data})

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None or not (job.terminal and job.scenario.outcome == "completed"):
            return web.Response(status=404, text="Not Found")
        return await stream_video(request, job, self._video_bytes(job), job.scenario.chunk_delay)

    # -- helpers --------------------------------------------------------------------------------

    async def _check_submit(self, kind: str, body: dict[str, Any]) -> web.StreamResponse | None:
        """The documented input checks, answered in the edition's codes."""
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return self._invalid("prompt is required", missing=True)
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in prompt):
            return error_response(400, "PROMPT_VALIDATION_ERROR", "prompt contains control chars")
        unknown = set(body) - COMMON_FIELDS - (IMAGE_FIELDS if kind == "image" else set())
        if unknown and self.contract.reject_unknown_fields:
            return self._invalid(f"unknown fields: {', '.join(sorted(unknown))}", missing=False)
        model = body.get("model", "v2")
        resolution = body.get("resolution", "720p")
        if model not in MODELS:
            return self._invalid(f"model must be one of {', '.join(MODELS)}", missing=False)
        if resolution not in MODELS[model]:
            return self._invalid(f"resolution {resolution} is not available for {model}", False)
        if kind == "image":
            return await self._check_image(body)
        return None

    async def _check_image(self, body: dict[str, Any]) -> web.StreamResponse | None:
        url = body.get("image_url")
        if not isinstance(url, str) or not url:
            return self._invalid("image_url is required", missing=True)
        if self.contract.require_https_images and not url.startswith("https://"):
            return self._invalid("image_url must be an HTTPS URL", missing=False)
        if body.get("aspect_ratio", "auto") not in ASPECT_RATIOS:
            return self._invalid(f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}", False)
        if self.contract.inspect_images:
            return await self._inspect_image(url)
        return None

    async def _inspect_image(self, url: str) -> web.StreamResponse | None:
        """Fetch a loopback image and apply the seed's 300..6000 px limits."""
        if not url.startswith(("http://127.0.0.1", "http://localhost", "https://127.0.0.1")):
            return self._invalid("image_url is not reachable from the fake", missing=False)
        try:
            async with (
                ClientSession(timeout=ClientTimeout(total=10)) as session,
                session.get(url) as response,
            ):
                data = await response.read()
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Exception as exc:
            return self._invalid(f"image_url could not be read: {exc}", missing=False)
        if width < MIN_IMAGE_SIDE or height < MIN_IMAGE_SIDE:
            return error_response(422, "image_too_small", f"{width}x{height} < 300x300")
        if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
            return error_response(422, "image_too_large", f"{width}x{height} > 6000x6000")
        return None

    def _invalid(self, message: str, missing: bool) -> web.StreamResponse:
        if self.contract.edition == "a2":
            code = "MISSING_PARAMETERS" if missing else "INVALID_PARAMETERS"
            return error_response(400, code, message)
        return error_response(422, "ValidationError", message)

    def _job_not_found(self, request: web.Request) -> web.StreamResponse:
        # Neither edition documents an unknown id on status; a2's result answer is the best guess.
        job_id = request.query.get("jobId")
        return error_response(404, "JOB_NOT_FOUND", f"jobId {job_id!r} not found")

    def _result_not_ready(self, job: FakeJob) -> web.StreamResponse:
        if self.contract.edition == "a1":
            return error_response(400, "RESULT_FETCH_ERROR", SEED_MESSAGES["RESULT_FETCH_ERROR"])
        if job.terminal:  # failed or canceled
            return error_response(400, "JOB_FAILED")
        return error_response(400, "JOB_NOT_COMPLETED")

    def _active_jobs(self) -> int:
        return sum(1 for job in self.jobs.values() if not job.terminal)

    def _new_job(self, kind: str, body: dict[str, Any]) -> FakeJob:
        scenario = self.next_scenario(body)
        millis = int(time.time() * 1000) + next(self._counter)
        if self.contract.edition == "a2":
            suffix = "".join(self._rng.choices(string.ascii_lowercase + string.digits, k=9))
            job_id = f"job_{millis}_{suffix}"
        else:
            suffix = "".join(self._rng.choices(string.ascii_lowercase + string.digits, k=6))
            job_id = f"vid_{millis}_{suffix}"
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return FakeJob(job_id, kind, dict(body), scenario, created)

    def _result_url(self, job: FakeJob) -> str:
        return job.scenario.result_url or self.cdn_url(job.job_id)

    def _video_bytes(self, job: FakeJob) -> bytes:
        data = job.scenario.result_bytes
        if data is None:
            width, height = job.frame_size
            data = make_mp4(width - width % 2, height - height % 2)
        return pad_mp4(data, job.scenario.result_padding)
