"""kvidAI (api.kvid.ai): submit, status and result over its asynchronous video job API."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Unpack, cast
from urllib.parse import urlsplit

import httpx

from bot.camera import CameraMove, with_directive
from bot.providers.base import (
    InvalidRequest,
    JobUpdate,
    ModelSpec,
    ProviderError,
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
    SecretHeaderAuth,
    float_or_none,
    int_or_none,
    json_client,
    required_secret,
    resubmit_guard,
    snippet,
    text_or_none,
    unexpected,
)
from bot.providers.validation import check_against_spec

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.kvid.ai"
USER_AGENT: Final = "discord-video-bot/0.1 (kvid provider; httpx)"

SUBMIT_PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "text": "/ai/generation/text-to-video/generate-async",
        "image": "/ai/generation/image-to-video/generate-async",
    }
)
STATUS_PATH: Final = "/ai/generation/status"
RESULT_PATH: Final = "/ai/generation/result"

MIN_INFERENCE_STEPS: Final = 1
MAX_INFERENCE_STEPS: Final = 100
MAX_SEED: Final = 2**32 - 1
_IMAGE_ASPECTS: Final = ("auto", "16:9", "9:16", "1:1")


def _spec(name: str, resolutions: tuple[str, ...], about: str) -> ModelSpec:
    """One published model; kvid's models differ only in the resolutions they offer."""
    return ModelSpec(
        name=name,
        kinds=("text", "image"),
        resolutions=resolutions,
        default_resolution="720p",
        aspect_ratios=MappingProxyType({"image": _IMAGE_ASPECTS}),
        description=about,
    )


_UP_TO_1080P: Final = ("480p", "720p", "1080p")

MODELS: Final = model_table(
    _spec("v1", ("480p", "720p"), "kvidAI's first model: quick clips up to 720p."),
    _spec("v2", _UP_TO_1080P, "kvidAI's default model: clips up to 1080p."),
    _spec("v3", _UP_TO_1080P, "kvidAI's newest model: clips up to 1080p."),
)

# ---------------------------------------------------------------------------------------------
# Error table: every code of the seed edition and of the credit-pool edition of kvid's docs.
# ---------------------------------------------------------------------------------------------

_OUT_OF_CREDIT = (
    "The bot's kvidAI account has run out of credits, so no video can be made right now. "
    "Please tell a server admin."
)
_ACCOUNT_BROKEN = (
    "kvidAI does not accept the bot's account settings, so no video can be made right now. "
    "Please tell a server admin."
)
_BAD_OPTIONS = (
    "kvidAI rejected the options of this request. Check the model, resolution and other "
    "settings with /video models and try again."
)
_BAD_PROMPT = (
    "kvidAI could not accept this prompt. Remove unusual symbols or formatting and try again."
)
_IMAGE_TOO_SMALL = "The image is too small for kvidAI. Use one of at least 300×300 pixels."
_IMAGE_TOO_LARGE = "The image is too large for kvidAI. Use one of at most 6000×6000 pixels."
_CONTENT_POLICY = (
    "kvidAI refused this request under its content policy. "
    "Change the prompt or image and try again."
)
_TOO_SLOW = "kvidAI took too long to make this video. Try a simpler prompt or a lower resolution."
_RATE_LIMITED = "kvidAI is receiving too many requests right now. Wait a minute and try again."
_AT_CAPACITY = (
    "The bot's kvidAI account is already making as many videos as it may at once. "
    "Try again in a few minutes."
)
_SERVER_ERROR = "kvidAI had an internal error. Wait a little and try again."
_NOT_READY = "kvidAI has not finished this video yet; it will be checked again shortly."
_JOB_GONE = "kvidAI no longer knows this job, so its video cannot be fetched. Start a new one."
_JOB_FAILED = "kvidAI could not make this video. Try again, perhaps with another prompt or image."
_REJECTED = "kvidAI refused this request. Check the prompt and options and try again."

INVALID_API_KEY: Final = "invalid_api_key"
CONTENT_POLICY_VIOLATION: Final = "content_policy_violation"

