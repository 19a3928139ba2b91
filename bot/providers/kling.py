"""Kling through AceData Cloud (api.acedata.cloud): asynchronous submit, task polling, callbacks."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Unpack, cast
from urllib.parse import urlsplit

import httpx

from bot.camera import CameraMove, kling_camera_control, with_directive
from bot.providers.base import (
    InvalidRequest,
    JobKind,
    JobUpdate,
    ModelSpec,
    ProviderFailure,
    Submission,
    VideoRequest,
    model_table,
)
from bot.providers.common import (
    ClientOptions,
    ErrorRow,
    ErrorTable,
    Fallback,
    HttpProvider,
    OperatorAlert,
    ProviderOptions,
    SecretHeaderAuth,
    error_fields,
    json_client,
    required_secret,
    resubmit_guard,
    snippet,
    text_or_none,
    unexpected,
)
from bot.providers.validation import check_against_spec

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.acedata.cloud"
VIDEOS_PATH: Final = "/kling/videos"
TASKS_PATH: Final = "/kling/tasks"
USER_AGENT: Final = "discord-video-bot/0.1 (kling provider; httpx)"
# AceData's sample task records took 316-317 s; the guide's "1-2 minutes" is optimistic.
ESTIMATED_SECONDS: Final = 300.0
# retrieve_batch has no documented size limit; this keeps one request body small.
MAX_BATCH: Final = 100

ACTIONS: Final[Mapping[JobKind, str]] = MappingProxyType(
    {"text": "text2video", "image": "image2video", "extend": "extend"}
)
MODES: Final = ("std", "pro")
MODES_WITH_4K: Final = ("std", "pro", "4k")
ASPECT_RATIOS: Final = ("16:9", "9:16", "1:1")
# The official SDK allows action=extend only on these models.
EXTEND_MODELS: Final = ("kling-v1", "kling-v1-6", "kling-v2-5-turbo")
# "Requests with a tail frame: only 5" (createKlingVideos, `duration`).
END_FRAME_DURATIONS: Final = (5,)
MAX_NEGATIVE_PROMPT_CHARS: Final = 200
# Kling's own API caps prompts at 2500 characters; AceData documents no other limit.
MAX_PROMPT_CHARS: Final = 2500
CFG_SCALE_MIN, CFG_SCALE_MAX = 0.0, 1.0
# The SDK's words for a final state, looked up in `response.state`.
DONE_STATES: Final = frozenset({"succeed", "succeeded", "success", "completed", "complete"})
FAILED_STATES: Final = frozenset(
    {"failed", "failure", "error", "cancelled", "canceled", "rejected"}
)


def _spec(name: str, title: str, durations: tuple[int, ...], modes: tuple[str, ...]) -> ModelSpec:
    """One published model; every Kling model takes the same kinds of input otherwise."""
    extends = name in EXTEND_MODELS
    kinds: tuple[JobKind, ...] = ("text", "image", "extend") if extends else ("text", "image")
    # Written from the same facts the checks use, so the description cannot disagree with them.
    lengths = _durations_text(durations)
    about = f"{title}: {lengths} s clips{', up to 4k' if '4k' in modes else ''}"
    return ModelSpec(
        name=name,
        kinds=kinds,
        resolutions=modes,  # For Kling this field holds the mode, as the price table does.
        default_resolution="std",
        durations=durations,
        default_duration=5,
        aspect_ratios=MappingProxyType({"text": ASPECT_RATIOS, "image": ASPECT_RATIOS}),
        supports_seed=False,
        supports_negative_prompt=True,
        max_prompt_chars=MAX_PROMPT_CHARS,
        description=f"{about}; can extend." if extends else f"{about}.",
    )


def _durations_text(durations: tuple[int, ...]) -> str:
    """`5`, `5 or 10`, or `3-15` for a longer run."""
    if len(durations) > 2:
        return f"{durations[0]}-{durations[-1]}"
    return " or ".join(str(d) for d in durations)


_FIVE_OR_TEN: Final = (5, 10)
_THREE_TO_FIFTEEN: Final = tuple(range(3, 16))

MODELS: Final = model_table(
    _spec("kling-v1", "Kling 1.0", _FIVE_OR_TEN, MODES),
    _spec("kling-v1-6", "Kling 1.6", _FIVE_OR_TEN, MODES),
    _spec("kling-v2-master", "Kling 2.0 Master", _FIVE_OR_TEN, MODES),
    _spec("kling-v2-1-master", "Kling 2.1 Master", _FIVE_OR_TEN, MODES),
    _spec("kling-v2-5-turbo", "Kling 2.5 Turbo", _FIVE_OR_TEN, MODES),
    _spec("kling-v2-6", "Kling 2.6", _FIVE_OR_TEN, MODES),
    _spec("kling-v3", "Kling 3", _THREE_TO_FIFTEEN, MODES_WITH_4K),
    _spec("kling-v3-omni", "Kling 3 Omni", _THREE_TO_FIFTEEN, MODES_WITH_4K),
    _spec("kling-o1", "Kling O1", (5,), MODES),
)


def can_extend(model: str) -> bool:
    """Whether `model` takes action=extend."""
    return model in EXTEND_MODELS


# ---------------------------------------------------------------------------------------------
# Error table: every code AceData documents for /kling/videos and /kling/tasks (providers.md §1.4)
# ---------------------------------------------------------------------------------------------

_TOKEN_BAD = (
    "AceData Cloud, which runs Kling for the bot, does not accept the bot's access token "
    "(missing, wrong or expired), so no video can be made right now. Please tell a server admin."
)
_TOKEN_WRONG_API = (
    "The bot's AceData Cloud token is not enabled for the Kling video API, so no video can be "
    "made right now. Please tell a server admin."
)
_ACCOUNT_DISABLED = (
    "AceData Cloud has disabled the bot's account, so no Kling video can be made right now. "
    "Please tell a server admin."
)
_OUT_OF_BALANCE = (
    "The bot's AceData Cloud balance has run out, so no Kling video can be made right now. "
    "Please tell a server admin."
)
_NOT_OFFERED = "AceData Cloud does not offer this Kling feature right now. Try another model."
_NO_API = (
    "The bot is calling a Kling address that AceData Cloud does not know: a setup problem. "
    "Please tell a server admin."
)
_BAD_OPTIONS = (
    "Kling rejected the options of this request. Check the model, mode, duration and other "
    "settings with /video models and try again."
)
_CONTENT_POLICY = (
    "Kling refused this request under its content policy. Change the prompt or image and try again."
)
_RATE_LIMITED = "Kling is receiving too many requests right now. Wait a minute and try again."
_SERVER_ERROR = "Kling had an internal error. Wait a little and try again."
_REJECTED = "Kling refused this request. Check the prompt and options and try again."
_JOB_GONE = "Kling does not know this job, so its video cannot be fetched. Start a new one."
_JOB_FAILED = "Kling could not make this video. Try again, perhaps with another prompt or image."
_NO_VIDEO_URL = "Kling reported the video as finished but gave no link to it. Try again."

CONTENT_POLICY_VIOLATION: Final = "content_policy_violation"
TASK_NOT_FOUND: Final = "task_not_found"


# Retryable means the same request may succeed later without anyone changing anything.
ERROR_TABLE: Final[Mapping[str, ErrorRow]] = MappingProxyType(
    {
        "token_mismatched": ErrorRow(_TOKEN_WRONG_API, False, statuses=(400, 401)),
        "api_not_implemented": ErrorRow(_NOT_OFFERED, False, statuses=(400,)),
        "disabled": ErrorRow(_ACCOUNT_DISABLED, False, statuses=(400,)),
        "bad_request": ErrorRow(_BAD_OPTIONS, False, statuses=(400,)),
        "no_token": ErrorRow(_TOKEN_BAD, False, statuses=(400,)),
        "invalid_token": ErrorRow(_TOKEN_BAD, False, statuses=(401,)),
        "token_expired": ErrorRow(_TOKEN_BAD, False, statuses=(401,)),
        # Seen as a bare `{"code": "authorization_missing"}` on the sibling /kling/lip-sync.
        "authorization_missing": ErrorRow(_TOKEN_BAD, False, statuses=(401,)),
        "used_up": ErrorRow(_OUT_OF_BALANCE, False, statuses=(403,)),
        # "Blocked by content moderation"; reported under the code the bot treats as a refusal.
        "forbidden": ErrorRow(_CONTENT_POLICY, False, CONTENT_POLICY_VIOLATION, statuses=(403,)),
        "no_api": ErrorRow(_NO_API, False, statuses=(404,)),
        "too_many_requests": ErrorRow(_RATE_LIMITED, True, statuses=(429,)),
        "api_error": ErrorRow(_SERVER_ERROR, True, statuses=(500,)),
    }
)
_REASON_LIMIT: Final = 200


ERRORS: Final = ErrorTable(
    ERROR_TABLE,
    # The way AceData's own SDK classifies an unknown code.
    Fallback(_RATE_LIMITED, _SERVER_ERROR, _REJECTED, {401: (_TOKEN_BAD, False)}),
    OperatorAlert(
        frozenset({_TOKEN_BAD, _TOKEN_WRONG_API}),
        "AceData Cloud refused KLING_API_KEY (HTTP %s %s): put a valid token for the Kling "
        "Videos API from acedata.cloud in KLING_API_KEY and restart the bot",
        log,
    ),
    # The SDK's rule: a 403 without a known code is a moderation block.
    unlabelled_403="forbidden",
)


# ---------------------------------------------------------------------------------------------
# Task results: the sync response, the record's `response`, and the callback share one shape
# ---------------------------------------------------------------------------------------------


def _reason_suffix(reason: str | None) -> str:
    """' Kling said: "…"' for a short provider reason, or nothing."""
    if not reason:
        return ""
    return f' Kling said: "{snippet(reason, _REASON_LIMIT)}"'


def _task_failure(result: Mapping[str, Any]) -> ProviderFailure:
    """Why a finished task failed, mapped through the error table when it names a code."""
    code, message = error_fields(dict(result), ERRORS.known)
    detail = snippet(f"kling task failed: {code or '(no code)'}: {message or '(no message)'}")
    if code is not None and ERRORS.known(code) is not None:
        return ERRORS.failure(code, detail=detail)
    return ProviderFailure(
        "generation_failed", _JOB_FAILED + _reason_suffix(message), False, detail=detail
    )


def update_from_result(result: Mapping[str, Any]) -> JobUpdate:
    """Read a final-response body (`success`, `state`, `video_url`, `video_id`, `error`)."""
    state = (text_or_none(result.get("state")) or "").lower()
    success = result.get("success")
    if success is False or result.get("error") or state in FAILED_STATES:
        return JobUpdate("failed", state or "failed", failure=_task_failure(result))
    url = text_or_none(result.get("video_url"))
    if url is not None and (success is True or state in DONE_STATES):
        return JobUpdate(
            "succeeded",
            state or "succeed",
            video_url=url,
            provider_video_id=text_or_none(result.get("video_id")),
        )
    if success is True or state in DONE_STATES:
        # Both official clients call this finished; without a link there is nothing to deliver.
        failure = ProviderFailure(
            "missing_result_url",
            _NO_VIDEO_URL,
            False,
            detail=f"kling task {result.get('task_id')!r} finished without video_url",
        )
        return JobUpdate("failed", state or "succeed", failure=failure)
    # No final word at all: an in-between answer; the runner's deadline bounds the wait.
    return JobUpdate("pending", state or "processing")


def update_from_record(record: Mapping[str, Any]) -> JobUpdate:
    """Read one task record: no `response` yet means still running."""
    response = record.get("response")
    if not isinstance(response, dict) or not response:
        return JobUpdate("pending", "processing" if record.get("started_at") else "queued")
    return update_from_result(response)


_TASK_NOT_FOUND_UPDATE: Final = JobUpdate(
    "failed",
    "not_found",
    failure=ProviderFailure(
        TASK_NOT_FOUND, _JOB_GONE, False, detail="AceData answered {} for this task id"
    ),
)


def parse_callback(body: object) -> tuple[str, JobUpdate]:
    """(task_id, update) from a callback body (dict or JSON text); ValueError if malformed."""
    if isinstance(body, str | bytes | bytearray):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise ValueError("callback body is not JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("callback body must be a JSON object")
    task_id = body.get("task_id")
    if not isinstance(task_id, str) or not task_id.strip():
        raise ValueError("callback body has no task_id")
    success = body.get("success")
    if success is False and not body.get("error"):
        raise ValueError("failure callback without `error`")
    if success is None and text_or_none(body.get("state")) is None:
        raise ValueError("callback body has neither `success` nor `state`")
    update = update_from_result(body)
    unproven = update.failure is not None and update.failure.code == "missing_result_url"
    if update.state == "pending" or unproven:
        # A "success" without a link, or a non-final word, proves nothing; polling will tell.
        raise ValueError("callback reports no final result with a video_url")
    return task_id.strip(), update


# ---------------------------------------------------------------------------------------------
# Client and request body
# ---------------------------------------------------------------------------------------------


def build_client(base_url: str, token: str, **options: Unpack[ClientOptions]) -> httpx.AsyncClient:
    """One long-lived client for AceData: base URL, Bearer token, JSON headers and timeouts."""
    secret = required_secret(
        token, "KLING_API_KEY is empty; set it to an AceData Cloud token for the Kling Videos API"
    )
    auth = SecretHeaderAuth("authorization", secret, scheme="Bearer")
    return json_client(base_url, auth, user_agent=USER_AGENT, **options)


def _camera_move(request: VideoRequest) -> CameraMove | None:
    """The requested camera move, refusing a value the camera vocabulary does not have."""
    if request.camera is None:
        return None
    try:
        return CameraMove(request.camera)
    except ValueError:
        choices = ", ".join(move.value for move in CameraMove)
        raise InvalidRequest(
            f"`{request.camera}` is not a camera move. Choose one of: {choices}."
        ) from None


def camera_control(request: VideoRequest) -> dict[str, object] | None:
    """Kling's `camera_control` for the requested move, when Kling has an axis for it."""
    move = _camera_move(request)
    return None if move is None else kling_camera_control(move)


