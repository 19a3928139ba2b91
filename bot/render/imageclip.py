"""Image to video: the member's picture filmed by the moving camera.

A picture close to the frame's shape is cropped to fill it. One whose shape is far off (a wide
photo in a 9:16 frame) would lose too much, so it is shown whole over a blurred, darkened copy
of itself that fills the frame.
"""

from __future__ import annotations

import io
import math
from typing import Final

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from bot.render.compose import SOFT_FACTOR, Backdrop, Shoulder, Sprite, smooth_picture, warp
from bot.render.motion import (
    CameraPath,
    Plane,
    Pose,
    cover_zoom,
    homography,
    poses_at,
    sample_times,
    visible_extent,
)

# Crop when at least this share of the picture stays in frame (4:3 in 16:9 keeps 75%).
MIN_CROP_KEEP: Final = 0.72
BACKDROP_DEPTH: Final = 1.8
_BACKDROP_BRIGHTNESS: Final = 0.55
_MATTE_RGB: Final = (24, 24, 24)
_BORDER: Final = 4
# Past this the picture is shrunk before anything else; no frame needs more detail.
_MAX_DECODE_SIDE: Final = 4096


def decode(data: bytes, frame: tuple[int, int]) -> Image.Image:
    """The picture upright, in RGB, decoded no larger than the clip can use."""
    # Image.open gives an ImageFile; the steps below make plain Images of it.
    image: Image.Image = Image.open(io.BytesIO(data))
    # JPEG can decode at 1/2, 1/4 or 1/8 size directly: much faster for large photos.
    want = 2 * max(frame)
    image.draft("RGB", (want, want))
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        matte = Image.new("RGB", rgba.size, _MATTE_RGB)
        matte.paste(rgba, mask=rgba.getchannel("A"))
        image = matte
    else:
        image = image.convert("RGB")
    if max(image.size) > _MAX_DECODE_SIDE:
        image.thumbnail((_MAX_DECODE_SIDE, _MAX_DECODE_SIDE), Image.Resampling.LANCZOS)
    return image


def crop_keeps(image_size: tuple[int, int], frame: tuple[int, int]) -> float:
    """The share of the picture that cropping to the frame's shape keeps."""
    image_aspect = image_size[0] / image_size[1]
    frame_aspect = frame[0] / frame[1]
    return min(image_aspect / frame_aspect, frame_aspect / image_aspect)


def _shrunk(image: Image.Image, scale: float, wanted: float) -> tuple[Image.Image, float]:
    """The picture at no more than `wanted` pixels per frame height (it has `scale`)."""
    if wanted >= scale * 0.95:
        return image, scale
    factor = wanted / scale
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    shrunk = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return shrunk, scale * shrunk.height / image.height


class ImageScene:
    """Frames of a picture under camera motion."""

    def __init__(
        self, image: Image.Image, frame: tuple[int, int], path: CameraPath, frame_count: int
    ) -> None:
        self.frame_size = frame
        self.frame_count = frame_count
        self.shoulder = Shoulder.for_frame(frame) if path.shoulder else None
        times = sample_times(frame_count)
        w, h = frame
        self.cropped = crop_keeps(image.size, frame) >= MIN_CROP_KEEP
        fit = max if self.cropped else min
        # Picture pixels per frame height when the picture covers (or fits inside) the frame.
        scale = h / fit(w / image.width, h / image.height)
        if self.cropped:
            # Push in just enough that no edge of the picture ever shows.
            centre = (image.width / 2, image.height / 2)
            path = cover_zoom(path, frame, Plane(scale, centre), image.size, times)
        self.path = path
        poses = poses_at(path, times)
        self.picture, scale = _shrunk(image, scale, h * max(pose.zoom for pose in poses))
        self.plane = Plane(scale, (self.picture.width / 2, self.picture.height / 2))
        self.backdrop: Backdrop | None = None
        self.sprite: Sprite | None = None
        if not self.cropped:
            self.backdrop = _blurred_backdrop(image, frame, poses)
            self.sprite = _framed(self.picture, scale)

    def frame(self, index: int) -> Image.Image:
        """Frame `index` of the clip."""
        t = index / max(1, self.frame_count - 1)
        pose = self.path.pose(t)
        if self.backdrop is None or self.sprite is None:
            m = homography(pose, self.frame_size, self.plane)
            image = warp(self.picture, m, self.frame_size)
        else:
            image = self.backdrop.render(self.frame_size, pose, 0.0)
            self.sprite.draw(image, pose)
        if self.shoulder is not None:
            self.shoulder.draw(image)
        return image


def _framed(picture: Image.Image, scale: float) -> Sprite:
    """The whole picture as a sprite over the backdrop.

    A transparent border keeps every warp inside the picture, so the fast resize path
    applies, and lets bilinear sampling soften the picture's edge.
    """
    w, h = picture.size
    mask = ImageOps.expand(Image.new("L", (w, h), 255), _BORDER, fill=0)
    framed = ImageOps.expand(picture, _BORDER, fill=_MATTE_RGB)
    plane = Plane(scale, (framed.width / 2, framed.height / 2))
    bounds = (float(_BORDER), float(_BORDER), float(_BORDER + w), float(_BORDER + h))
    return Sprite(mask, plane, framed, bounds)


def _blurred_backdrop(image: Image.Image, frame: tuple[int, int], poses: list[Pose]) -> Backdrop:
    """A soft, darkened copy of the picture filling everything the far layer shows."""
    x0, y0, x1, y1 = visible_extent(poses, frame, BACKDROP_DEPTH)
    # Centred on the rest view, so the copy lines up behind the picture.
    half_w = max(-x0, x1) + 0.05
    half_h = max(-y0, y1) + 0.05
    scale = frame[1]
    size = (math.ceil(2 * half_w * scale), math.ceil(2 * half_h * scale))
    small = (max(2, size[0] // SOFT_FACTOR), max(2, size[1] // SOFT_FACTOR))
    filled = ImageOps.fit(image, small, Image.Resampling.BILINEAR)
    filled = filled.filter(ImageFilter.GaussianBlur(small[1] * 0.03))
    filled = ImageEnhance.Brightness(filled).enhance(_BACKDROP_BRIGHTNESS)
    filled = smooth_picture(filled, size)
    return Backdrop(filled, None, Plane(scale, (size[0] / 2, size[1] / 2), BACKDROP_DEPTH))
