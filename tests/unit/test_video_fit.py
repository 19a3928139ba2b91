"""Fitting real H.264 results under an upload limit, and poster frames, with PyAV-made clips."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageStat

from bot import video_fit
from bot.video_fit import VideoFitError, fit_to_limit, poster_frame, probe
from tests.fakes.media import make_mp4, pad_mp4, write_clip

MIB = 1024 * 1024
AUDIO_RATE = 48_000


@dataclass(frozen=True)
class Decoded:
    """What a full decode of a file's video stream found."""

    frames: int
    seconds: float
    width: int
    height: int
    audio_frames: int


def decode(path: Path) -> Decoded:
    """Decode every frame, so a file that merely opens but is broken fails here."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, end, size = 0, 0.0, (0, 0)
        for frame in container.decode(stream):
            frames += 1
            size = (frame.width, frame.height)
            end = max(end, float(frame.time or 0.0))
        rate = float(stream.average_rate or 24)
        audio_frames = 0
        if container.streams.audio:
            container.seek(0)
            audio_frames = sum(1 for _ in container.decode(audio=0))
    return Decoded(frames, end + 1 / rate, size[0], size[1], audio_frames)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of generated clips, made once per session."""
    return tmp_path_factory.mktemp("fit-media")


@pytest.fixture(scope="session")
def clip_30mib(media: Path) -> Path:
    """A ~30 MiB, 10 s, 1280×720 H.264 clip of noise with AAC audio."""
    return write_clip(media / "noise-720p.mp4", 1280, 720, 10, target_bytes=30 * MIB)


@pytest.fixture(scope="session")
def clip_black_start(media: Path) -> Path:
    """A 3 s clip whose first 1.2 s are black, so a third of the way in is still black."""
    return write_clip(media / "black-start.mp4", 640, 360, 3, black_seconds=1.2, audio=False)


def leftovers(directory: Path, name: str) -> list[Path]:
    """The dest file or any temp file made for it."""
    return [p for p in directory.iterdir() if name in p.name]


def test_probe_reads_the_generated_clip(clip_30mib: Path) -> None:
    info = probe(clip_30mib)
    assert (info.width, info.height, info.codec) == (1280, 720, "h264")
    assert info.duration == pytest.approx(10.0, abs=0.1)
    assert info.fps == pytest.approx(24.0)
    assert info.has_audio
    assert 28 * MIB <= info.size <= 34 * MIB
    assert info.bitrate == pytest.approx(info.size * 8 / info.duration, rel=0.05)