def kling_prompt(request: VideoRequest) -> str:
    """The prompt as sent: typed text untouched, plus in words a move Kling has no axis for."""
    prompt = request.prompt.strip()
    move = _camera_move(request)
    if move is not None and kling_camera_control(move) is None:
        return with_directive(prompt, move)
    return prompt


def build_payload(request: VideoRequest, *, callback_url: str | None = None) -> dict[str, Any]:
    """The createKlingVideos body for a validated request; unset options are left out."""
    spec = MODELS[request.model]
    fields: dict[str, Any] = {
        "action": ACTIONS[request.kind],
        "model": request.model,
        "mode": request.resolution,
        "prompt": kling_prompt(request),
        "duration": request.duration if request.duration is not None else spec.default_duration,
        "negative_prompt": (request.negative_prompt or "").strip() or None,
        "aspect_ratio": request.aspect_ratio,
        "cfg_scale": request.cfg_scale,
        "camera_control": camera_control(request),
    }
    if request.kind == "image":
        fields["start_image_url"] = request.image_url
        fields["end_image_url"] = request.end_image_url
    if request.kind == "extend":
        fields["video_id"] = request.extend_video_id
    # Never the blocking mode: with either field AceData answers with a task_id at once.
    if callback_url is not None:
        fields["callback_url"] = callback_url
    else:
        fields["async"] = True
    return {key: value for key, value in fields.items() if value is not None}


