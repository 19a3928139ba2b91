"""Camera moves as eased transforms over time: a virtual camera looking at flat layers.

The camera is a pinhole with a long lens (FOCAL frame heights, about 28° of vertical field of
view, so turns bend straight lines only a little). Layers are flat pictures facing it; a layer
at depth 1 fills the frame exactly when the camera is at rest, a layer at depth 2 is twice as
far away. Every move is a start and an end pose, blended with an ease-in-out curve.

How each bot.camera move is shown (amplitudes at strength 1.0):
- zoom in / out: the focal length grows 1.0× → 1.3× (or back), so the centre grows or shrinks.
- pan left / right: the camera turns about its vertical axis; the centre sweeps 12% of the
  frame width, with the slight keystone a real turn gives.
- tilt up / down: the same about the horizontal axis, 12% of the frame height.
- truck left / right, pedestal up / down: the camera slides sideways or up by 12% of the
  frame; near layers move more than far ones (parallax), which is what tells a truck from a pan.
- roll clockwise / counterclockwise: the camera turns ±4° about its lens axis.
- low angle: the camera is lowered and tilted up 7° so verticals converge upward while the
  subject stays centred, with a slow push from 1.06× to 1.14×.
- close-up: a tight 1.45× framing of the centre pushing slowly to 1.6×.
- over-the-shoulder: a 1.2× framing with the subject right of centre, drifting slowly, with a
  dark out-of-focus shoulder in the lower-left foreground (drawn by the compositor).
- static: the camera does not move.
Moves combine: zooms multiply, angles and offsets add. [Truck left, Pan right] slides the camera
left while turning it right, so the subject holds while the far background swings: an arc.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from bot.camera import CameraMove

FOCAL: Final = 2.0
_MOVE: Final = 0.12
_ZOOM: Final = 1.3
_ROLL_DEG: Final = 4.0
_LOW_ANGLE_DEG: Final = 7.0
# Gentle defaults when the member names no move: a slower version of the same motion.
DEFAULT_STRENGTH: Final = 0.6


@dataclass(frozen=True)
class Pose:
    """Where the camera is at one instant (angles in radians, offsets in frame heights)."""

    zoom: float = 1.0
    yaw: float = 0.0  # + turns right
    pitch: float = 0.0  # + looks up
    roll: float = 0.0  # + rolls clockwise
    x: float = 0.0  # + right
    y: float = 0.0  # + up

    def combine(self, other: Pose) -> Pose:
        """Both poses at once: zooms multiply, everything else adds."""
        return Pose(
            zoom=self.zoom * other.zoom,
            yaw=self.yaw + other.yaw,
            pitch=self.pitch + other.pitch,
            roll=self.roll + other.roll,
            x=self.x + other.x,
            y=self.y + other.y,
        )


@dataclass(frozen=True)
class Span:
    """One move from start to end, in frame-relative units (widths across, heights up)."""

    zoom: tuple[float, float] = (1.0, 1.0)
    pan: tuple[float, float] = (0.0, 0.0)  # where the centre looks, + right, in frame widths
    tilt: tuple[float, float] = (0.0, 0.0)  # + up, in frame heights
    truck: tuple[float, float] = (0.0, 0.0)  # camera position, + right, in frame widths
    pedestal: tuple[float, float] = (0.0, 0.0)  # + up, in frame heights
    roll_deg: tuple[float, float] = (0.0, 0.0)  # + clockwise


def _sym(amount: float) -> tuple[float, float]:
    """A move centred on the rest pose, so it needs half the margin on each side."""
    return (-amount / 2, amount / 2)


_LOW_PITCH = math.radians(_LOW_ANGLE_DEG)

SPANS: Final[dict[CameraMove, Span]] = {
    CameraMove.ZOOM_IN: Span(zoom=(1.0, _ZOOM)),
    CameraMove.ZOOM_OUT: Span(zoom=(_ZOOM, 1.0)),
    CameraMove.PAN_LEFT: Span(pan=_sym(-_MOVE)),
    CameraMove.PAN_RIGHT: Span(pan=_sym(_MOVE)),
    CameraMove.TILT_UP: Span(tilt=_sym(_MOVE)),
    CameraMove.TILT_DOWN: Span(tilt=_sym(-_MOVE)),
    CameraMove.TRUCK_LEFT: Span(truck=_sym(-_MOVE)),
    CameraMove.TRUCK_RIGHT: Span(truck=_sym(_MOVE)),
    CameraMove.PEDESTAL_UP: Span(pedestal=_sym(_MOVE)),
    CameraMove.PEDESTAL_DOWN: Span(pedestal=_sym(-_MOVE)),
    CameraMove.ROLL_CLOCKWISE: Span(roll_deg=_sym(2 * _ROLL_DEG)),
    CameraMove.ROLL_COUNTERCLOCKWISE: Span(roll_deg=_sym(-2 * _ROLL_DEG)),
    # Tilted up but lowered by as much, so the subject stays centred and only the
    # perspective changes; `tilt` here is the turn, `pedestal` the matching drop.
    CameraMove.LOW_ANGLE: Span(
        zoom=(1.06, 1.14),
        tilt=(FOCAL * math.tan(_LOW_PITCH),) * 2,
        pedestal=(-FOCAL * math.tan(_LOW_PITCH),) * 2,
    ),
    CameraMove.CLOSE_UP: Span(zoom=(1.45, 1.6)),
    CameraMove.OVER_THE_SHOULDER: Span(zoom=(1.2, 1.24), truck=(-0.06, -0.1)),
    CameraMove.STATIC: Span(),
}


def ease(t: float) -> float:
    """Cosine ease-in-out on [0, 1]: starts and stops without a jolt."""
    t = min(max(t, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _lerp(pair: tuple[float, float], e: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * e


def span_pose(span: Span, e: float, aspect: float, strength: float = 1.0) -> Pose:
    """The pose `e` of the way through a span, for frames `aspect` (width / height) wide."""
    z0, z1 = span.zoom
    zoom = math.exp(_lerp((math.log(z0), math.log(z1)), e) * strength)
    # The turn that moves the centre by a given distance on a layer at depth 1.
    yaw = math.atan(_lerp(span.pan, e) * strength * aspect / FOCAL)
    pitch = math.atan(_lerp(span.tilt, e) * strength / FOCAL)
    return Pose(
        zoom=zoom,
        yaw=yaw,
        pitch=pitch,
        roll=math.radians(_lerp(span.roll_deg, e) * strength),
        x=_lerp(span.truck, e) * strength * aspect,
        y=_lerp(span.pedestal, e) * strength,
    )


@dataclass(frozen=True)
class CameraPath:
    """A clip's camera: its moves over normalised time t in [0, 1]."""

    moves: tuple[CameraMove, ...]
    aspect: float
    strength: float = 1.0
    # Extra zoom found by cover_zoom so that no layer edge comes into view.
    extra_zoom: float = 1.0

    def pose(self, t: float) -> Pose:
        """The camera at time t."""
        e = ease(t)
        pose = Pose(zoom=self.extra_zoom)
        for move in self.moves:
            pose = pose.combine(span_pose(SPANS[move], e, self.aspect, self.strength))
        return pose

    @property
    def shoulder(self) -> bool:
        """Whether the compositor should draw an over-the-shoulder foreground."""
        return CameraMove.OVER_THE_SHOULDER in self.moves

    def with_extra_zoom(self, extra_zoom: float) -> CameraPath:
        """The same path, pushed in by `extra_zoom`."""
        return replace(self, extra_zoom=extra_zoom)


