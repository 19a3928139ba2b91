"""Real media bytes for tests: small H.264 MP4 clips (PyAV) and still images (Pillow)."""

from __future__ import annotations

import functools
import io

import av
from PIL import Image, ImageDraw

_PIL_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}


def _frame_image(width: int, height: int, index: int, total: int) -> Image.Image:
    """One frame: a gradient background with a box sliding across, so frames visibly differ."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 8):
        shade = int(255 * y / max(1, height - 1))
        draw.rectangle((0, y, width, y + 8), fill=(shade, 64, 255 - shade))
    box = max(8, min(width, height) // 4)
    x = int((width - box) * index / max(1, total - 1))
    y = (height - box) // 2
    draw.rectangle((x, y, x + box, y + box), fill=(255, 220, 0))
    return image


@functools.lru_cache(maxsize=16)
def make_mp4(width: int = 320, height: int = 240, seconds: float = 1.0, fps: int = 12) -> bytes:
    """Encode a short H.264 MP4 with moving content; cached because encoding is the slow part."""
    if width % 2 or height % 2:
        raise ValueError("H.264 with yuv420p needs even width and height")
    buffer = io.BytesIO()
    frames = max(1, round(seconds * fps))
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        # ultrafast keeps a one-second clip well under a tenth of a second to encode.
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for index in range(frames):
            frame = av.VideoFrame.from_image(_frame_image(width, height, index, frames))
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def pad_mp4(data: bytes, extra_bytes: int) -> bytes:
    """Append a top-level `free` box so the file grows but stays a valid MP4."""
    if extra_bytes <= 0:
        return data
    size = max(extra_bytes, 8)
    return data + size.to_bytes(4, "big") + b"free" + bytes(size - 8)


def make_image(fmt: str = "png", width: int = 512, height: int = 512) -> bytes:
    """Encode a still image with visible content in the given format (png, jpeg, webp, gif)."""
    pil_format = _PIL_FORMATS.get(fmt.lower())
    if pil_format is None:
        raise ValueError(f"unsupported image format {fmt!r}; use one of {sorted(_PIL_FORMATS)}")
    image = _frame_image(width, height, 1, 3)
    buffer = io.BytesIO()
    image.save(buffer, format=pil_format)
    return buffer.getvalue()
