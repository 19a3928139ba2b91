"""A sample photo for the demo, drawn with Pillow: a bowl of bibimbap seen from above.

Drawn at first run instead of shipped as a binary, so the repository stays small; the same
seed always gives the same picture.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFilter

SIZE: Final = (1280, 960)
FILENAME: Final = "bibimbap.jpg"
RGB = tuple[int, int, int]

# Toppings around the egg: (colour, second colour, shape), one wedge each.
_TOPPINGS: Final[tuple[tuple[RGB, RGB, str], ...]] = (
    ((46, 110, 38), (70, 140, 50), "strands"),  # spinach
    ((236, 120, 30), (250, 150, 60), "sticks"),  # carrot
    ((245, 235, 190), (225, 215, 150), "sprouts"),  # bean sprouts
    ((110, 70, 40), (150, 105, 65), "slices"),  # shiitake
    ((150, 190, 90), (200, 225, 150), "moons"),  # courgette
    ((95, 40, 30), (125, 60, 40), "crumbs"),  # beef
    ((130, 40, 110), (170, 70, 150), "sticks"),  # red cabbage
)


def _jitter(rng: random.Random, colour: RGB, spread: int = 18) -> RGB:
    r, g, b = (max(0, min(255, c + rng.randint(-spread, spread))) for c in colour)
    return r, g, b


def _points(
    rng: random.Random,
    centre: tuple[float, float],
    radii: tuple[float, float],
    angles: tuple[float, float],
    count: int,
) -> Iterator[tuple[float, float, float]]:
    """Random (x, y, angle) inside a ring sector."""
    cx, cy = centre
    for _ in range(count):
        angle = rng.uniform(*angles)
        radius = math.sqrt(rng.uniform(radii[0] ** 2, radii[1] ** 2))
        yield cx + radius * math.cos(angle), cy + radius * math.sin(angle), angle


def _table(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """Warm wooden planks with grain."""
    width, height = SIZE
    plank = height // 5
    for index in range(6):
        base = _jitter(rng, (120, 78, 45), 12)
        draw.rectangle((0, index * plank, width, (index + 1) * plank), fill=base)
        for _ in range(40):
            y = index * plank + rng.uniform(4, plank - 4)
            shade = _jitter(rng, (95, 60, 34), 10)
            points = [(x, y + 3 * math.sin(x / rng.uniform(40, 90))) for x in range(0, width, 16)]
            draw.line(points, fill=shade, width=rng.choice((1, 2)))
        draw.line((0, index * plank, width, index * plank), fill=(60, 38, 22), width=3)


def _utensils(draw: ImageDraw.ImageDraw) -> None:
    """Steel chopsticks and a spoon to the right of the bowl."""
    for offset in (0, 26):
        draw.line((1110 + offset, 170, 1150 + offset, 830), fill=(190, 190, 195), width=11)
        draw.line((1112 + offset, 170, 1152 + offset, 830), fill=(230, 230, 235), width=3)
    draw.ellipse((1010, 120, 1080, 230), fill=(200, 200, 205), outline=(150, 150, 155), width=3)
    draw.line((1045, 225, 1060, 640), fill=(200, 200, 205), width=14)


def _toppings(draw: ImageDraw.ImageDraw, rng: random.Random, centre: tuple[int, int]) -> None:
    """Each topping fills one wedge between the egg and the rim."""
    step = 2 * math.pi / len(_TOPPINGS)
    for index, (colour, accent, shape) in enumerate(_TOPPINGS):
        start = index * step - math.pi / 2 + 0.04
        angles = (start, start + step - 0.08)
        for x, y, angle in _points(rng, centre, (120, 300), angles, 260):
            tint = _jitter(rng, rng.choice((colour, accent)), 14)
            if shape in ("strands", "sticks", "sprouts"):
                turn = angle + rng.uniform(-0.6, 0.6)
                length = rng.uniform(18, 40)
                end = (x + length * math.cos(turn), y + length * math.sin(turn))
                width = {"strands": 6, "sticks": 5, "sprouts": 4}[shape]
                draw.line((x, y, *end), fill=tint, width=width)
                if shape == "sprouts":
                    draw.ellipse((end[0] - 4, end[1] - 4, end[0] + 4, end[1] + 4), fill=accent)
            elif shape == "slices":
                draw.chord((x - 16, y - 10, x + 16, y + 10), 180, 360, fill=tint)
            elif shape == "moons":
                draw.pieslice((x - 14, y - 14, x + 14, y + 14), 0, 180, fill=tint)
                draw.arc((x - 14, y - 14, x + 14, y + 14), 0, 180, fill=(60, 110, 40), width=3)
            else:
                radius = rng.uniform(4, 9)
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tint)


def _egg(draw: ImageDraw.ImageDraw, rng: random.Random, centre: tuple[int, int]) -> None:
    """A fried egg with a glossy yolk, and a dollop of gochujang beside it."""
    cx, cy = centre
    white = [
        (
            cx + (115 + rng.uniform(-14, 14)) * math.cos(a / 20 * 2 * math.pi),
            cy + (105 + rng.uniform(-14, 14)) * math.sin(a / 20 * 2 * math.pi),
        )
        for a in range(20)
    ]
    draw.polygon(white, fill=(250, 248, 240))
    draw.ellipse((cx - 52, cy - 52, cx + 52, cy + 52), fill=(245, 160, 20))
    draw.ellipse((cx - 40, cy - 40, cx + 34, cy + 34), fill=(252, 185, 40))
    draw.ellipse((cx - 30, cy - 34, cx - 6, cy - 14), fill=(255, 235, 170))
    gx, gy = cx + 95, cy - 95
    draw.ellipse((gx - 38, gy - 30, gx + 38, gy + 30), fill=(185, 30, 25))
    draw.ellipse((gx - 22, gy - 20, gx + 8, gy - 4), fill=(225, 80, 60))
    for x, y, _ in _points(rng, centre, (0, 300), (0, 2 * math.pi), 160):
        draw.ellipse((x - 3, y - 2, x + 3, y + 2), fill=(245, 230, 200))


def draw_bibimbap(seed: int = 7) -> Image.Image:
    """The picture: a stone bowl of bibimbap on a wooden table, with utensils."""
    rng = random.Random(seed)
    image = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(image)
    _table(draw, rng)
    centre = (560, 480)
    cx, cy = centre
    draw.ellipse((cx - 400, cy - 385, cx + 420, cy + 415), fill=(45, 30, 20))  # shadow
    draw.ellipse((cx - 390, cy - 390, cx + 390, cy + 390), fill=(52, 50, 50))
    draw.ellipse((cx - 365, cy - 365, cx + 365, cy + 365), fill=(34, 33, 34))
    draw.ellipse((cx - 335, cy - 335, cx + 335, cy + 335), fill=(238, 232, 215))  # rice
    for x, y, angle in _points(rng, centre, (0, 335), (0, 2 * math.pi), 1400):
        dx, dy = 5 * math.cos(angle), 5 * math.sin(angle)
        draw.line((x - dx, y - dy, x + dx, y + dy), fill=_jitter(rng, (250, 246, 232), 8), width=4)
    _toppings(draw, rng, centre)
    _egg(draw, rng, centre)
    _utensils(draw)
    return image.filter(ImageFilter.GaussianBlur(0.8))


def ensure_sample_photo(folder: Path) -> Path:
    """The sample photo in `folder`, drawn there if it is not there yet."""
    path = folder / FILENAME
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        draw_bibimbap().save(path, format="JPEG", quality=90)
    return path
