"""Real media bytes for tests: small H.264 MP4 clips (PyAV) and still images (Pillow)."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import av
import numpy as np
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


AUDIO_RATE = 48_000


def write_clip(
    path: Path,
    width: int,
    height: int,
    seconds: float,
    *,
    fps: int = 24,
    target_bytes: int | None = None,
    black_seconds: float = 0.0,
    audio: bool = True,
) -> Path:
    """Encode random-noise frames (worst case for a re-encode) with a tone, at a chosen size."""
    rng = np.random.default_rng(7)
    frames = round(seconds * fps)
    bitrate = int(target_bytes * 8 / seconds) if target_bytes else 2_000_000
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = bitrate
        # ultrafast with a tight VBV lands within a few percent of target_bytes in seconds.
        video.options = {"preset": "ultrafast", "maxrate": str(bitrate), "bufsize": str(bitrate)}
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=AUDIO_RATE)
            sound.layout = "stereo"
            sound.bit_rate = 128_000
        # A few noise frames reused keep generation cheap; ultrafast uses one reference frame,
        # so an eight-frame cycle still costs full price to encode.
        noise = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(8)]
        black = np.zeros((height, width, 3), dtype=np.uint8)
        for index in range(frames):
            pixels = black if index < black_seconds * fps else noise[index % len(noise)]
            container.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            mux_tone(container, sound, seconds)
    return path


def mux_tone(
    container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float
) -> None:
    """Encode `seconds` of a 440 Hz stereo tone into `stream` (AUDIO_RATE) and flush it."""
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, len(tone), 1024):
        chunk = np.ascontiguousarray(np.stack([tone[start : start + 1024]] * 2))
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
