"""Checks a request against a model's published capabilities, naming what is allowed."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from bot.camera import CameraMove, move_named
from bot.i18n import Text
from bot.providers.base import InvalidRequest, ModelSpec, VideoRequest

# Control, format (zero-width, bidi marks) and separator characters: nothing anyone can read.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def visible(text: str) -> bool:
    """Whether `text` has any character a reader can see (not only spaces or zero-widths)."""
    return any(unicodedata.category(ch) not in _INVISIBLE_CATEGORIES for ch in text)


def _choices(values: tuple[object, ...]) -> str:
    return ", ".join(str(v) for v in values)


def check_against_spec(
    provider_name: str, models: Mapping[str, ModelSpec], request: VideoRequest
) -> ModelSpec:
    """Return the model's spec, or raise InvalidRequest saying what to change.

    The refusal carries a `Text` (`validation.*`): `str(exc)` is English, and the cog shows it
    in the member's language.
    """
    spec = models.get(request.model)
    if spec is None:
        raise InvalidRequest(
            Text(
                "validation.no_model",
                provider=provider_name,
                model=request.model,
                choices=_choices(tuple(models)),
            )
        )
    prompt = request.prompt.strip()
    if not visible(prompt):
        raise InvalidRequest(Text("validation.empty_prompt"))
    # Every message below names the provider and the model the same way.
    named = {"provider": provider_name, "model": spec.name}
    if len(prompt) > spec.max_prompt_chars:
        raise InvalidRequest(
            Text(
                "validation.prompt_too_long", length=len(prompt), max=spec.max_prompt_chars, **named
            )
        )
    if request.kind not in spec.kinds:
        raise InvalidRequest(
            Text("validation.kind", kind=request.kind, choices=_choices(spec.kinds), **named)
        )
    if request.resolution not in spec.resolutions:
        raise InvalidRequest(
            Text(
                "validation.resolution",
                resolution=request.resolution,
                choices=_choices(spec.resolutions),
                **named,
            )
        )
    if request.duration is not None and request.duration not in spec.durations:
        if not spec.durations:
            raise InvalidRequest(Text("validation.auto_duration", **named))
        raise InvalidRequest(
            Text(
                "validation.duration",
                choices=_choices(spec.durations),
                duration=request.duration,
                **named,
            )
        )
    if request.aspect_ratio is not None:
        allowed = spec.aspect_ratios.get(request.kind, ())
        if request.aspect_ratio not in allowed:
            if not allowed:
                raise InvalidRequest(Text("validation.no_aspect_ratio", kind=request.kind, **named))
            raise InvalidRequest(
                Text(
                    "validation.aspect_ratio",
                    choices=_choices(allowed),
                    aspect_ratio=request.aspect_ratio,
                    **named,
                )
            )
    if request.seed is not None and not spec.supports_seed:
        raise InvalidRequest(Text("validation.no_seed", **named))
    if request.negative_prompt and not spec.supports_negative_prompt:
        raise InvalidRequest(Text("validation.no_negative_prompt", **named))
    if request.camera is not None and move_named(request.camera) is None:
        raise InvalidRequest(
            Text(
                "validation.camera",
                camera=request.camera,
                choices=_choices(tuple(m.value for m in CameraMove)),
            )
        )
    if request.kind == "image" and not request.image_url:
        raise InvalidRequest(Text("validation.needs_image"))
    return spec
