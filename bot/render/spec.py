"""What one local render is asked to make: frame sizes, durations and the job description."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from bot.camera import CameraMove

RenderKind = Literal["text", "image"]

FPS: Final = 24
# The "p" number is the short side, as with phone video: 720p 9:16 is 720×1280.
SHORT_SIDES: Final = {"480p": 480, "720p": 720, "1080p": 1080}
ASPECTS: Final = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}
DURATIONS: Final = (5, 10)


def frame_size(resolution: str, aspect: str) -> tuple[int, int]:
    """(width, height) in even pixels for a resolution such as "720p" and an aspect "16:9"."""
    short = SHORT_SIDES[resolution]
    aw, ah = ASPECTS[aspect]
    long = 2 * round(short * max(aw, ah) / min(aw, ah) / 2)
    return (long, short) if aw >= ah else (short, long)


@dataclass(frozen=True)
class RenderSpec:
    """One clip to render; everything in it pickles, so it can cross into a worker process."""

    kind: RenderKind
    width: int
    height: int
    duration: int
    moves: tuple[CameraMove, ...] = ()
    text: str = ""
    image: bytes | None = None
    seed: int = 0
    fps: int = FPS

    @property
    def frame_count(self) -> int:
        """Frames in the clip: a constant rate times whole seconds."""
        return self.fps * self.duration


@dataclass(frozen=True)
class RenderResult:
    """A finished clip on disk."""

    path: Path
    width: int
    height: int
    frames: int
    fps: int
    seconds: float
