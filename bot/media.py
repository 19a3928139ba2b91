"""Checking member images and fetching result videos, without trusting names or sizes."""

from __future__ import annotations

import asyncio
import io
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
from PIL import Image

from bot.i18n import Text
from bot.providers.base import InvalidRequest

MIN_SIDE = 300
MAX_SIDE = 6000
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# Refuse before decoding anything bigger than the largest image kvidAI accepts.
MAX_PIXELS = MAX_SIDE * MAX_SIDE

_SIGNATURES = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
}


@dataclass(frozen=True)
class ImageInfo:
    """A checked image."""

    format: str
    width: int
    height: int


def sniff_image_format(data: bytes) -> str | None:
    """PNG, JPEG or WEBP from the file's first bytes, or None."""
    for fmt, magics in _SIGNATURES.items():
        if any(data.startswith(m) for m in magics):
            return fmt
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def check_image(data: bytes, *, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> ImageInfo:
    """Validate an uploaded image's real content; raise InvalidRequest saying what to change."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidRequest(
            Text(
                "media.too_many_bytes",
                size=len(data) / 1024 / 1024,
                max=MAX_IMAGE_BYTES // 1024 // 1024,
            )
        )
    fmt = sniff_image_format(data)
    if fmt is None:
        raise InvalidRequest(Text("media.not_an_image"))
    with warnings.catch_warnings():
        # Pillow only warns between its two bomb limits; treat that as a refusal too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise InvalidRequest(_size_message(width, height, min_side, max_side))
                if not (min_side <= width <= max_side and min_side <= height <= max_side):
                    raise InvalidRequest(_size_message(width, height, min_side, max_side))
                image.load()
        except InvalidRequest:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            size = png_size(data) if fmt == "PNG" else None
            if size is not None:
                raise InvalidRequest(_size_message(*size, min_side, max_side)) from None
            raise InvalidRequest(Text("media.too_large_to_process", max=max_side)) from None
        except (OSError, SyntaxError, ValueError):
            raise InvalidRequest(Text("media.damaged", format=fmt)) from None
    return ImageInfo(format=fmt, width=width, height=height)


async def check_image_async(data: bytes) -> ImageInfo:
    """check_image off the event loop (decoding a large image takes a while)."""
    return await asyncio.to_thread(check_image, data)


def png_size(data: bytes) -> tuple[int, int] | None:
    """A PNG's width and height from its header, without decoding (for images too big to open)."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def size_problem(width: int, height: int, min_side: int, max_side: int) -> str | None:
    """`too_small`, `too_large` or `bad_size` (one side of each), or None when it fits."""
    small = min(width, height) < min_side
    large = max(width, height) > max_side
    if small and large:
        return "bad_size"
    if small:
        return "too_small"
    return "too_large" if large else None


def _size_message(width: int, height: int, min_side: int, max_side: int) -> Text:
    problem = size_problem(width, height, min_side, max_side) or "bad_size"
    return Text(f"media.{problem}", width=width, height=height, min=min_side, max=max_side)


class DownloadTooLarge(Exception):
    """The file is bigger than we are willing to fetch."""


async def download(client: httpx.AsyncClient, url: str, dest: Path, *, max_bytes: int) -> int:
    """Stream `url` into `dest`, stopping past `max_bytes`; return the size in bytes."""
    size = 0
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise DownloadTooLarge(f"{declared} bytes declared")
        with dest.open("wb") as out:
            async for chunk in response.aiter_bytes(256 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadTooLarge(f"more than {max_bytes} bytes")
                out.write(chunk)
    return size


def copy_local_result(url: str, dest: Path, max_bytes: int) -> int:
    """Copy a `file://` result (a provider on this machine) into `dest`, refusing oversize."""
    source = Path(urlparse(url).path)
    size = source.stat().st_size
    if size > max_bytes:
        raise DownloadTooLarge(f"{size} bytes")
    shutil.copyfile(source, dest)
    return size


async def fetch_image(client: httpx.AsyncClient, url: str) -> bytes:
    """Download a member's image (already checked at command time), size-capped."""
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        data = bytearray()
        async for chunk in response.aiter_bytes(256 * 1024):
            data += chunk
            if len(data) > MAX_IMAGE_BYTES:
                raise InvalidRequest(Text("media.download_too_large"))
    return bytes(data)
