"""Image checks sniff real content and refuse bombs; downloads stop at their cap."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bot.media import DownloadTooLarge, check_image, download, sniff_image_format
from bot.providers.base import InvalidRequest


def image_bytes(fmt: str, width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions: the shape of a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_real_images_pass_and_report_their_size(fmt: str) -> None:
    info = check_image(image_bytes(fmt, 640, 480))
    assert (info.format, info.width, info.height) == (fmt, 640, 480)


def test_sniffing_ignores_names_and_reads_content() -> None:
    assert sniff_image_format(b"%PDF-1.7 not an image") is None
    assert sniff_image_format(image_bytes("PNG", 10, 10)) == "PNG"


def test_non_image_is_refused_with_what_to_attach() -> None:
    with pytest.raises(InvalidRequest, match="not a PNG, JPEG or WebP"):
        check_image(b"hello, I am a text file")


def test_too_small_image_is_refused_with_the_allowed_range() -> None:
    with pytest.raises(InvalidRequest, match=r"200x150 pixels; it must be between 300x300"):
        check_image(image_bytes("PNG", 200, 150))


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(InvalidRequest, match=r"too large to process.*6000x6000"):
        check_image(png_header_only(20000, 20000))


def test_truncated_image_is_refused_as_damaged() -> None:
    data = image_bytes("JPEG", 640, 480)
    with pytest.raises(InvalidRequest, match="damaged"):
        check_image(data[: len(data) // 3])


async def test_download_streams_to_disk_and_stops_past_the_cap(tmp_path: Path) -> None:
    body = b"x" * 5000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        size = await download(client, "https://cdn.example/v.mp4", tmp_path / "a", max_bytes=5000)
        assert size == 5000
        assert (tmp_path / "a").read_bytes() == body
        with pytest.raises(DownloadTooLarge):
            await download(client, "https://cdn.example/v.mp4", tmp_path / "b", max_bytes=4999)