def plan_path(moves: Iterable[CameraMove], kind: str, width: int, height: int) -> CameraPath:
    """The clip's path: the given moves, or a gentle default (zoom for images, pan for text)."""
    chosen = tuple(dict.fromkeys(moves))
    if chosen:
        return CameraPath(chosen, width / height)
    default = CameraMove.ZOOM_IN if kind == "image" else CameraMove.PAN_RIGHT
    return CameraPath((default,), width / height, strength=DEFAULT_STRENGTH)


def sample_times(frame_count: int, limit: int = 61) -> np.ndarray:
    """Times at which to check a path's geometry: every frame, or `limit` evenly spread."""
    return np.linspace(0.0, 1.0, max(2, min(frame_count, limit)))


@dataclass(frozen=True)
class Plane:
    """How a layer's pixels sit in the scene."""

    scale: float  # layer pixels per frame height
    origin: tuple[float, float]  # the layer pixel at the centre of the rest view
    depth: float = 1.0


_UNIT_PLANE = Plane(1.0, (0.0, 0.0))


def homography(pose: Pose, frame: tuple[int, int], plane: Plane) -> np.ndarray:
    """The 3×3 matrix taking an output pixel (x, y, 1) to the layer pixel it shows."""
    w, h = frame
    to_view = np.array([[1 / h, 0, -w / (2 * h)], [0, 1 / h, -0.5], [0, 0, 1]])
    lens = np.diag([1.0, 1.0, FOCAL * pose.zoom])
    cos_y, sin_y = math.cos(pose.yaw), math.sin(pose.yaw)
    cos_p, sin_p = math.cos(pose.pitch), math.sin(pose.pitch)
    cos_r, sin_r = math.cos(pose.roll), math.sin(pose.roll)
    # Image y points down, so a positive pitch (looking up) sends rays towards -y.
    yaw = np.array([[cos_y, 0, sin_y], [0, 1, 0], [-sin_y, 0, cos_y]])
    pitch = np.array([[1, 0, 0], [0, cos_p, -sin_p], [0, sin_p, cos_p]])
    roll = np.array([[cos_r, -sin_r, 0], [sin_r, cos_r, 0], [0, 0, 1]])
    onto_plane = np.diag([FOCAL, FOCAL, 1.0])
    # Sliding the camera moves a near layer more than a far one.
    slide = np.array([[1, 0, pose.x / plane.depth], [0, 1, -pose.y / plane.depth], [0, 0, 1]])
    ox, oy = plane.origin
    to_layer = np.array([[plane.scale, 0, ox], [0, plane.scale, oy], [0, 0, 1]])
    m = to_layer @ slide @ onto_plane @ yaw @ pitch @ roll @ lens @ to_view
    return m / m[2, 2]


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map an (n, 2) array of points through a homography."""
    ones = np.ones((points.shape[0], 1))
    mapped = np.hstack([points, ones]) @ m.T
    return mapped[:, :2] / mapped[:, 2:3]


def _corners(w: float, h: float) -> np.ndarray:
    return np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])


def poses_at(path: CameraPath, times: Iterable[float]) -> list[Pose]:
    """The path's pose at each time."""
    return [path.pose(t) for t in times]


