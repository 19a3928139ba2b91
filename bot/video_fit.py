"""Fitting a result video under an upload limit with PyAV, and taking a poster frame from it."""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av
from PIL import Image, ImageStat

from bot.jobs.models import Fitted
from bot.render.encode import PRESET
from bot.render.files import written_whole

log = logging.getLogger(__name__)

# Leave 8% of the limit for the muxer's overhead and x264's one-pass overshoot (1-3% measured).
SIZE_MARGIN: Final = 0.92
AUDIO_BITRATE: Final = 96_000
# Below this, 720p turns to mush even on smooth motion; other sizes scale by pixel count.
FLOOR_720P: Final = 700_000
_PIXELS_720P: Final = 1280 * 720
# Short sides tried in turn once the original size can no longer get an acceptable bitrate.
LADDER: Final = (1080, 720, 540, 480, 360)
MAX_ATTEMPTS: Final = 4
# A retry aims this much further under the limit than the overshoot alone suggests.
RETRY_MARGIN: Final = 0.95
POSTER_QUALITY: Final = 85
# Where to look for a poster, as fractions of the duration: a third in first, as the brief says.
_POSTER_POINTS: Final = (1 / 3, 1 / 2, 2 / 3, 1 / 6)
# A frame this varied is a fine poster; a less varied one (blank, or a smeared frame just after a
# cut) only wins if no later point does better.
_DETAILED_SPREAD: Final = 20.0


class VideoFitError(Exception):
    """The video cannot be read, or cannot be made to fit in time."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as PyAV reads it."""

    width: int
    height: int
    duration: float
    fps: float
    bitrate: int
    size: int
    has_audio: bool
    codec: str


@dataclass(frozen=True)
class FitResult:
    """A fitted file; bitrate is the file's real average, attempts counts encodes (0: copied)."""

    path: Path
    size: int
    width: int
    height: int
    bitrate: int
    attempts: int
    seconds: float
    changed_resolution: bool


class _DeadlineExceeded(Exception):
    """An encode ran past the caller's deadline."""


@contextlib.contextmanager
def _open_input(path: Path) -> Iterator[av.container.InputContainer]:
    """Open a file for reading, turning PyAV's errors into VideoFitError."""
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise VideoFitError(f"{path.name} is not a video PyAV can read: {exc}") from exc
    try:
        if not container.streams.video:
            raise VideoFitError(f"{path.name} has no video stream")
        yield container
    finally:
        container.close()


def _duration(container: av.container.InputContainer) -> float:
    """Seconds from the container, else the video stream, else frames over rate; 0 if unknown."""
    if container.duration:
        return container.duration / av.time_base
    stream = container.streams.video[0]
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    rate = stream.average_rate or stream.guessed_rate
    if stream.frames and rate:
        return float(stream.frames / rate)
    return 0.0


def probe(path: Path) -> VideoInfo:
    """Read a video's size, length, rate and codecs; raise VideoFitError if PyAV cannot."""
    path = Path(path)
    with _open_input(path) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise VideoFitError(f"{path.name} has a video stream without a frame size")
        duration = _duration(container)
        size = path.stat().st_size
        rate = stream.average_rate or stream.guessed_rate
        bitrate = container.bit_rate or (int(size * 8 / duration) if duration else 0)
        return VideoInfo(
            width=ctx.width,
            height=ctx.height,
            duration=duration,
            fps=float(rate) if rate else 0.0,
            bitrate=int(bitrate),
            size=size,
            has_audio=bool(container.streams.audio),
            codec=ctx.name,
        )


def floor_bitrate(width: int, height: int) -> int:
    """The lowest video bitrate that still looks acceptable at this frame size."""
    return int(FLOOR_720P * width * height / _PIXELS_720P)


def _even(value: float) -> int:
    """The nearest even integer, at least 2, as yuv420p needs."""
    return max(2, round(value / 2) * 2)


def _sizes(width: int, height: int) -> list[tuple[int, int]]:
    """The original size, then each smaller rung of the ladder with the same aspect ratio."""
    sizes = [(_even(width), _even(height))]
    short = min(width, height)
    for rung in LADDER:
        if rung >= short:
            continue
        scale = rung / short
        sizes.append((_even(width * scale), _even(height * scale)))
    return sizes


def _pick_size(sizes: list[tuple[int, int]], bitrate: int) -> tuple[int, int] | None:
    """The largest size whose floor the bitrate meets, or None when even the smallest misses."""
    for size in sizes:
        if bitrate >= floor_bitrate(*size):
            return size
    return None


