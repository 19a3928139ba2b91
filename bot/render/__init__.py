"""Local rendering of short clips: camera moves over pictures and title cards, no asyncio."""

from bot.render.clip import build_scene, render_clip
from bot.render.spec import (
    ASPECTS,
    DURATIONS,
    FPS,
    SHORT_SIDES,
    RenderResult,
    RenderSpec,
    frame_size,
)

__all__ = [
    "ASPECTS",
    "DURATIONS",
    "FPS",
    "SHORT_SIDES",
    "RenderResult",
    "RenderSpec",
    "build_scene",
    "frame_size",
    "render_clip",
]
