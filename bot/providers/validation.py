"""Checks a request against a model's published capabilities, naming what is allowed."""

from __future__ import annotations

from collections.abc import Mapping

from bot.camera import CameraMove, move_named
from bot.providers.base import InvalidRequest, ModelSpec, VideoRequest


def _choices(values: tuple[object, ...]) -> str:
    return ", ".join(str(v) for v in values)


def check_against_spec(
    provider_name: str, models: Mapping[str, ModelSpec], request: VideoRequest
) -> ModelSpec:
    """Return the model's spec, or raise InvalidRequest saying what to change."""
    spec = models.get(request.model)
    if spec is None:
        raise InvalidRequest(
            f"{provider_name} has no model `{request.model}`. "
            f"Choose one of: {_choices(tuple(models))}."
        )
    prompt = request.prompt.strip()
    if not prompt:
        raise InvalidRequest("The prompt is empty. Describe the video you want.")
    if len(prompt) > spec.max_prompt_chars:
        raise InvalidRequest(
            f"The prompt is {len(prompt)} characters; {provider_name} {spec.name} accepts at most "
            f"{spec.max_prompt_chars}. Shorten it."
        )
    if request.kind not in spec.kinds:
        raise InvalidRequest(
            f"{provider_name} {spec.name} does not do {request.kind}-to-video. "
            f"It supports: {_choices(spec.kinds)}."
        )
    if request.resolution not in spec.resolutions:
        raise InvalidRequest(
            f"{provider_name} {spec.name} does not make {request.resolution} videos. "
            f"Choose one of: {_choices(spec.resolutions)}."
        )
    if request.duration is not None and request.duration not in spec.durations:
        if not spec.durations:
            raise InvalidRequest(
                f"{provider_name} {spec.name} chooses the clip length itself; "
                "leave `duration` empty."
            )
        raise InvalidRequest(
            f"{provider_name} {spec.name} makes clips of {_choices(spec.durations)} seconds, "
            f"not {request.duration}."
        )
    if request.aspect_ratio is not None:
        allowed = spec.aspect_ratios.get(request.kind, ())
        if request.aspect_ratio not in allowed:
            if not allowed:
                raise InvalidRequest(
                    f"{provider_name} {spec.name} does not take an aspect ratio for "
                    f"{request.kind}-to-video; leave `aspect_ratio` empty."
                )
            raise InvalidRequest(
                f"{provider_name} {spec.name} accepts aspect ratios {_choices(allowed)}, "
                f"not {request.aspect_ratio}."
            )
    if request.seed is not None and not spec.supports_seed:
        raise InvalidRequest(f"{provider_name} {spec.name} does not take a seed; leave it empty.")
    if request.negative_prompt and not spec.supports_negative_prompt:
        raise InvalidRequest(
            f"{provider_name} {spec.name} does not take a negative prompt; leave it empty."
        )
    if request.camera is not None and move_named(request.camera) is None:
        raise InvalidRequest(
            f"`{request.camera}` is not a camera move. Choose one of: "
            f"{_choices(tuple(m.value for m in CameraMove))}."
        )
    if request.kind == "image" and not request.image_url:
        raise InvalidRequest("Image-to-video needs an image. Attach one.")
    return spec