def _is_http_url(url: str | None) -> bool:
    """Whether `url` is an absolute http(s) link."""
    parts = urlsplit(url or "")
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _names(values: Sequence[object]) -> str:
    """Values as a comma-separated list, for messages."""
    return ", ".join(str(v) for v in values)


# A submit is resent only on 429 ("upstream concurrency limit") or a connection never opened:
# any other failure may come after AceData created the (paid) task.
_safe_to_resubmit: Final = resubmit_guard(frozenset({429}))


# ---------------------------------------------------------------------------------------------
# Provider
# ---------------------------------------------------------------------------------------------


class KlingProvider(HttpProvider):
    """Kling via AceData Cloud: validates, submits asynchronously, polls tasks singly or in bulk."""

    name = "kling"
    display_name = "Kling"
    models: Mapping[str, ModelSpec] = MODELS
    default_model = "kling-v2-5-turbo"
    extend_models: tuple[str, ...] = EXTEND_MODELS

    secret_header = "authorization"
    server_error = _SERVER_ERROR
    errors = ERRORS

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        batch_size: int = MAX_BATCH,
        **options: Unpack[ProviderOptions],
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        super().__init__(client, **options)
        self._batch_size = batch_size

    def can_extend(self, model: str) -> bool:
        """Whether `model` can continue an earlier video."""
        return can_extend(model)

    parse_callback = staticmethod(parse_callback)

    # -- validation ---------------------------------------------------------------------------

    def validate(self, request: VideoRequest) -> None:
        """Refuse, naming what is allowed, anything AceData would reject or silently ignore."""
        if request.kind == "extend" and request.model in MODELS and not can_extend(request.model):
            raise InvalidRequest(
                f"Kling {request.model} cannot extend a video. "
                f"Models that can: {_names(EXTEND_MODELS)}."
            )
        spec = check_against_spec(self.display_name, self.models, request)
        self._check_inputs(request)
        self._check_end_frame(request)
        negative = (request.negative_prompt or "").strip()
        if len(negative) > MAX_NEGATIVE_PROMPT_CHARS:
            raise InvalidRequest(
                f"The negative prompt is {len(negative)} characters; Kling accepts at most "
                f"{MAX_NEGATIVE_PROMPT_CHARS}. Shorten it."
            )
        cfg = request.cfg_scale
        if cfg is not None and not (math.isfinite(cfg) and CFG_SCALE_MIN <= cfg <= CFG_SCALE_MAX):
            raise InvalidRequest(
                f"cfg_scale must be a number from {CFG_SCALE_MIN:g} to {CFG_SCALE_MAX:g} "
                f"(higher follows the prompt more closely), not {cfg:g}."
            )
        if camera_control(request) is not None and request.resolution == "4k":
            raise InvalidRequest(
                "Kling cannot steer the camera in 4k mode. Choose mode std or pro, "
                "or leave `camera` empty."
            )
        prompt = kling_prompt(request)
        if len(prompt) > spec.max_prompt_chars:
            raise InvalidRequest(
                f"With the camera move written in, the prompt is {len(prompt)} characters; "
                f"Kling accepts at most {spec.max_prompt_chars}. Shorten it."
            )

    def _check_inputs(self, request: VideoRequest) -> None:
        """Each action gets exactly the inputs it takes."""
        if request.kind != "image" and request.image_url:
            raise InvalidRequest(
                "Only image-to-video takes an image; use image-to-video or drop the image."
            )
        if request.kind == "image" and not _is_http_url(request.image_url):
            raise InvalidRequest("The image must be given as an http(s) link.")
        if request.kind == "extend" and not (request.extend_video_id or "").strip():
            raise InvalidRequest(
                "Extending needs the Kling video to continue; pick a finished job."
            )
        if request.kind != "extend" and request.extend_video_id:
            raise InvalidRequest("Only an extend request takes a video to continue.")

    def _check_end_frame(self, request: VideoRequest) -> None:
        """An end frame needs image-to-video with a start image and a clip length Kling allows."""
        if not request.end_image_url:
            return
        if request.kind != "image" or not request.image_url:
            raise InvalidRequest(
                "An end frame is only possible in image-to-video, together with a start image."
            )
        if not _is_http_url(request.end_image_url):
            raise InvalidRequest("The end frame must be given as an http(s) link.")
        duration = request.duration if request.duration is not None else 5
        if duration not in END_FRAME_DURATIONS:
            raise InvalidRequest(
                f"With an end frame Kling makes only {_names(END_FRAME_DURATIONS)}-second clips, "
                f"not {duration}. Set duration to 5 or drop the end frame."
            )

    # -- submit ---------------------------------------------------------------------------------

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> Submission:
        """Start a task (never the blocking mode); only certain non-creations are resent."""
        self.validate(request)
        if callback_url is not None and not _is_http_url(callback_url):
            raise ValueError("callback_url must be an absolute http(s) URL")
        payload = build_payload(request, callback_url=callback_url)
        what = f"kling submit ({payload['action']})"
        body = await self._submit_json(
            VIDEOS_PATH, payload, what, _safe_to_resubmit, self._json_answer
        )
        task_id = text_or_none(body.get("task_id"))
        if task_id is None:
            raise unexpected(_SERVER_ERROR, "AceData accepted the submit but returned no task_id")
        status = text_or_none(body.get("state")) or "submitted"
        log.info("kling accepted task %s (%s)", task_id, payload["action"])
        return Submission(task_id, status, ESTIMATED_SECONDS)

    # -- poll -----------------------------------------------------------------------------------

    async def poll(self, provider_job_id: str) -> JobUpdate:
        """One task via `retrieve`; an empty answer means AceData has no such task."""
        record = await self._tasks(
            {"id": provider_job_id, "action": "retrieve"}, f"kling retrieve {provider_job_id}"
        )
        if not record:
            return _TASK_NOT_FOUND_UPDATE
        return update_from_record(record)

    async def poll_many(self, provider_job_ids: Sequence[str]) -> dict[str, JobUpdate]:
        """Many tasks via one `retrieve_batch` call per `batch_size` ids (one call up to 100)."""
        # An id missing from the answer is reported pending, not failed: a batch answer cannot
        # tell "unknown" from "not listed" (the endpoint also pages), and wrongly failing a paid
        # job is worse than waiting. The runner's deadline, or a single poll(), settles it.
        ids = list(dict.fromkeys(provider_job_ids))
        updates: dict[str, JobUpdate] = {}
        for start in range(0, len(ids), self._batch_size):
            chunk = ids[start : start + self._batch_size]
            updates.update(await self._poll_chunk(chunk))
        return updates

    async def _poll_chunk(self, ids: list[str]) -> dict[str, JobUpdate]:
        """One retrieve_batch call."""
        body = await self._tasks(
            {"ids": ids, "action": "retrieve_batch"}, f"kling retrieve_batch ({len(ids)} tasks)"
        )
        items = body.get("items", [])
        if not isinstance(items, list):
            raise unexpected(_SERVER_ERROR, "retrieve_batch answer has no `items` list")
        records = {
            item["id"]: item
            for item in items
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        }
        missing = [task_id for task_id in ids if task_id not in records]
        if missing:
            log.warning(
                "kling retrieve_batch left out %d of %d tasks (count=%r); treating them as pending",
                len(missing),
                len(ids),
                body.get("count"),
            )
        return {
            task_id: update_from_record(records[task_id])
            if task_id in records
            else JobUpdate("pending", "unlisted")
            for task_id in ids
        }

    # -- HTTP plumbing -----------------------------------------------------------------------------

    async def _tasks(self, body: dict[str, Any], what: str) -> dict[str, Any]:
        """A retried POST to the tasks endpoint; reads start no work, so every transient retries."""

        def send() -> Awaitable[httpx.Response]:
            return self._client.post(TASKS_PATH, json=body)

        result = await self._calls.call(send, self._json_answer, what=what)
        return cast(dict[str, Any], result)
