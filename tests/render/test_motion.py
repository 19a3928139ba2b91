"""Camera moves do what their names say, measured on a red square at the picture's centre."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.camera import CameraMove
from bot.render import RenderSpec, frame_size, render_clip
from bot.render.clip import Scene, build_scene
from bot.render.imageclip import ImageScene
from bot.render.motion import (
    DEFAULT_STRENGTH,
    CameraPath,
    Plane,
    apply,
    ease,
    homography,
    plan_path,
)
from tests.render.helpers import Blob, probe, red_square, target_photo

SMALL = (320, 180)


def scene(
    moves: tuple[CameraMove, ...], frame: tuple[int, int] = SMALL, photo: bytes | None = None
) -> Scene:
    spec = RenderSpec("image", frame[0], frame[1], 5, moves=moves, image=photo or target_photo())
    return build_scene(spec)


def ends(moves: tuple[CameraMove, ...], frame: tuple[int, int] = SMALL) -> tuple[Blob, Blob]:
    built = scene(moves, frame)
    return red_square(built.frame(0)), red_square(built.frame(119))


def test_zoom_in_really_zooms_in_the_encoded_file(tmp_path: Path) -> None:
    width, height = frame_size("480p", "16:9")
    out = tmp_path / "zoom.mp4"
    spec = RenderSpec("image", width, height, 5, moves=(CameraMove.ZOOM_IN,), image=target_photo())
    render_clip(spec, out)
    info = probe(out)
    first, last = red_square(info.first), red_square(info.last)
    # Focal length 1.0 → 1.3: the square is 1.3 times as wide, 1.69 times the area.
    assert last.width / first.width == pytest.approx(1.3, rel=0.06)
    assert last.area / first.area == pytest.approx(1.69, rel=0.1)
    # A zoom into the centre keeps the centre where it is.
    assert last.cx == pytest.approx(first.cx, abs=2)
    assert last.cy == pytest.approx(first.cy, abs=2)


def test_zoom_out_shrinks_the_centre() -> None:
    first, last = ends((CameraMove.ZOOM_OUT,))
    assert first.width / last.width == pytest.approx(1.3, rel=0.08)


@pytest.mark.parametrize(
    ("move", "dx", "dy"),
    [
        (CameraMove.PAN_RIGHT, -1, 0),
        (CameraMove.PAN_LEFT, 1, 0),
        (CameraMove.TRUCK_RIGHT, -1, 0),
        (CameraMove.TRUCK_LEFT, 1, 0),
        (CameraMove.TILT_UP, 0, 1),
        (CameraMove.TILT_DOWN, 0, -1),
        (CameraMove.PEDESTAL_UP, 0, 1),
        (CameraMove.PEDESTAL_DOWN, 0, -1),
    ],
)
def test_moves_shift_content_the_opposite_way(move: CameraMove, dx: int, dy: int) -> None:
    first, last = ends((move,))
    w, h = SMALL
    # 12% of the frame along the move, nothing across it.
    expected_x, expected_y = dx * 0.12 * w, dy * 0.12 * h
    assert last.cx - first.cx == pytest.approx(expected_x, abs=0.025 * w)
    assert last.cy - first.cy == pytest.approx(expected_y, abs=0.025 * h)


def _tilt_of_top_edge(frame: Image.Image) -> float:
    """The angle (degrees, + clockwise on screen) of the red square's top edge."""
    rgb = np.asarray(frame).astype(np.int16)
    red = (rgb[..., 0] > 170) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    cols = [x for x in range(red.shape[1]) if red[:, x].any()]
    inner = cols[len(cols) // 4 : 3 * len(cols) // 4]
    tops = [int(np.argmax(red[:, x])) for x in inner]
    slope = np.polyfit(inner, tops, 1)[0]
    return math.degrees(math.atan(slope))


@pytest.mark.parametrize(
    ("move", "sign"), [(CameraMove.ROLL_CLOCKWISE, -1), (CameraMove.ROLL_COUNTERCLOCKWISE, 1)]
)
def test_a_camera_roll_turns_the_picture_the_other_way(move: CameraMove, sign: int) -> None:
    built = scene((move,), (640, 360))
    start, end = _tilt_of_top_edge(built.frame(0)), _tilt_of_top_edge(built.frame(119))
    # The camera rolls 8° in all, so the picture turns 8° the opposite way.
    assert end - start == pytest.approx(sign * 8, abs=1.5)


def test_rolled_frames_never_show_past_the_picture_edge() -> None:
    built = scene((CameraMove.ROLL_CLOCKWISE, CameraMove.PAN_LEFT))
    for index in (0, 30, 60, 90, 119):
        frame = np.asarray(built.frame(index)).astype(int)
        corners = [frame[0, 0], frame[0, -1], frame[-1, 0], frame[-1, -1]]
        # Warping past the picture would leave black; the checkerboard has no black.
        assert all(c.sum() > 150 for c in corners), index


def test_static_shot_does_not_move() -> None:
    built = scene((CameraMove.STATIC,))
    assert np.array_equal(np.asarray(built.frame(0)), np.asarray(built.frame(119)))


def test_close_up_frames_the_centre_tightly() -> None:
    first, last = ends((CameraMove.CLOSE_UP,))
    rest, _ = ends((CameraMove.STATIC,))
    assert first.width / rest.width == pytest.approx(1.45, rel=0.08)
    assert last.width > first.width


def test_low_angle_keeps_the_subject_centred_and_converges_verticals() -> None:
    built = scene((CameraMove.LOW_ANGLE,), (640, 360))
    frame = built.frame(60)
    square = red_square(frame)
    assert square.cx == pytest.approx(320, abs=6)
    assert square.cy == pytest.approx(180, abs=6)
    rgb = np.asarray(frame).astype(np.int16)
    red = (rgb[..., 0] > 170) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    rows = np.nonzero(red.any(axis=1))[0]
    width_at = lambda y: int(red[y].sum())  # noqa: E731
    # Looking up at the picture: its top is further away, so the square narrows upward.
    assert width_at(rows[2]) < width_at(rows[-3])


def test_over_the_shoulder_puts_the_subject_right_and_a_shoulder_bottom_left() -> None:
    built = scene((CameraMove.OVER_THE_SHOULDER,), (640, 360))
    frame = built.frame(60)
    assert red_square(frame).cx > 320 + 20
    corner = np.asarray(frame)[-5, 5].astype(int)
    assert corner.sum() < 60


def test_every_move_renders_in_both_kinds() -> None:
    for move in CameraMove:
        for kind in ("image", "text"):
            spec = RenderSpec(
                kind, 160, 90, 5, moves=(move,), text="모든 움직임", image=target_photo()
            )
            built = build_scene(spec)
            assert built.frame(0).size == (160, 90)
            assert built.frame(119).size == (160, 90)


def test_truck_left_with_pan_right_arcs_round_the_subject() -> None:
    path = CameraPath((CameraMove.TRUCK_LEFT, CameraMove.PAN_RIGHT), 16 / 9)
    centre = np.array([[640.0, 360.0]])

    def seen(depth: float, t: float) -> np.ndarray:
        plane = Plane(1.0, (0.0, 0.0), depth)
        return apply(homography(path.pose(t), (1280, 720), plane), centre)[0]

    # The subject (depth 1) holds still; the far background (depth 1.8) swings past.
    assert np.allclose(seen(1.0, 0.0), seen(1.0, 1.0), atol=1e-6)
    assert abs(seen(1.8, 1.0)[0] - seen(1.8, 0.0)[0]) > 0.05


def test_defaults_are_gentle_zoom_for_images_and_pan_for_text() -> None:
    image = plan_path((), "image", 1280, 720)
    text = plan_path((), "text", 1280, 720)
    assert image.moves == (CameraMove.ZOOM_IN,)
    assert image.strength == DEFAULT_STRENGTH
    assert text.moves == (CameraMove.PAN_RIGHT,)
    assert text.strength == DEFAULT_STRENGTH
    assert plan_path((CameraMove.TILT_UP, CameraMove.TILT_UP), "text", 1280, 720).moves == (
        CameraMove.TILT_UP,
    )


def test_easing_starts_and_stops_gently() -> None:
    assert ease(0) == 0
    assert ease(1) == 1
    assert ease(0.5) == pytest.approx(0.5)
    assert ease(0.05) < 0.05
    assert ease(0.95) > 0.95


def test_a_picture_of_another_shape_is_shown_whole_over_a_blur() -> None:
    wide = target_photo(1920, 800)
    built = scene((CameraMove.STATIC,), (180, 320), photo=wide)
    assert isinstance(built, ImageScene)
    assert not built.cropped
    frame = np.asarray(built.frame(0)).astype(int)
    square = red_square(built.frame(0))
    # The whole width is in frame, so the square is a sixth of the picture's height across.
    assert square.width == pytest.approx(180 * 800 / 1920 / 6, abs=3)
    # Above and below the picture: the blurred copy, not black.
    assert frame[5, 90].sum() > 40
    assert frame[-5, 90].sum() > 40


def test_a_picture_of_nearly_the_right_shape_is_cropped_to_fill() -> None:
    built = scene((CameraMove.STATIC,), (320, 180))
    assert isinstance(built, ImageScene)
    assert built.cropped
    square = red_square(built.frame(0))
    # 4:3 cropped into 16:9: the width fills, so the square is (320 / 1600) * 200 across.
    assert square.width == pytest.approx(320 / 1600 * 200, abs=2)
