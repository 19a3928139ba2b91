"""Layers into frames, quickly: each warp takes Pillow's fastest path that is still exact."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bot.render.motion import Plane, Pose, apply, homography

_EPS: Final = 1e-9
# Soft layers (gradients, blurred photos) are computed at a quarter of the frame's size and
# enlarged once: the same picture for a sixteenth of the work.
SOFT_FACTOR: Final = 4
SHOULDER_RGB: Final = (10, 10, 12)


def warp(
    image: Image.Image, m: np.ndarray, size: tuple[int, int], *, soft: bool = False
) -> Image.Image:
    """Resample `image` into `size` through `m`, which maps output pixels to image pixels.

    `soft` is for smooth pictures (gradients, blurs, shadows): there nearest-pixel sampling
    and an affine fit of the perspective look the same and cost a tenth as much.
    """
    m = m / m[2, 2]
    if soft:
        m = affine_fit(m, size)
    resample = Image.Resampling.NEAREST if soft else Image.Resampling.BILINEAR
    scale = max(abs(m[0, 0]), abs(m[1, 1]), _EPS)
    perspective = abs(m[2, 0]) > _EPS * scale or abs(m[2, 1]) > _EPS * scale
    sheared = abs(m[0, 1]) > _EPS * scale or abs(m[1, 0]) > _EPS * scale
    if not perspective and not sheared and m[0, 0] > 0 and m[1, 1] > 0:
        box = (m[0, 2], m[1, 2], m[0, 2] + m[0, 0] * size[0], m[1, 2] + m[1, 1] * size[1])
        fitted = _inside(box, image.size)
        if fitted is not None:
            # A scaled crop: resize filters properly when shrinking and is twice as fast.
            return image.resize(size, resample, box=fitted)
    if not perspective:
        coeffs = (m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2])
        return image.transform(size, Image.Transform.AFFINE, coeffs, resample)
    coeffs8 = (m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2], m[2, 0], m[2, 1])
    return image.transform(size, Image.Transform.PERSPECTIVE, coeffs8, resample)


def affine_fit(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The affine map closest to homography `m` over an output of `size` (least squares)."""
    if abs(m[2, 0]) <= _EPS and abs(m[2, 1]) <= _EPS:
        return m
    w, h = size
    xs, ys = np.meshgrid(np.linspace(0, w, 3), np.linspace(0, h, 3))
    points = np.column_stack([xs.ravel(), ys.ravel()])
    target = apply(m, points)
    design = np.column_stack([points, np.ones(len(points))])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return np.vstack([solution.T, [0.0, 0.0, 1.0]])


def _inside(
    box: tuple[float, float, float, float], size: tuple[int, int]
) -> tuple[float, float, float, float] | None:
    """The box nudged inside an image of `size`, or None if it reaches out by over a pixel."""
    x0, y0, x1, y1 = box
    w, h = size
    if x0 < -1 or y0 < -1 or x1 > w + 1 or y1 > h + 1:
        return None
    return (max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h)))


def shifted(m: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`m` for an output that starts at (dx, dy) of the frame."""
    return m @ np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]])


def region(
    m: np.ndarray, layer_box: tuple[float, float, float, float], frame: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The frame pixels a box of layer pixels lands on, clipped to the frame; None if none."""
    x0, y0, x1, y1 = layer_box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    pts = apply(np.linalg.inv(m), corners)
    left = max(0, math.floor(pts[:, 0].min()) - 1)
    top = max(0, math.floor(pts[:, 1].min()) - 1)
    right = min(frame[0], math.ceil(pts[:, 0].max()) + 1)
    bottom = min(frame[1], math.ceil(pts[:, 1].max()) + 1)
    if right <= left or bottom <= top:
        return None
    return (left, top, right, bottom)


@dataclass(frozen=True)
class Sprite:
    """A layer drawn through a mask onto the frame: a solid colour or a picture."""

    mask: Image.Image  # "L", in layer pixels
    plane: Plane
    fill: tuple[int, int, int] | Image.Image  # a colour, or an RGB picture the mask's size
    bounds: tuple[float, float, float, float]  # the mask's drawn part, in layer pixels
    soft: bool = False  # a blurred mask, which may be sampled the cheap way

    def draw(self, frame: Image.Image, pose: Pose) -> None:
        """Paint the sprite onto `frame` as the camera at `pose` sees it."""
        m = homography(pose, frame.size, self.plane)
        box = region(m, self.bounds, frame.size)
        if box is None:
            return
        size = (box[2] - box[0], box[3] - box[1])
        local = shifted(m, box[0], box[1])
        mask = warp(self.mask, local, size, soft=self.soft)
        fill = self.fill if isinstance(self.fill, tuple) else warp(self.fill, local, size)
        frame.paste(fill, box, mask)


@dataclass(frozen=True)
class Backdrop:
    """A soft full-frame layer (a gradient, a blurred photo); two pictures may cross-fade."""

    first: Image.Image
    second: Image.Image | None
    plane: Plane

    def render(self, frame: tuple[int, int], pose: Pose, mix: float) -> Image.Image:
        """The backdrop as the camera at `pose` sees it; `mix` blends towards the second picture."""
        m = homography(pose, frame, self.plane)
        out = warp(self.first, m, frame, soft=True)
        if self.second is not None and mix > 0:
            out = Image.blend(out, warp(self.second, m, frame, soft=True), mix)
        return out


def smooth_picture(small: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A small soft picture enlarged once, smoothly, to `size`."""
    return small.resize(size, Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class Shoulder:
    """A dark, out-of-focus shoulder in the lower-left foreground, fixed to the frame."""

    mask: Image.Image
    box: tuple[int, int, int, int]

    @classmethod
    def for_frame(cls, frame: tuple[int, int]) -> Shoulder:
        """A shoulder shaped for frames of this size."""
        w, h = frame
        unit = min(w, h)
        blur = unit * 0.045
        # A rounded mass entering from the lower-left corner, like a shoulder near the lens.
        cx, cy = -0.06 * w, 1.12 * h
        rx, ry = 0.36 * w + 0.1 * unit, 0.5 * h
        # The mask covers the ellipse plus its blur, so the soft edge is never cut straight.
        box = (0, max(0, math.floor(cy - ry - 3 * blur)), min(w, math.ceil(cx + rx + 3 * blur)), h)
        mask = Image.new("L", (box[2] - box[0], box[3] - box[1]), 0)
        top = box[1]
        ImageDraw.Draw(mask).ellipse((cx - rx, cy - ry - top, cx + rx, cy + ry - top), fill=250)
        return cls(mask.filter(ImageFilter.GaussianBlur(blur)), box)

    def draw(self, frame: Image.Image) -> None:
        """Paint the shoulder over the frame."""
        frame.paste(SHOULDER_RGB, self.box, self.mask)
