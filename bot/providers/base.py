"""The provider boundary: what every video-generation backend implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

JobKind = Literal["text", "image"]
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


class ProviderError(Exception):
    """A provider call failed; `failure` says whether retrying can help."""

    def __init__(self, failure: ProviderFailure) -> None:
        super().__init__(f"{failure.code}: {failure.detail or failure.member_message}")
        self.failure = failure


class InvalidRequest(ValueError):
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