# code -> member-facing message and retryable. Retryable means the same request may succeed later
# without the member changing anything; everything else needs a different request or an admin.
ERROR_TABLE: Final[Mapping[str, ErrorRow]] = MappingProxyType(
    {
        # Seed edition (docs.kvid.ai v1/v2/v3): the authoritative list.
        "INSUFFICIENT_CREDITS": ErrorRow(_OUT_OF_CREDIT, False),
        "PROMPT_VALIDATION_ERROR": ErrorRow(_BAD_PROMPT, False),
        "USER_NOT_FOUND": ErrorRow(_ACCOUNT_BROKEN, False),
        "RESULT_FETCH_ERROR": ErrorRow(_NOT_READY, True),
        "ValidationError": ErrorRow(_BAD_OPTIONS, False),
        "image_too_small": ErrorRow(_IMAGE_TOO_SMALL, False),
        "image_too_large": ErrorRow(_IMAGE_TOO_LARGE, False),
        CONTENT_POLICY_VIOLATION: ErrorRow(_CONTENT_POLICY, False),
        # The docs' remedy is a simpler prompt or lower resolution: the same request won't pass.
        "generation_timeout": ErrorRow(_TOO_SLOW, False),
        "RATE_LIMITED": ErrorRow(_RATE_LIMITED, True),
        "internal_server_error": ErrorRow(_SERVER_ERROR, True),
        # Credit-pool edition (wan/seedance/veo3.1 docs).
        "INSUFFICIENT_CREDIT": ErrorRow(_OUT_OF_CREDIT, False),
        "CONCURRENT_LIMIT": ErrorRow(_AT_CAPACITY, True),
        "JOB_NOT_FOUND": ErrorRow(_JOB_GONE, False),
        "JOB_NOT_COMPLETED": ErrorRow(_NOT_READY, True),
        "JOB_FAILED": ErrorRow(_JOB_FAILED, False),
        "MISSING_PARAMETERS": ErrorRow(_BAD_OPTIONS, False),
        "INVALID_PARAMETERS": ErrorRow(_BAD_OPTIONS, False),
        # A 403 carries no code in either edition: a wrong key, which only the operator can fix.
        INVALID_API_KEY: ErrorRow(_ACCOUNT_BROKEN, False),
    }
)
# Result-endpoint answers that only mean "ask again later".
_STILL_RUNNING_CODES: Final = frozenset({"JOB_NOT_COMPLETED", "RESULT_FETCH_ERROR"})
_REASON_LIMIT: Final = 200


ERRORS: Final = ErrorTable(
    ERROR_TABLE,
    Fallback(_RATE_LIMITED, _SERVER_ERROR, _REJECTED),
    OperatorAlert(
        frozenset({_ACCOUNT_BROKEN}),
        "kvidAI refused KVID_API_KEY (HTTP %s %s): put a valid key from kvid.ai in "
        "KVID_API_KEY and restart the bot",
        log,
    ),
    # Neither edition's docs give a 403 a code: it is a wrong key.
    unlabelled_403=INVALID_API_KEY,
)


# ---------------------------------------------------------------------------------------------
# estimated_time ("30s", "2-5min", "90 seconds") -> seconds
# ---------------------------------------------------------------------------------------------

_UNIT_SECONDS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0}
_UNIT = r"(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)"
_NUMBER = r"\d+(?:\.\d+)?"
_RANGE_RE: Final = re.compile(
    rf"^(?:~|about|approx\.?|up to)?\s*({_NUMBER})\s*({_UNIT})?\s*(?:-|–|~|to)\s*"
    rf"({_NUMBER})\s*({_UNIT})?$"
)
_PART_RE: Final = re.compile(rf"({_NUMBER})\s*({_UNIT})?")
_COMPOUND_RE: Final = re.compile(rf"^(?:~|about|approx\.?|up to)?\s*(?:{_NUMBER}\s*{_UNIT}?\s*)+$")


