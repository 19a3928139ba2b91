"""H.264 MP4 writing with PyAV: yuv420p, BT.709, constant frame rate, moov atom first."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Final

import av
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from PIL import Image

# Peak bitrates by short side: ample for camera moves over stills and gradients, and a 10 s
# 1080p clip stays near 7 MB, under Discord's smallest upload limit.
MAX_BITRATES: Final = {480: 1_500_000, 720: 3_000_000, 1080: 5_500_000}
CRF: Final = 21
# veryfast keeps 1080p real-time on two cores; slower presets gain little on smooth motion.
PRESET: Final = "veryfast"


def max_bitrate(width: int, height: int) -> int:
    """The peak bitrate for a frame size: the tier of its short side, scaled by pixel count."""
    short = min(width, height)
    tier = min(MAX_BITRATES, key=lambda s: abs(s - short))
    reference = tier * round(tier * 16 / 9)
    return int(MAX_BITRATES[tier] * max(0.5, min(1.0, width * height / reference)))


class Mp4Writer:
    """Writes RGB frames to an H.264 MP4 at a constant rate; use as a context manager."""

    def __init__(self, path: Path, width: int, height: int, fps: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs even dimensions, not {width}×{height}")
        self.path = path
        self.size = (width, height)
        self.frames = 0
        rate = max_bitrate(width, height)
        self._container = av.open(
            str(path), mode="w", format="mp4", options={"movflags": "+faststart"}
        )
        stream = self._container.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": PRESET,
                "crf": str(CRF),
                "maxrate": str(rate),
                "bufsize": str(rate * 2),
                # A keyframe every two seconds so players can seek within a short clip.
                "g": str(fps * 2),
                "profile": "high",
            },
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        ctx = stream.codec_context
        ctx.time_base = Fraction(1, fps)
        ctx.colorspace = Colorspace.ITU709
        ctx.color_primaries = ColorPrimaries.BT709
        ctx.color_trc = ColorTrc.BT709
        ctx.color_range = ColorRange.MPEG
        self._stream = stream
        self._time_base = Fraction(1, fps)

    def write(self, image: Image.Image) -> None:
        """Append one frame; it must have the writer's size."""
        if image.size != self.size:
            raise ValueError(f"frame is {image.size}, expected {self.size}")
        rgb = av.VideoFrame.from_image(image if image.mode == "RGB" else image.convert("RGB"))
        frame = rgb.reformat(
            format="yuv420p",
            src_colorspace=Colorspace.ITU709,
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
        )
        frame.pts = self.frames
        frame.time_base = self._time_base
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()

    def abort(self) -> None:
        """Close without flushing, after a failure; the file is left for the caller to remove."""
        self._container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
