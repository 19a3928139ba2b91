"""Image checks sniff real content and refuse bombs; downloads stop at their cap."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bot.i18n import Text, text_of
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


def test_too_small_image_is_refused_asking_for_a_larger_one() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_image(image_bytes("PNG", 200, 150))
    assert str(caught.value) == (
        "The image is 200x150 pixels, smaller than the 300x300 minimum. Attach a larger image."
    )
    refusal = text_of(caught.value)
    assert isinstance(refusal, Text)
    assert refusal.render("ko") == (
        "이미지가 200x150픽셀로, 최소 크기 300x300보다 작아요. 더 큰 이미지를 첨부해 주세요."
    )


def test_an_image_too_small_one_way_and_too_large_the_other_says_both_bounds() -> None:
    with pytest.raises(InvalidRequest, match=r"100x6500 pixels; each side must be 300 to 6000"):
        check_image(image_bytes("PNG", 100, 6500))


def test_decompression_bomb_is_refused_before_decoding_as_too_large() -> None:
    """A 20000x20000 PNG is an image, only too large: its header says how large."""
    with pytest.raises(InvalidRequest) as caught:
        check_image(png_header_only(20000, 20000))
    assert str(caught.value) == (
        "The image is 20000x20000 pixels, larger than the 6000x6000 maximum. Attach a smaller "
        "image, or scale this one down."
    )


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
