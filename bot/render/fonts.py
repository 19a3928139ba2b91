"""The title font: Noto Sans CJK KR from the noto-cjk-sans-otc package, with fallbacks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from PIL import ImageFont

log = logging.getLogger(__name__)

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont
# Face 1 of the Noto Sans CJK collection is the Korean one: Hangul, Latin, kana and hanja,
# with Korean glyph shapes for the characters the CJK languages share.
_NOTO_KR_FACE: Final = 1
# Debian's packages, for a machine where the pip package is missing.
_SYSTEM_FONTS: Final = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", _NOTO_KR_FACE),
    ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf", 0),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0),
)


@dataclass(frozen=True)
class FontSource:
    """A font file and the face to use in it; an empty path means Pillow's built-in font."""

    path: str
    index: int = 0

    @property
    def covers_hangul(self) -> bool:
        """Whether Korean text can be set in this font."""
        return "CJK" in self.path or "Nanum" in self.path


def _bundled() -> FontSource | None:
    try:
        # Imported here so a machine without the package falls back instead of failing.
        import noto_cjk_sans_otc
    except ImportError:
        return None
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    return FontSource(str(path), _NOTO_KR_FACE) if path.is_file() else None


@lru_cache(maxsize=1)
def font_source() -> FontSource:
    """The best font available on this machine."""
    bundled = _bundled()
    if bundled is not None:
        return bundled
    for path, index in _SYSTEM_FONTS:
        if Path(path).is_file():
            log.warning("noto-cjk-sans-otc is missing; titles use %s", path)
            return FontSource(path, index)
    log.warning("no TrueType font found; titles use Pillow's built-in font (no Korean)")
    return FontSource("")


@lru_cache(maxsize=64)
def load_font(size: int) -> FontType:
    """The title font at `size` pixels."""
    source = font_source()
    if not source.path:
        return ImageFont.load_default(size)
    return ImageFont.truetype(source.path, size, index=source.index)


@lru_cache(maxsize=4096)
def _missing_mask(size: int) -> bytes:
    return bytes(load_font(size).getmask("\uffff"))


def has_glyph(char: str, size: int = 32) -> bool:
    """Whether the font draws `char` as itself rather than as the empty-box glyph."""
    if char.isspace():
        return True
    return _has_glyph(char, size)


@lru_cache(maxsize=4096)
def _has_glyph(char: str, size: int) -> bool:
    font = load_font(size)
    mask = font.getmask(char)
    return mask.size == (0, 0) or bytes(mask) != _missing_mask(size)
