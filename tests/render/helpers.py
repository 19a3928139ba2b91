"""Synthetic pictures and measurements shared by the render tests."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

RED = (230, 20, 20)


@functools.lru_cache(maxsize=8)
def target_photo(width: int = 1600, height: int = 1200, fmt: str = "JPEG") -> bytes:
    """A checkerboard with a red square at its centre, a sixth of its height across."""
    image = Image.new("RGB", (width, height), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    cell = height // 12
    for x in range(0, width, cell):
        for y in range(0, height, cell):
            if (x // cell + y // cell) % 2:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(200, 200, 60))
    side = height // 6
    cx, cy = width // 2, height // 2
    draw.rectangle((cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2), fill=RED)
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=92)
    return buffer.getvalue()


@dataclass(frozen=True)
class Blob:
    """Where the red square is in a frame."""

    area: int
    cx: float
    cy: float
    width: int
    height: int


def red_square(frame: Image.Image) -> Blob:
    """The red square's area, centre and bounding-box size, in frame pixels."""
    rgb = np.asarray(frame.convert("RGB")).astype(np.int16)
    red = (rgb[..., 0] > 170) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    ys, xs = np.nonzero(red)
    if len(xs) == 0:
        return Blob(0, float("nan"), float("nan"), 0, 0)
    return Blob(
        int(red.sum()),
        float(xs.mean()),
        float(ys.mean()),
        int(xs.max() - xs.min() + 1),
        int(ys.max() - ys.min() + 1),
    )


@dataclass(frozen=True)
class VideoInfo:
    """What a decoder finds in an MP4."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    frames: int
    fps: float
    duration: float
    first: Image.Image
    last: Image.Image


def probe(path: Path) -> VideoInfo:
    """Decode every frame of `path` and report what is really in it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        pix_fmt = stream.codec_context.pix_fmt or ""
        fps = float(stream.average_rate or 0)
        duration = (container.duration or 0) / av.time_base
        first = last = None
        count = 0
        for frame in container.decode(stream):
            if first is None:
                first = frame.to_image()
            last = frame
            count += 1
        assert first is not None, "no frames decoded"
        assert last is not None
        return VideoInfo(
            codec, pix_fmt, first.width, first.height, count, fps, duration, first, last.to_image()
        )