def test_30mib_result_fits_under_10mib_at_the_same_resolution(
    clip_30mib: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "fitted.mp4"
    result = fit_to_limit(clip_30mib, dest, 10 * MIB)

    assert result.path == dest
    assert dest.stat().st_size == result.size <= 10 * MIB
    assert (result.width, result.height) == (1280, 720)
    assert not result.changed_resolution
    assert 1 <= result.attempts <= 4
    before, after = decode(clip_30mib), decode(dest)
    assert (after.width, after.height) == (1280, 720)
    assert after.frames == before.frames
    assert after.seconds == pytest.approx(before.seconds, abs=0.1)
    assert probe(dest).duration == pytest.approx(probe(clip_30mib).duration, abs=0.1)
    assert after.audio_frames > 0, "the audio track must survive the re-encode"
    assert leftovers(tmp_path, "fitted") == [dest]


def test_a_tiny_limit_drops_the_resolution_and_still_decodes(
    clip_30mib: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "small.mp4"
    # 600 KB over 10 s leaves ~350 kbps for video: too little for 720p or 540p noise.
    result = fit_to_limit(clip_30mib, dest, 600_000)

    assert result.changed_resolution
    assert result.size == dest.stat().st_size <= 600_000
    assert result.height < 720
    assert result.width % 2 == 0
    assert result.height % 2 == 0
    assert result.width / result.height == pytest.approx(16 / 9, rel=0.01)
    after = decode(dest)
    assert (after.width, after.height) == (result.width, result.height)
    assert after.seconds == pytest.approx(decode(clip_30mib).seconds, abs=0.1)


def test_an_impossible_limit_raises_and_leaves_no_file(clip_30mib: Path, tmp_path: Path) -> None:
    dest = tmp_path / "never.mp4"
    with pytest.raises(VideoFitError, match="kbps"):
        fit_to_limit(clip_30mib, dest, 20_000)
    assert leftovers(tmp_path, "never") == []


def test_a_missed_deadline_raises_and_leaves_no_file(clip_30mib: Path, tmp_path: Path) -> None:
    dest = tmp_path / "late.mp4"
    with pytest.raises(VideoFitError, match="within"):
        fit_to_limit(clip_30mib, dest, 10 * MIB, deadline_seconds=0.0)
    assert leftovers(tmp_path, "late") == []


def padded_encoder(
    monkeypatch: pytest.MonkeyPatch, pad_bytes: int, times: int
) -> list[tuple[tuple[int, int], int]]:
    """Make the first `times` encodes overshoot by pad_bytes; return each call's size, bitrate."""
    calls: list[tuple[tuple[int, int], int]] = []
    real = video_fit._encode

    def encode(
        src: Path, out: Path, size: tuple[int, int], video_bitrate: int, *rest: float
    ) -> None:
        real(src, out, size, video_bitrate, *rest)
        calls.append((size, video_bitrate))
        if len(calls) <= times:
            out.write_bytes(pad_mp4(out.read_bytes(), pad_bytes))

    monkeypatch.setattr(video_fit, "_encode", encode)
    return calls


def test_an_overshoot_is_retried_at_a_lower_bitrate(
    clip_black_start: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = padded_encoder(monkeypatch, pad_bytes=400_000, times=1)
    result = fit_to_limit(clip_black_start, tmp_path / "retried.mp4", 400_000)

    assert result.attempts == 2
    assert len(calls) == 2
    assert calls[1][1] < calls[0][1]
    assert result.size <= 400_000
    assert decode(result.path).frames == 72


def test_repeated_overshoots_give_up_without_a_file(
    clip_black_start: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = padded_encoder(monkeypatch, pad_bytes=400_000, times=99)
    with pytest.raises(VideoFitError):
        fit_to_limit(clip_black_start, tmp_path / "overshoot.mp4", 400_000)
    assert 2 <= len(calls) <= video_fit.MAX_ATTEMPTS
    bitrates = [bitrate for _, bitrate in calls]
    assert bitrates == sorted(bitrates, reverse=True)
    assert leftovers(tmp_path, "overshoot") == []


def test_a_file_that_already_fits_is_copied(tmp_path: Path) -> None:
    src = tmp_path / "small-src.mp4"
    src.write_bytes(make_mp4(320, 240, 1.0, 12))
    result = fit_to_limit(src, tmp_path / "copy.mp4", 10 * MIB)
    assert result.attempts == 0
    assert not result.changed_resolution
    assert (tmp_path / "copy.mp4").read_bytes() == src.read_bytes()


def test_poster_frame_is_a_scaled_jpeg_of_real_content(clip_30mib: Path, tmp_path: Path) -> None:
    dest = poster_frame(clip_30mib, tmp_path / "poster.jpg", max_width=640)
    with Image.open(dest) as image:
        assert image.format == "JPEG"
        assert image.size == (640, 360)
        # Downscaled noise averages out to a stddev near 18; a black frame has 0.
        assert ImageStat.Stat(image.convert("L")).stddev[0] > 10


def test_poster_frame_skips_a_black_stretch(clip_black_start: Path, tmp_path: Path) -> None:
    dest = poster_frame(clip_black_start, tmp_path / "poster.jpg")
    with Image.open(dest) as image:
        # Narrower than max_width, so kept at its own size.
        assert image.size == (640, 360)
        stat = ImageStat.Stat(image.convert("L"))
        assert stat.mean[0] > 40
        # Not a flat frame. How detailed the noise after the cut comes out varies with the
        # encoder's threads (stddev 8.7 to 70 seen here); black is about 0.
        assert stat.stddev[0] > 5


GARBAGE_CALLS: dict[str, Callable[[Path, Path], object]] = {
    "probe": lambda src, _dest: probe(src),
    "fit": lambda src, dest: fit_to_limit(src, dest, 1024),
    "poster": lambda src, dest: poster_frame(src, dest),
}


@pytest.mark.parametrize("call", sorted(GARBAGE_CALLS))
def test_garbage_bytes_raise_video_fit_error(call: str, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(3).bytes(64 * 1024))
    dest = tmp_path / "out"
    with pytest.raises(VideoFitError):
        GARBAGE_CALLS[call](garbage, dest)
    assert not dest.exists()
