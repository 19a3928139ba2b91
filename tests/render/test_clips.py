"""Finished files: decoded back with PyAV, they have the size, length and format asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.camera import CameraMove
from bot.render import RenderSpec, frame_size, render_clip
from bot.render.encode import max_bitrate
from tests.render.helpers import probe, target_photo


@pytest.mark.parametrize(
    ("resolution", "aspect", "size"),
    [
        ("480p", "16:9", (854, 480)),
        ("480p", "9:16", (480, 854)),
        ("480p", "1:1", (480, 480)),
        ("720p", "16:9", (1280, 720)),
        ("720p", "9:16", (720, 1280)),
        ("720p", "1:1", (720, 720)),
        ("1080p", "16:9", (1920, 1080)),
        ("1080p", "9:16", (1080, 1920)),
        ("1080p", "1:1", (1080, 1080)),
    ],
)
def test_frame_sizes_are_even_and_named_by_the_short_side(
    resolution: str, aspect: str, size: tuple[int, int]
) -> None:
    assert frame_size(resolution, aspect) == size
    assert size[0] % 2 == 0
    assert size[1] % 2 == 0


def test_peak_bitrate_grows_with_resolution() -> None:
    rates = [max_bitrate(*frame_size(r, "16:9")) for r in ("480p", "720p", "1080p")]
    assert rates == sorted(rates)
    assert len(set(rates)) == 3
    # A 10 s clip at the cap stays under Discord's smallest upload limit (10 MB).
    assert rates[-1] * 10 / 8 < 10_000_000


@pytest.mark.parametrize(
    ("kind", "resolution", "aspect", "duration", "moves"),
    [
        ("text", "480p", "16:9", 5, ()),
        ("image", "480p", "9:16", 5, (CameraMove.PAN_RIGHT,)),
        ("text", "480p", "1:1", 10, (CameraMove.ROLL_CLOCKWISE, CameraMove.ZOOM_OUT)),
        ("image", "480p", "1:1", 10, (CameraMove.TRUCK_LEFT, CameraMove.PAN_RIGHT)),
        ("image", "720p", "16:9", 5, ()),
        ("image", "1080p", "1:1", 5, (CameraMove.LOW_ANGLE,)),
    ],
)
def test_rendered_file_decodes_to_the_requested_clip(
    tmp_path: Path,
    kind: str,
    resolution: str,
    aspect: str,
    duration: int,
    moves: tuple[CameraMove, ...],
) -> None:
    width, height = frame_size(resolution, aspect)
    spec = RenderSpec(
        kind=kind,  # type: ignore[arg-type]
        width=width,
        height=height,
        duration=duration,
        moves=moves,
        text="A bowl of bibimbap 비빔밥, steam rising",
        image=target_photo() if kind == "image" else None,
        seed=11,
    )
    out = tmp_path / "clip.mp4"
    result = render_clip(spec, out)

    assert result.path == out
    assert out.is_file()
    assert not list(tmp_path.glob("*.part")), "the partial file must be renamed, not left"
    info = probe(out)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == (width, height)
    assert info.fps == 24
    assert info.frames == 24 * duration == result.frames
    assert info.duration == pytest.approx(duration, abs=0.05)


def test_moov_atom_comes_first_for_streaming(tmp_path: Path) -> None:
    width, height = frame_size("480p", "16:9")
    out = tmp_path / "fast.mp4"
    render_clip(RenderSpec("text", width, height, 5, text="faststart"), out)
    head = out.read_bytes()
    assert 0 <= head.find(b"moov") < head.find(b"mdat")


def test_a_failed_render_leaves_no_file(tmp_path: Path) -> None:
    width, height = frame_size("480p", "16:9")
    out = tmp_path / "broken.mp4"
    with pytest.raises(Exception, match=r"(?i)identify|image"):
        render_clip(RenderSpec("image", width, height, 5, image=b"not an image"), out)
    assert list(tmp_path.iterdir()) == []
