"""Bad input gets a private message that says what to change, and nothing is held or sent."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from simulator.fake_discord import FakeInteraction
from tests.e2e.conftest import Stack
from tests.fakes.media import make_image
from tests.unit.test_media import png_header_only


def assert_nothing_happened(stack: Stack) -> None:
    assert stack.job_rows() == []
    assert stack.db.rows("SELECT * FROM holds") == []
    assert stack.kvid.submissions == []


async def refused_image(
    stack: Stack, filename: str, data: bytes, content_type: str
) -> tuple[FakeInteraction, str]:
    """/video image with this attachment; the interaction and its private refusal.

    Checks that the refusal held nothing and sent nothing to the provider.
    """
    interaction = await stack.invoke(
        "video image",
        {"image": filename, "prompt": "animate this"},
        attachments={"image": (filename, data, content_type)},
    )
    reply = await stack.private_reply(interaction)
    assert_nothing_happened(stack)
    return interaction, reply


def truncated_jpeg(width: int, height: int) -> bytes:
    """A JPEG whose header is fine (Discord reports its size) but whose pixels are cut off."""
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 60).convert("RGB").save(buffer, format="JPEG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


@pytest.mark.bot_env(STARTING_CREDITS="10")
async def test_insufficient_credits_are_refused_with_price_and_balance(stack: Stack) -> None:
    interaction = await stack.invoke("video text", {"prompt": "an expensive dream"})

    reply = await stack.private_reply(interaction)
    assert "costs 15 credits" in reply
    assert "you have 10 available" in reply
    assert_nothing_happened(stack)
    # The refusal came from inside the transaction that would have held: it wrote nothing.
    assert stack.db.rows("SELECT kind FROM ledger WHERE kind != 'grant'") == []


async def test_unsupported_resolution_is_refused_naming_what_is_supported(stack: Stack) -> None:
    interaction = await stack.invoke(
        "video text", {"prompt": "a fox", "model": "v1", "resolution": "1080p"}
    )

    reply = await stack.private_reply(interaction)
    assert "v1 does not make 1080p" in reply
    assert "480p, 720p" in reply
    assert_nothing_happened(stack)


async def test_aspect_ratio_on_text_to_video_is_refused(stack: Stack) -> None:
    interaction = await stack.invoke("video text", {"prompt": "a fox", "aspect_ratio": "9:16"})

    reply = await stack.private_reply(interaction)
    assert "aspect_ratio" in reply
    assert_nothing_happened(stack)


async def test_non_image_attachment_is_refused(stack: Stack) -> None:
    _, reply = await refused_image(
        stack, "notes.txt", b"just some text, not a picture", "text/plain"
    )

    assert "`notes.txt` is not an image" in reply
    assert "PNG, JPEG or WebP" in reply


async def test_too_small_image_is_refused_with_the_allowed_range(stack: Stack) -> None:
    small = make_image("png", 200, 150)
    _, reply = await refused_image(stack, "tiny.png", small, "image/png")

    assert "`tiny.png` is 200x150 pixels, smaller than the 300x300 minimum" in reply
    assert "Attach a larger image." in reply


async def test_a_huge_image_is_called_too_large_not_not_an_image(stack: Stack) -> None:
    """Discord cannot measure a 20000x20000 PNG; the bot reads its header and says so."""
    huge = png_header_only(20000, 20000)
    _, reply = await refused_image(stack, "huge.png", huge, "image/png")

    assert "not an image" not in reply
    assert "20000x20000 pixels, larger than the 6000x6000 maximum" in reply
    assert "Attach a smaller image" in reply


async def test_image_whose_content_is_damaged_is_refused_after_download(stack: Stack) -> None:
    broken = truncated_jpeg(640, 480)
    interaction, reply = await refused_image(stack, "photo.jpg", broken, "image/jpeg")

    assert "damaged" in reply
    # The public "thinking" reply was removed, so the refusal stays private.
    assert interaction.original is None or interaction.original.deleted


async def test_non_admin_cannot_grant_credits(stack: Stack) -> None:
    interaction = await stack.invoke(
        "credits grant", {"user": stack.ids.user_id, "amount": 500}, user_id=stack.ids.user_id
    )

    reply = await stack.private_reply(interaction)
    assert "Manage Server" in reply
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (0, 0)
