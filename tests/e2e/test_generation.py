"""A member asks for a video and gets it: through the real bot, fake Discord and fake kvidAI."""

from __future__ import annotations

from tests.e2e.conftest import ENGINES, Stack, field_value
from tests.fakes.kvid import KvidScenario
from tests.fakes.media import make_image, make_mp4

# The real bot on each engine: a SQLite file and a PostgreSQL database.
pytestmark = ENGINES


async def test_text_to_video_is_delivered_as_an_attached_mp4(stack: Stack) -> None:
    video = make_mp4(320, 240, seconds=1.0)
    stack.kvid.script(KvidScenario(processing_polls=2, result_bytes=video, width=1280, height=720))

    interaction = await stack.invoke("video text", {"prompt": "[Pan right] a cat surfing a wave"})

    done = await stack.card(interaction, lambda m: m.attachments, timeout=30)
    assert done.attachments[0].data == video
    assert done.attachments[0].filename.endswith(".mp4")
    assert not done.ephemeral
    assert field_value(done, "State") == "✅ Done"
    assert field_value(done, "Model") == "kvidAI v2"
    assert field_value(done, "Credits") == "15 spent"
    assert "a cat surfing a wave" in done.embed["description"]

    job = await stack.settled_job()
    assert (job["state"], job["delivery"], job["provider_cost"]) == ("succeeded", "attached", 54)
    submitted = stack.kvid.submissions[0]
    assert submitted.body == {
        "prompt": "[Pan right] a cat surfing a wave",
        "model": "v2",
        "resolution": "720p",
        "enable_safety_checker": True,
    }
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (85, 0)


async def test_image_to_video_sends_the_attached_image(stack: Stack) -> None:
    photo = make_image("jpeg", 800, 600)
    stack.kvid.script(KvidScenario(processing_polls=1))

    interaction = await stack.invoke(
        "video image",
        {"image": "photo.jpg", "prompt": "[Zoom in] a bowl of bibimbap", "aspect_ratio": "16:9"},
        attachments={"image": ("photo.jpg", photo, "image/jpeg")},
    )

    done = await stack.card(interaction, lambda m: m.attachments, timeout=30)
    assert field_value(done, "State") == "✅ Done"
    submitted = stack.kvid.submissions[0]
    assert submitted.kind == "image"
    assert submitted.body["aspect_ratio"] == "16:9"
    image_url = submitted.body["image_url"]
    attachment = interaction.payload["data"]["resolved"]["attachments"]
    assert image_url == next(iter(attachment.values()))["url"]
    job = await stack.settled_job()
    assert job["state"] == "succeeded"


async def test_result_over_the_upload_limit_is_made_to_fit_and_attached(stack: Stack) -> None:
    # An 11 MiB file whose video is tiny: re-encoding brings it under the 10 MiB limit.
    eleven_mib = 11 * 1024 * 1024
    stack.kvid.script(KvidScenario(processing_polls=1, result_padding=eleven_mib))

    interaction = await stack.invoke("video text", {"prompt": "a long sunset timelapse"})

    job = await stack.settled_job()
    done = interaction.original
    assert done is not None
    assert job["delivery"] == "attached"
    [video] = done.attachments
    assert video.size < 10 * 1024 * 1024
    assert "Re-encoded from 11.0 MiB" in (field_value(done, "Delivery") or "")
    assert field_value(done, "Credits") == "15 spent"


async def test_provider_failure_is_refunded_and_the_reason_shown(stack: Stack) -> None:
    stack.kvid.script(
        KvidScenario(processing_polls=1, outcome="failed", error_message="content_policy_violation")
    )

    interaction = await stack.invoke("video text", {"prompt": "something the provider refuses"})

    job = await stack.settled_job()
    card = interaction.original
    assert card is not None
    assert job["state"] == "failed"
    assert job["failure_code"] == "content_policy_violation"
    assert field_value(card, "State") == "❌ Failed"
    reason = field_value(card, "What happened") or ""
    assert "content policy" in reason.lower()
    assert "credits were returned" in reason
    assert field_value(card, "Credits") == "15 returned to you"
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 0)
    kinds = [r["kind"] for r in stack.db.rows("SELECT kind FROM ledger ORDER BY id")]
    assert kinds == ["grant", "hold", "release"]


async def test_rate_limited_submit_is_retried_after_retry_after(stack: Stack) -> None:
    stack.kvid.fail_next("submit", status=429, code="RATE_LIMITED", retry_after="1")
    stack.kvid.script(KvidScenario(processing_polls=1))

    interaction = await stack.invoke("video text", {"prompt": "a busy street"})

    done = await stack.card(interaction, lambda m: m.attachments, timeout=30)
    assert field_value(done, "State") == "✅ Done"
    submits = stack.kvid.requests_to("/ai/generation/text-to-video")
    assert len(submits) == 2
    assert submits[1].at - submits[0].at >= 1.0
