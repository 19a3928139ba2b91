"""Text to video: the prompt as a title over a drifting gradient, seen by the moving camera."""

from __future__ import annotations

import colorsys
import math
import random
from typing import Final

import numpy as np
from PIL import Image

from bot.render.compose import SOFT_FACTOR, Backdrop, Shoulder, Sprite, smooth_picture
from bot.render.motion import (
    CameraPath,
    Plane,
    Pose,
    ease,
    poses_at,
    safe_box,
    sample_times,
    visible_extent,
)
from bot.render.text import draw_masks, fit

# The gradient sits behind the title, so a truck or pedestal slides it less (parallax).
BACKDROP_DEPTH: Final = 1.8
_TEXT_RGB: Final = (250, 250, 250)
_SHADOW_RGB: Final = (0, 0, 0)
_BLOBS: Final = 5
# Title sizes as fractions of the frame height: large for a few words, readable for many.
_MAX_TEXT: Final = 0.12
_MIN_TEXT: Final = 0.034


def drift(t: float) -> Pose:
    """The gradient's own slow motion, so it moves even under a static camera."""
    return Pose(roll=math.radians(10.0) * (ease(t) - 0.5), x=0.08 * (ease(t) - 0.5))


def palettes(seed: int) -> tuple[list[tuple[float, float, float]], ...]:
    """Two related sets of dark, saturated colours (0-255 floats) chosen by the seed."""
    rng = random.Random(seed)
    base = rng.random()
    sets = []
    for shift in (0.0, 0.09):
        colours = []
        for _ in range(_BLOBS):
            hue = (base + shift + rng.uniform(-0.2, 0.2)) % 1.0
            # Value stays low so white text keeps its contrast everywhere.
            r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.5, 0.9), rng.uniform(0.22, 0.58))
            colours.append((r * 255, g * 255, b * 255))
        sets.append(colours)
    return tuple(sets)


def mesh_gradient(
    size: tuple[int, int], colours: list[tuple[float, float, float]], seed: int
) -> Image.Image:
    """A smooth blend of colours around random points: soft blobs, no hard bands."""
    w, h = size
    rng = np.random.default_rng(seed)
    points = rng.uniform((0, 0), (w, h), size=(len(colours), 2))
    sigma = 0.28 * max(w, h)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    weights = np.stack(
        [np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * sigma**2)) for px, py in points],
        axis=-1,
    )
    weights /= weights.sum(axis=-1, keepdims=True) + 1e-6
    rgb = weights @ np.asarray(colours, dtype=np.float32)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


class TitleScene:
    """Frames of a title card."""

    def __init__(
        self, text: str, frame: tuple[int, int], path: CameraPath, frame_count: int, seed: int
    ) -> None:
        self.frame_size = frame
        self.path = path
        self.frame_count = frame_count
        poses = poses_at(path, sample_times(frame_count))
        self.backdrop = self._backdrop(poses, seed)
        self.sprites = self._title(text, poses)
        self.shoulder = Shoulder.for_frame(frame) if path.shoulder else None

    def _backdrop(self, poses: list[Pose], seed: int) -> Backdrop:
        times = sample_times(len(poses))
        drifted = [pose.combine(drift(float(t))) for pose, t in zip(poses, times, strict=True)]
        x0, y0, x1, y1 = visible_extent(drifted, self.frame_size, BACKDROP_DEPTH)
        scale = self.frame_size[1]
        # A small margin so sampling never reaches past the picture's edge.
        pad = 0.03
        size = (math.ceil((x1 - x0 + 2 * pad) * scale), math.ceil((y1 - y0 + 2 * pad) * scale))
        small = (max(2, size[0] // SOFT_FACTOR), max(2, size[1] // SOFT_FACTOR))
        first, second = (
            smooth_picture(mesh_gradient(small, colours, seed), size) for colours in palettes(seed)
        )
        plane = Plane(scale, ((pad - x0) * scale, (pad - y0) * scale), BACKDROP_DEPTH)
        return Backdrop(first, second, plane)

    def _title(self, text: str, poses: list[Pose]) -> list[Sprite]:
        if not text:
            return []
        x0, y0, x1, y1 = safe_box(poses, self.frame_size)
        # Drawn as sharp as the closest the camera gets, so a zoom never blurs the letters.
        scale = self.frame_size[1] * max(1.0, max(pose.zoom for pose in poses))
        size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
        layout = fit(
            text,
            size[0],
            size[1],
            max_size=max(8, round(_MAX_TEXT * scale)),
            min_size=max(8, round(_MIN_TEXT * scale)),
        )
        margin = round(layout.size * 0.6)
        ink, halo = draw_masks(layout, size, margin)
        plane = Plane(scale, (margin - x0 * scale, margin - y0 * scale))
        sprites = []
        for mask, colour, soft in ((halo, _SHADOW_RGB, True), (ink, _TEXT_RGB, False)):
            bounds = mask.getbbox()
            if bounds is not None:
                box = (float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3]))
                sprites.append(Sprite(mask, plane, colour, box, soft))
        return sprites

    def frame(self, index: int) -> Image.Image:
        """Frame `index` of the clip."""
        t = index / max(1, self.frame_count - 1)
        pose = self.path.pose(t)
        image = self.backdrop.render(self.frame_size, pose.combine(drift(t)), ease(t))
        for sprite in self.sprites:
            sprite.draw(image, pose)
        if self.shoulder is not None:
            self.shoulder.draw(image)
        return image