def _unit_seconds(unit: str | None) -> float:
    """Seconds per unit word; a bare number is seconds."""
    return _UNIT_SECONDS[unit[0]] if unit else 1.0


def parse_estimated_time(value: object) -> float | None:
    """Read kvid's `estimated_time` into seconds; a range gives its upper end; junk gives None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if match := _RANGE_RE.match(text):
        _low, low_unit, high, high_unit = match.groups()
        # "2-5min": the unit written once applies to both ends; the upper end is the safe promise.
        return float(high) * _unit_seconds(high_unit or low_unit)
    if text and _COMPOUND_RE.match(text):
        return sum(float(n) * _unit_seconds(u or None) for n, u in _PART_RE.findall(text))
    return None


# ---------------------------------------------------------------------------------------------
# Response bodies
# ---------------------------------------------------------------------------------------------


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    """The `data` object, or the body itself for answers that put fields at the top level."""
    data = body.get("data")
    return data if isinstance(data, dict) else body


@dataclass(frozen=True)
class SubmitData:
    """The `data` of a generate-async answer."""

    job_id: str
    status: str
    estimated_seconds: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubmitData:
        """Read it, accepting the id spellings kvid's own CLI accepts."""
        job_id = text_or_none(data.get("job_id")) or text_or_none(data.get("jobId"))
        if job_id is None:
            raise unexpected(_SERVER_ERROR, "kvid accepted the submit but returned no job_id")
        status = text_or_none(data.get("status")) or "queued"
        return cls(job_id, status, parse_estimated_time(data.get("estimated_time")))


@dataclass(frozen=True)
class StatusData:
    """The `data` of a status answer (either edition)."""

    status: str
    raw_status: str
    error_message: str | None
    error_code: str | None
    result_url: str | None
    estimated_seconds: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusData:
        """Read it; `result_url` and `error_message` are null while running in one edition."""
        raw = text_or_none(data.get("status")) or ""
        error = data.get("error")
        code = text_or_none(data.get("error_code")) or (
            text_or_none(error.get("code")) if isinstance(error, dict) else text_or_none(error)
        )
        return cls(
            status=normalise_status(raw),
            raw_status=raw,
            error_message=text_or_none(data.get("error_message")),
            error_code=code,
            result_url=text_or_none(data.get("result_url")),
            estimated_seconds=parse_estimated_time(data.get("estimated_time")),
        )


@dataclass(frozen=True)
class ResultData:
    """The `data` of a result answer."""

    result_url: str | None
    width: int | None
    height: int | None
    used_credit: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultData:
        """Read it, tolerating numbers sent as strings."""
        return cls(
            result_url=text_or_none(data.get("result_url")) or text_or_none(data.get("videoUrl")),
            width=int_or_none(data.get("width")),
            height=int_or_none(data.get("height")),
            used_credit=float_or_none(data.get("used_credit")),
        )


# Spellings seen in kvid's editions and its CLI, folded onto the five documented states.
_STATUS_ALIASES: Final = {
    "cancelled": "canceled",
    "done": "completed",
    "success": "completed",
    "succeeded": "completed",
    "finished": "completed",
    "error": "failed",
}


def normalise_status(raw: str) -> str:
    """Lower-case a status and fold known synonyms onto the documented words."""
    folded = raw.strip().lower()
    return _STATUS_ALIASES.get(folded, folded)


# ---------------------------------------------------------------------------------------------
# Client and provider
# ---------------------------------------------------------------------------------------------


def build_client(
    base_url: str, api_key: str, **options: Unpack[ClientOptions]
) -> httpx.AsyncClient:
    """One long-lived client for kvid: base URL, api-key, JSON headers and explicit timeouts."""
    secret = required_secret(
        api_key, "KVID_API_KEY is empty; set it to the key from kvid.ai/settings/api-keys"
    )
    return json_client(
        base_url, SecretHeaderAuth("api-key", secret), user_agent=USER_AGENT, **options
    )