def visible_extent(
    poses: Sequence[Pose], frame: tuple[int, int], depth: float
) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1), in frame heights from the rest centre, a layer shows over time."""
    plane = replace(_UNIT_PLANE, depth=depth)
    corners = _corners(*frame)
    seen = np.vstack([apply(homography(pose, frame, plane), corners) for pose in poses])
    x0, y0 = seen.min(axis=0)
    x1, y1 = seen.max(axis=0)
    return (float(x0), float(y0), float(x1), float(y1))


def cover_zoom(
    path: CameraPath,
    frame: tuple[int, int],
    plane: Plane,
    size: tuple[int, int],
    times: Sequence[float] | np.ndarray,
    limit: float = 2.0,
) -> CameraPath:
    """The path pushed in just enough that a layer of `size` pixels fills every frame."""
    corners = _corners(*frame)
    # Half a pixel in from the edge, so bilinear sampling never blends in the outside.
    low_px = np.array([0.5, 0.5])
    high_px = np.array([size[0] - 0.5, size[1] - 0.5])

    def covers(candidate: CameraPath) -> bool:
        """Whether every sampled frame's corners fall inside the layer."""
        for t in times:
            pts = apply(homography(candidate.pose(t), frame, plane), corners)
            if (pts < low_px).any() or (pts > high_px).any():
                return False
        return True

    if covers(path):
        return path
    low, high = 1.0, limit
    if not covers(path.with_extra_zoom(high)):
        return path.with_extra_zoom(high)
    for _ in range(20):
        mid = (low + high) / 2
        if covers(path.with_extra_zoom(mid)):
            high = mid
        else:
            low = mid
    return path.with_extra_zoom(high)


def safe_box(
    poses: Sequence[Pose],
    frame: tuple[int, int],
    inset: float = 0.08,
) -> tuple[float, float, float, float]:
    """The largest frame-shaped box on a depth-1 layer that stays in view, `inset` from the edges.

    In frame heights from the rest centre: a title laid out inside it is never cut off.
    """
    w, h = frame
    views = [homography(pose, frame, _UNIT_PLANE) for pose in poses]
    inverses = [np.linalg.inv(m) for m in views]
    centres = np.vstack([apply(m, np.array([[w / 2, h / 2]])) for m in views])
    cx, cy = centres.mean(axis=0)
    half_w, half_h = w / h / 2, 0.5
    lo_x, hi_x, lo_y, hi_y = inset * w, (1 - inset) * w, inset * h, (1 - inset) * h

    def fits(s: float) -> bool:
        box = np.array(
            [
                [cx - s * half_w, cy - s * half_h],
                [cx + s * half_w, cy - s * half_h],
                [cx + s * half_w, cy + s * half_h],
                [cx - s * half_w, cy + s * half_h],
            ]
        )
        for inv in inverses:
            pts = apply(inv, box)
            if (pts[:, 0] < lo_x).any() or (pts[:, 0] > hi_x).any():
                return False
            if (pts[:, 1] < lo_y).any() or (pts[:, 1] > hi_y).any():
                return False
        return True

    low, high = 0.0, 1.0
    for _ in range(20):
        mid = (low + high) / 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    cx, cy = float(cx), float(cy)
    return (cx - low * half_w, cy - low * half_h, cx + low * half_w, cy + low * half_h)
