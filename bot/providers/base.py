"""The provider boundary: what every video-generation backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

from bot.errors import UserError

# "extend" continues a video the provider made earlier (VideoRequest.extend_video_id).
JobKind = Literal["text", "image", "extend"]
UpdateState = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True)
class ModelSpec:
    """What one model of a provider accepts; anything outside it is refused before charging."""

    name: str
    kinds: tuple[JobKind, ...]
    resolutions: tuple[str, ...]
    default_resolution: str
    # Empty: the provider picks the clip length itself and a requested duration is refused.
    durations: tuple[int, ...] = ()
    default_duration: int | None = None
    # Aspect ratios accepted per kind; a kind missing here accepts none.
    aspect_ratios: Mapping[JobKind, tuple[str, ...]] = field(default_factory=dict)
    supports_seed: bool = True
    supports_negative_prompt: bool = False
    max_prompt_chars: int = 2000
    description: str = ""


def model_table(*specs: ModelSpec) -> Mapping[str, ModelSpec]:
    """A read-only map of `specs` by model name, in the order given (the order menus show)."""
    return MappingProxyType({spec.name: spec for spec in specs})


@dataclass(frozen=True)
class VideoRequest:
    """A validated, provider-neutral description of one video to generate."""

    kind: JobKind
    prompt: str
    model: str
    resolution: str
    duration: int | None = None
    aspect_ratio: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    image_url: str | None = None
    num_inference_steps: int | None = None
    enable_safety_checker: bool = True
    enable_prompt_expansion: bool | None = None
    # A bot.camera.CameraMove value chosen with the `camera` option; each provider maps it.
    camera: str | None = None
    # The last frame of an image-to-video clip (the first is `image_url`).
    end_image_url: str | None = None
    # How closely the video follows the prompt, 0..1 where the provider takes it.
    cfg_scale: float | None = None
    # For kind "extend": the provider's id of the video to continue (JobUpdate.provider_video_id).
    extend_video_id: str | None = None


@dataclass(frozen=True)
class Submission:
    """The provider accepted a job."""

    provider_job_id: str
    status: str
    estimated_seconds: float | None = None


@dataclass(frozen=True)
class ProviderFailure:
    """Why a provider could not make a video, in terms a member and the runner can act on."""

    code: str
    member_message: str
    retryable: bool
    http_status: int | None = None
    retry_after: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class JobUpdate:
    """The provider's view of one job, mapped onto three states."""

    state: UpdateState
    provider_status: str
    video_url: str | None = None
    failure: ProviderFailure | None = None
    estimated_seconds: float | None = None
    provider_cost: float | None = None
    width: int | None = None
    height: int | None = None
    # The provider's id of the finished video (not of the job), needed to extend it later.
    provider_video_id: str | None = None


class ProviderError(Exception):
    """A provider call failed; `failure` says whether retrying can help."""

    def __init__(self, failure: ProviderFailure) -> None:
        super().__init__(f"{failure.code}: {failure.detail or failure.member_message}")
        self.failure = failure


class InvalidRequest(UserError, ValueError):
    """The member asked for something the chosen model does not support."""


class Provider(Protocol):
    """One video-generation backend."""

    name: str
    display_name: str
    models: Mapping[str, ModelSpec]
    default_model: str
    poll_interval: float

    def validate(self, request: VideoRequest) -> None:
        """Raise InvalidRequest, naming what is supported, if the request cannot be served."""
        ...

    async def submit(self, request: VideoRequest) -> Submission:
        """Start a job; raise ProviderError when the provider refuses or stays unreachable."""
        ...

    async def poll(self, provider_job_id: str) -> JobUpdate:
        """Ask where a job stands; raise ProviderError when the call itself fails."""
        ...

    async def aclose(self) -> None:
        """Release network resources."""
        ...


@runtime_checkable
class BatchPolling(Protocol):
    """A provider that can ask about many jobs in one call; the runner prefers it when present."""

    async def poll_many(self, provider_job_ids: Sequence[str]) -> dict[str, JobUpdate]:
        """Where each job stands, keyed by its id; raise ProviderError when the call fails."""
        ...


@runtime_checkable
class AcceptsCallbacks(Protocol):
    """A provider that can push a job's outcome to a URL instead of being polled."""

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> Submission:
        """Start a job that reports to `callback_url` when it finishes."""
        ...

    def parse_callback(self, body: object) -> tuple[str, JobUpdate]:
        """(provider job id, update) from a callback body; ValueError if malformed."""
        ...


@runtime_checkable
class Cancellable(Protocol):
    """A provider that can stop a job it already accepted."""

    async def cancel(self, provider_job_id: str) -> bool:
        """Ask the provider to stop the job; True if it says it will not finish it."""
        ...