def build_payload(request: VideoRequest) -> dict[str, Any]:
    """The documented JSON body for a request, without the fields that are not set."""
    # kvidAI reads camera moves as bracketed directives at the head of the prompt.
    camera = CameraMove(request.camera) if request.camera else None
    fields: dict[str, Any] = {
        "prompt": with_directive(request.prompt.strip(), camera),
        "model": request.model,
        "resolution": request.resolution,
        "seed": request.seed,
        "num_inference_steps": request.num_inference_steps,
        "enable_safety_checker": request.enable_safety_checker,
        "enable_prompt_expansion": request.enable_prompt_expansion,
    }
    if request.kind == "image":
        fields["image_url"] = request.image_url
        fields["aspect_ratio"] = request.aspect_ratio
    return {key: value for key, value in fields.items() if value is not None}


# Answers that prove kvid did not take the job: rate/concurrency refusals and "unavailable".
_safe_to_resubmit: Final = resubmit_guard(frozenset({429, 503}))


_NOT_READY_MARK: Final = object()


class KvidProvider(HttpProvider):
    """The kvidAI provider: validates, submits and polls jobs through one httpx client."""

    name = "kvid"
    display_name = "kvidAI"
    models: Mapping[str, ModelSpec] = MODELS
    default_model = "v2"

    secret_header = "api-key"
    server_error = _SERVER_ERROR
    errors = ERRORS

    # -- validation ---------------------------------------------------------------------------

    def validate(self, request: VideoRequest) -> None:
        """Refuse, naming what is supported, anything kvid would reject or ignore."""
        check_against_spec(self.display_name, self.models, request)
        if request.kind == "text" and request.image_url:
            raise InvalidRequest("Text-to-video takes no image; use image-to-video instead.")
        if request.kind == "image":
            scheme = urlsplit(request.image_url or "").scheme.lower()
            if scheme not in ("http", "https"):
                raise InvalidRequest("The image must be given as an http(s) link.")
        steps = request.num_inference_steps
        if steps is not None and not MIN_INFERENCE_STEPS <= steps <= MAX_INFERENCE_STEPS:
            raise InvalidRequest(
                f"kvidAI takes {MIN_INFERENCE_STEPS}–{MAX_INFERENCE_STEPS} inference steps, "
                f"not {steps}."
            )
        if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
            raise InvalidRequest(f"The seed must be a whole number from 0 to {MAX_SEED}.")
        # Options other providers take; kvid has no field for them, so they would be ignored.
        if request.end_image_url:
            raise InvalidRequest("kvidAI does not take an end frame; leave `end_image` empty.")
        if request.cfg_scale is not None:
            raise InvalidRequest("kvidAI does not take a cfg_scale; leave it empty.")

    # -- submit ---------------------------------------------------------------------------------

    async def submit(self, request: VideoRequest) -> Submission:
        """Start a job; only refusals that certainly created nothing are retried here."""
        self.validate(request)
        path, what = SUBMIT_PATHS[request.kind], f"kvid submit ({request.kind}-to-video)"
        data = await self._submit_json(
            path, build_payload(request), what, _safe_to_resubmit, self._interpret
        )
        job = SubmitData.from_json(data)
        log.info("kvid accepted job %s (%s)", job.job_id, job.status)
        return Submission(job.job_id, job.status, job.estimated_seconds)

    # -- poll -----------------------------------------------------------------------------------

    async def poll(self, provider_job_id: str) -> JobUpdate:
        """Read the job's status and, once completed, its result."""
        data = await self._get(STATUS_PATH, provider_job_id, self._interpret, "kvid status")
        status = StatusData.from_json(cast(dict[str, Any], data))
        match status.status:
            case "queued" | "processing":
                return JobUpdate(
                    "pending", status.raw_status, estimated_seconds=status.estimated_seconds
                )
            case "completed":
                return await self._fetch_result(provider_job_id, status)
            case "failed":
                return JobUpdate("failed", status.raw_status, failure=generation_failure(status))
            case "canceled":
                return JobUpdate("failed", status.raw_status, failure=_canceled_failure(status))
            case _:
                # A word we don't know is most likely a new in-progress state; failing would drop
                # a video we may still get, and the runner's overall deadline bounds the wait.
                log.warning(
                    "kvid job %s has unknown status %r; treating it as pending",
                    provider_job_id,
                    status.raw_status,
                )
                return JobUpdate("pending", status.raw_status or "unknown")

    async def _fetch_result(self, job_id: str, status: StatusData) -> JobUpdate:
        """Read the result endpoint of a job whose status says completed."""
        outcome = await self._get(RESULT_PATH, job_id, self._interpret_result, "kvid result")
        if outcome is _NOT_READY_MARK:
            return JobUpdate("pending", status.raw_status)
        if isinstance(outcome, ProviderFailure):
            return JobUpdate("failed", status.raw_status, failure=outcome)
        result = ResultData.from_json(cast(dict[str, Any], outcome))
        url = result.result_url or status.result_url
        if url is None:
            failure = ProviderFailure(
                "missing_result_url",
                "kvidAI reported the video as finished but gave no link to it. Try again.",
                retryable=False,
                detail=f"kvid result for {job_id} has no result_url",
            )
            return JobUpdate("failed", status.raw_status, failure=failure)
        return JobUpdate(
            "succeeded",
            status.raw_status,
            video_url=url,
            provider_cost=result.used_credit,
            width=result.width,
            height=result.height,
        )

    # -- HTTP plumbing -----------------------------------------------------------------------------

    async def _get(
        self, path: str, job_id: str, interpret: Callable[[httpx.Response], object], what: str
    ) -> object:
        """A retried GET with `jobId`; reads never start work, so every transient error retries."""

        def send() -> Awaitable[httpx.Response]:
            return self._client.get(path, params={"jobId": job_id})

        return await self._calls.call(send, interpret, what=f"{what} {job_id}")

    def _interpret(self, response: httpx.Response) -> dict[str, Any]:
        """The `data` of a successful answer, or ProviderError for anything else."""
        return _payload(self._json_answer(response))

    def _interpret_result(self, response: httpx.Response) -> object:
        """Like `_interpret`, but "not ready yet" and "job failed" are answers, not errors."""
        try:
            return self._interpret(response)
        except ProviderError as exc:
            if exc.failure.code in _STILL_RUNNING_CODES:
                return _NOT_READY_MARK
            if exc.failure.code == "JOB_FAILED":
                return exc.failure
            raise