def _audio_bitrate(container: av.container.InputContainer) -> int:
    """AAC at 96 kbps, or less when the source had less: re-encoding cannot add quality back."""
    if not container.streams.audio:
        return 0
    source = container.streams.audio[0].bit_rate or AUDIO_BITRATE
    return max(32_000, min(AUDIO_BITRATE, source))


def _encode(
    src: Path,
    out: Path,
    size: tuple[int, int],
    video_bitrate: int,
    audio_bitrate: int,
    deadline: float,
) -> None:
    """One H.264/AAC encode of src into out at a frame size and bitrate; may leave out partial."""
    width, height = size
    with (
        _open_input(src) as source,
        av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as target,
    ):
        in_video = source.streams.video[0]
        in_video.thread_type = "AUTO"
        rate = in_video.average_rate or in_video.guessed_rate or Fraction(24)
        video = target.add_stream(
            "libx264",
            rate=rate,
            options={
                "preset": PRESET,
                # Mild VBV so one busy second cannot blow the budget the average was set for.
                "maxrate": str(int(video_bitrate * 1.5)),
                "bufsize": str(video_bitrate * 2),
                "g": str(max(1, round(float(rate) * 2))),
            },
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = video_bitrate
        ctx, in_ctx = video.codec_context, in_video.codec_context
        # Keep the source's timestamps (and so its exact length) rather than renumbering frames.
        ctx.time_base = in_video.time_base or Fraction(1, 90_000)
        ctx.colorspace, ctx.color_primaries = in_ctx.colorspace, in_ctx.color_primaries
        ctx.color_trc, ctx.color_range = in_ctx.color_trc, in_ctx.color_range

        streams: list[av.stream.Stream] = [in_video]
        audio = None
        if audio_bitrate and source.streams.audio:
            in_audio = source.streams.audio[0]
            audio = target.add_stream("aac", rate=in_audio.codec_context.sample_rate)
            audio.layout = in_audio.codec_context.layout
            audio.bit_rate = audio_bitrate
            streams.append(in_audio)

        frame_step = 1 / rate / ctx.time_base
        index = 0
        for packet in source.demux(*streams):
            if time.monotonic() > deadline:
                raise _DeadlineExceeded
            for frame in packet.decode():
                # The video stream decodes to VideoFrames and the audio one to AudioFrames.
                if packet.stream is in_video and isinstance(frame, av.VideoFrame):
                    if frame.pts is None:
                        frame.pts = round(index * frame_step)
                        frame.time_base = ctx.time_base
                    index += 1
                    if (frame.width, frame.height, frame.format.name) != (width, height, "yuv420p"):
                        frame = frame.reformat(width, height, "yuv420p", interpolation="AREA")
                    target.mux(video.encode(frame))
                elif audio is not None and isinstance(frame, av.AudioFrame):
                    # The encoder regroups samples into AAC frames; its own counter is exact.
                    frame.pts = None
                    target.mux(audio.encode(frame))
        target.mux(video.encode(None))
        if audio is not None:
            target.mux(audio.encode(None))


def _copy(src: Path, dest: Path, info: VideoInfo, started: float) -> FitResult:
    """Copy a file that already fits, through a temp name so dest is never partial."""
    with written_whole(dest) as temp:
        shutil.copyfile(src, temp)
    return FitResult(
        path=dest,
        size=info.size,
        width=info.width,
        height=info.height,
        bitrate=info.bitrate,
        attempts=0,
        seconds=time.monotonic() - started,
        changed_resolution=False,
    )


def fit_to_limit(
    src: Path, dest: Path, limit_bytes: int, *, deadline_seconds: float = 120
) -> FitResult:
    """Re-encode src into dest under limit_bytes, lowering bitrate, then size; or raise."""
    started = time.monotonic()
    deadline = started + deadline_seconds
    src, dest = Path(src), Path(dest)
    info = probe(src)
    if info.size <= limit_bytes:
        return _copy(src, dest, info, started)
    if info.duration <= 0:
        raise VideoFitError(f"{src.name} has no known duration to budget a bitrate over")
    with _open_input(src) as container:
        audio_bitrate = _audio_bitrate(container)

    sizes = _sizes(info.width, info.height)
    budget = limit_bytes * SIZE_MARGIN
    video_bitrate = int(budget * 8 / info.duration) - audio_bitrate
    attempts = 0
    with written_whole(dest) as temp:
        while True:
            size = _pick_size(sizes, video_bitrate)
            if size is None:
                smallest = sizes[-1]
                raise VideoFitError(
                    f"{limit_bytes / 1024 / 1024:.2f} MiB leaves {max(0, video_bitrate) // 1000}"
                    f" kbps for {info.duration:.1f} s of video; even {smallest[0]}×{smallest[1]}"
                    f" needs {floor_bitrate(*smallest) // 1000} kbps"
                )
            attempt_started = time.monotonic()
            try:
                _encode(src, temp, size, video_bitrate, audio_bitrate, deadline)
            except _DeadlineExceeded:
                raise VideoFitError(
                    f"re-encoding did not finish within {deadline_seconds:.0f} s"
                ) from None
            except av.FFmpegError as exc:
                raise VideoFitError(f"re-encoding {src.name} failed: {exc}") from exc
            attempts += 1
            written = temp.stat().st_size
            if written <= limit_bytes:
                break
            if attempts >= MAX_ATTEMPTS:
                raise VideoFitError(
                    f"still {written / 1024 / 1024:.2f} MiB after {attempts} attempts"
                )
            # Don't start an attempt that the last one's pace says cannot finish in time.
            if time.monotonic() + (time.monotonic() - attempt_started) > deadline:
                raise VideoFitError(f"no time left within {deadline_seconds:.0f} s for a retry")
            video_bitrate = int(video_bitrate * budget / written * RETRY_MARGIN)
    return FitResult(
        path=dest,
        size=written,
        width=size[0],
        height=size[1],
        bitrate=int(written * 8 / info.duration),
        attempts=attempts,
        seconds=time.monotonic() - started,
        changed_resolution=size != (info.width, info.height),
    )


def _is_blank(stat: ImageStat.Stat) -> bool:
    """True for near-uniform frames (fades, black or white slates) that make poor posters.

    `stat` is the frame's grey-level statistics.
    """
    return stat.stddev[0] < 8 or stat.mean[0] < 16


def _frame_near(container: av.container.InputContainer, seconds: float) -> Image.Image | None:
    """The first frame at or after seconds (seeking to the keyframe before it), as RGB."""
    stream = container.streams.video[0]
    if seconds > 0 and stream.time_base:
        with contextlib.suppress(av.FFmpegError):
            # Seek in stream time; start_time is where this stream's timestamps begin.
            offset = int(seconds / stream.time_base) + (stream.start_time or 0)
            container.seek(offset, stream=stream, backward=True)
    last = None
    for frame in container.decode(stream):
        last = frame
        if frame.time is None or frame.time + 1e-3 >= seconds:
            break
    return None if last is None else last.to_image()


def poster_frame(src: Path, dest: Path, *, max_width: int = 1280) -> Path:
    """Write a JPEG of a representative frame (a third in, skipping blank ones) to dest."""
    src, dest = Path(src), Path(dest)
    try:
        with _open_input(src) as container:
            duration = _duration(container)
            best: Image.Image | None = None
            best_spread = -1.0
            for point in _POSTER_POINTS if duration > 0 else (0.0,):
                image = _frame_near(container, duration * point)
                if image is None:
                    continue
                # One grey-level pass per frame serves both the ranking and the blank test.
                stat = ImageStat.Stat(image.convert("L"))
                spread = stat.stddev[0]
                if spread > best_spread:
                    best, best_spread = image, spread
                if not _is_blank(stat) and spread >= _DETAILED_SPREAD:
                    break
    except av.FFmpegError as exc:
        raise VideoFitError(f"cannot decode a frame of {src.name}: {exc}") from exc
    if best is None:
        raise VideoFitError(f"{src.name} has no decodable frames")
    if best.width > max_width:
        height = max(1, round(best.height * max_width / best.width))
        best = best.resize((max_width, height), Image.Resampling.LANCZOS)
    with written_whole(dest) as temp:
        best.convert("RGB").save(temp, format="JPEG", quality=POSTER_QUALITY, optimize=True)
    return dest


class PyAVFitter:
    """The runner's ResultFitter: fit_to_limit and poster_frame, with failures as None."""

    def fit(self, src: Path, dest: Path, limit_bytes: int) -> Fitted | None:
        """A version of `src` under the limit at `dest`, or None when it cannot be made."""
        try:
            result = fit_to_limit(src, dest, limit_bytes)
        except VideoFitError as exc:
            log.info("could not fit %s under %d bytes: %s", src.name, limit_bytes, exc)
            return None
        if result.changed_resolution:
            return Fitted(size=result.size, width=result.width, height=result.height)
        return Fitted(size=result.size)

    def poster(self, src: Path, dest: Path) -> Path | None:
        """A poster frame of `src`, or None when the video cannot be read."""
        try:
            return poster_frame(src, dest)
        except VideoFitError as exc:
            log.info("no poster frame for %s: %s", src.name, exc)
            return None
