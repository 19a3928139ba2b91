"""Title text: removing camera directives, wrapping in any script, and fitting a box."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageDraw, ImageFilter

from bot.camera import move_named
from bot.render.fonts import FontType, has_glyph, load_font

MAX_TITLE_CHARS: Final = 280
LINE_SPACING: Final = 1.3
_BRACKETS = re.compile(r"\[([^\[\]]{1,120})\]")
_ELLIPSIS = "…"


def strip_directives(prompt: str) -> str:
    """The prompt without bracketed camera directives such as `[Truck left, Pan right]`."""

    def drop(match: re.Match[str]) -> str:
        parts = match.group(1).split(",")
        return " " if any(move_named(part) for part in parts) else match.group(0)

    return _BRACKETS.sub(drop, prompt)


def _modifier(char: str) -> bool:
    """Format characters and emoji variation selectors: parts of another character."""
    return unicodedata.category(char) == "Cf" or "\ufe00" <= char <= "\ufe0f"


def _drawable(char: str) -> bool:
    return unicodedata.category(char) != "Cc" and not _modifier(char) and has_glyph(char)


def left_out(prompt: str) -> str:
    """The characters of `prompt` a title card leaves out (emoji and others the font lacks),
    each once, in order; joiners and variation selectors are not counted."""
    text = strip_directives(prompt)
    dropped = (c for c in text if not c.isspace() and not _modifier(c) and not _drawable(c))
    return "".join(dict.fromkeys(dropped))


def title_text(prompt: str) -> str:
    """What a title card shows: the prompt minus directives, on one line, within a length cap."""
    # Whitespace first, so a line break still separates the words it stood between.
    text = " ".join(strip_directives(prompt).split())
    text = "".join(c for c in text if _drawable(c))
    text = " ".join(text.split())
    if len(text) <= MAX_TITLE_CHARS:
        return text
    cut = text[:MAX_TITLE_CHARS]
    space = cut.rfind(" ")
    # Cut at a word when one ends near the limit; CJK runs without spaces are cut anywhere.
    if space > MAX_TITLE_CHARS * 0.8:
        cut = cut[:space]
    return cut.rstrip() + _ELLIPSIS


def _length(font: FontType, text: str) -> float:
    return font.getlength(text)


def _split_long(word: str, font: FontType, width: float) -> list[str]:
    """Break a word wider than `width` between characters (CJK runs, long URLs)."""
    pieces: list[str] = []
    current = ""
    for char in word:
        if current and _length(font, current + char) > width:
            pieces.append(current)
            current = char
        else:
            current += char
    if current:
        pieces.append(current)
    return pieces


def wrap(text: str, font: FontType, width: float) -> list[str]:
    """Greedy line breaking at spaces, and between characters inside words that cannot fit."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if not word:
            continue
        candidate = f"{line} {word}" if line else word
        if _length(font, candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        if _length(font, word) <= width:
            line = word
        else:
            *full, line = _split_long(word, font, width)
            lines.extend(full)
    if line:
        lines.append(line)
    return lines


@dataclass(frozen=True)
class Layout:
    """Wrapped lines and the font size that fits them in a box."""

    lines: tuple[str, ...]
    size: int

    @property
    def line_height(self) -> int:
        """Distance between baselines."""
        return round(self.size * LINE_SPACING)


def fit(text: str, width: int, height: int, max_size: int, min_size: int) -> Layout:
    """The largest font size from max_size down whose wrapped text fits width × height.

    At min_size the lines that fit are kept and the last one ends in an ellipsis.
    """
    size = max(max_size, min_size)
    while True:
        lines = wrap(text, load_font(size), width)
        layout = Layout(tuple(lines), size)
        if len(lines) * layout.line_height <= height or size <= min_size:
            break
        size = max(min_size, int(size * 0.92))
    keep = max(1, height // layout.line_height)
    if len(layout.lines) <= keep:
        return layout
    font = load_font(size)
    last = layout.lines[keep - 1]
    while last and _length(font, last + _ELLIPSIS) > width:
        last = last[:-1]
    return Layout((*layout.lines[: keep - 1], last.rstrip() + _ELLIPSIS), size)


def draw_masks(
    layout: Layout, size: tuple[int, int], margin: int
) -> tuple[Image.Image, Image.Image]:
    """(text, shadow) masks with the layout centred in `size`, plus `margin` all round.

    The margin leaves room for the shadow's soft edge, which a tight canvas would cut straight.
    """
    canvas = (size[0] + 2 * margin, size[1] + 2 * margin)
    text = Image.new("L", canvas, 0)
    shadow = Image.new("L", canvas, 0)
    if not layout.lines:
        return text, shadow
    font = load_font(layout.size)
    w, h = canvas
    step = layout.line_height
    top = (h - step * len(layout.lines)) / 2
    offset = max(1, round(layout.size * 0.05))
    stroke = max(1, round(layout.size * 0.08))
    ink, halo = ImageDraw.Draw(text), ImageDraw.Draw(shadow)
    for i, line in enumerate(layout.lines):
        centre = (w / 2, top + step * (i + 0.5))
        ink.text(centre, line, fill=255, font=font, anchor="mm")
        halo.text(
            (centre[0] + offset, centre[1] + offset),
            line,
            fill=255,
            font=font,
            anchor="mm",
            stroke_width=stroke,
            stroke_fill=255,
        )
    shadow = shadow.filter(ImageFilter.GaussianBlur(layout.size * 0.12))
    # A halo at 70% keeps white text readable on any background without a hard outline.
    shadow = shadow.point(lambda v: v * 7 // 10)
    return text, shadow