def _reason_suffix(reason: str | None) -> str:
    """' kvidAI said: "…"' for a short provider reason, or nothing."""
    if not reason:
        return ""
    return f' kvidAI said: "{snippet(reason, _REASON_LIMIT)}"'


_CODE_IN_TEXT_RE: Final = re.compile(r"[A-Za-z_]+")


def _code_in(status: StatusData) -> str | None:
    """A table code named by a failed status, in its error field or as a word of its message."""
    if known := ERRORS.known(status.error_code):
        return known
    for word in _CODE_IN_TEXT_RE.findall(status.error_message or ""):
        if (known := ERRORS.known(word)) and "_" in known:
            return known
    return None


def generation_failure(status: StatusData) -> ProviderFailure:
    """The failure for a job whose status is `failed`, keeping kvid's reason when it gives one."""
    detail = snippet(f"kvid job failed: {status.error_message or '(no error_message)'}")
    code = _code_in(status)
    if code is not None:
        return ERRORS.failure(code, detail=detail)
    message = _JOB_FAILED + _reason_suffix(status.error_message)
    return ProviderFailure("generation_failed", message, retryable=False, detail=detail)


def _canceled_failure(status: StatusData) -> ProviderFailure:
    """The failure for a job kvid reports as canceled."""
    return ProviderFailure(
        "canceled",
        "The job was canceled at kvidAI before it finished. Start a new one if you still want it.",
        retryable=False,
        detail=snippet(f"kvid job canceled: {status.error_message or '(no reason)'}"),
    )
