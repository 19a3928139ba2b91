"""What members see while a job runs and after: the live card, cancel, buttons, fitting delivery."""

from __future__ import annotations

import io
import itertools
import time
from pathlib import Path

import av
from PIL import Image

from tests.e2e.conftest import Stack, field_value
from tests.fakes.kvid import KvidScenario
from tests.fakes.media import make_mp4, write_clip

MIB = 1024 * 1024


def buttons(message) -> dict[str, dict]:
    """The message's buttons by label."""
    return {c["label"]: c for row in message.components for c in row["components"]}


async def test_card_walks_through_every_state(stack: Stack) -> None:
    # Each state lasts over a second: a card shows changes at most once a second (coalesced).
    stack.kvid.script(
        KvidScenario(
            queued_polls=1,
            processing_polls=2,
            delay_seconds=1.1,
            result_padding=3_000_000,
            chunk_delay=0.05,
        )
    )
    interaction = await stack.invoke("video text", {"prompt": "a windmill at dusk"})
    seen: list[str] = []

    def record() -> bool:
        card = interaction.original
        state = field_value(card, "State") if card is not None and card.embeds else None
        if state and (not seen or seen[-1] != state):
            seen.append(state)
        return state == "✅ Done"

    await stack.discord.wait_for(record, 30, description="the card to reach Done")
    assert seen[0] == "⏳ Queued"
    assert "🎞️ Generating (queued)" in seen
    assert "🎞️ Generating (processing)" in seen
    assert "⬇️ Downloading the video" in seen
    assert seen[-1] == "✅ Done"
    assert seen.index("🎞️ Generating (processing)") < seen.index("⬇️ Downloading the video")
    queued_card = interaction.original
    assert queued_card is not None


async def test_quiet_card_is_refreshed_at_most_once_per_ten_seconds(stack: Stack) -> None:
    stack.kvid.script(KvidScenario(processing_polls=100_000))
    interaction = await stack.invoke("video text", {"prompt": "a very long render"})
    await stack.card(interaction, lambda m: field_value(m, "State") == "🎞️ Generating (processing)")
    first = await stack.card(interaction, lambda m: field_value(m, "Place in queue") == "#1")
    assert field_value(first, "Estimate") is not None
    assert buttons(first)["Cancel"]["custom_id"].startswith("video:cancel:")

    start = time.monotonic()

    def refreshes() -> list[float]:
        return [
            r.time
            for r in stack.discord.requests
            if r.method == "PATCH" and interaction.token in r.path and r.time >= start
        ]

    # Elapsed time is refreshed, but never faster than every 10 s: wait for two refreshes.
    edits = await stack.discord.wait_for(
        lambda: refreshes() if len(refreshes()) >= 2 else None,
        30,
        description="two refreshes of a quiet card",
    )
    assert all(b - a >= 10 for a, b in itertools.pairwise(edits))


async def test_cancel_before_submission_returns_everything(stack: Stack) -> None:
    stack.kvid.delay_next("submit", 6)  # kvidAI is slow to answer: the job is still being sent
    interaction = await stack.invoke("video text", {"prompt": "a slow start"})
    await stack.kvid.wait_for_submissions(1)
    [row] = stack.job_rows()

    cancel = await stack.invoke("video cancel", {"job": row["id"]})

    reply = await stack.private_reply(cancel)
    assert "15 credits returned" in reply
    card = await stack.card(interaction, lambda m: "cancelled" in (m.content or ""))
    assert field_value(card, "State") == "🚫 Cancelled"
    # kvidAI's late answer arrives, and changes nothing.
    await stack.discord.wait_for(
        lambda: "was cancelled while being submitted" in stack.bot.log(),
        15,
        description="the bot to get kvidAI's late answer",
    )
    [row] = stack.job_rows()
    assert row["state"] == "cancelled"
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 0)
    assert stack.db.rows("SELECT kind FROM ledger WHERE kind = 'capture'") == []


async def test_cancel_button_after_submission_returns_the_hold(stack: Stack) -> None:
    stack.kvid.script(KvidScenario(processing_polls=100_000))
    interaction = await stack.invoke("video text", {"prompt": "cancel me later"})
    card = await stack.card(
        interaction, lambda m: "Cancel" in buttons(m) and stack.kvid.submissions
    )
    await stack.discord.wait_for(lambda: stack.job_rows()[0]["state"] == "running", 10)

    stranger = await stack.discord.click(
        card.id, buttons(card)["Cancel"]["custom_id"], user_id=stack.ids.other_user_id
    )
    assert "someone else's" in await stack.private_reply(stranger)
    press = await stack.discord.click(card.id, buttons(card)["Cancel"]["custom_id"])

    reply = await stack.private_reply(press)
    assert "Cancelled job" in reply
    assert "may still finish it; you will not be charged" in reply
    job = await stack.settled_job()
    assert job["state"] == "cancelled"
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 0)


async def test_result_buttons_work_and_survive_a_restart(stack: Stack) -> None:
    stack.kvid.set_default(KvidScenario(processing_polls=1))
    first = await stack.invoke("video text", {"prompt": "a red fox", "seed": 7})
    done = await stack.card(first, lambda m: m.attachments)
    assert set(buttons(done)) == {"Retry", "Remix", "Delete"}  # kvidAI cannot extend

    stranger = await stack.discord.click(
        done.id, buttons(done)["Retry"]["custom_id"], user_id=stack.ids.other_user_id
    )
    assert "someone else's" in await stack.private_reply(stranger)

    await stack.bot.kill()
    await stack.start_bot()

    retry = await stack.discord.click(done.id, buttons(done)["Retry"]["custom_id"])
    await stack.card(retry, lambda m: m.attachments)
    retried = stack.kvid.submissions[1].body
    assert retried["prompt"] == "a red fox"
    assert retried.get("seed") != 7

    remix = await stack.discord.click(done.id, buttons(done)["Remix"]["custom_id"])
    await remix.wait_until(lambda i: i.modal is not None)
    # Each input sits in a Label (Discord's modal layout), the form names the job it remixes.
    form = {c["component"]["custom_id"]: c for c in remix.modal["components"]}
    assert form["prompt"]["component"]["value"] == "a red fox"
    assert form["prompt"]["label"] == "Prompt"
    assert (
        remix.modal["custom_id"]
        == "video:remix-form:" + buttons(done)["Remix"]["custom_id"].split(":")[-1]
    )
    submitted = await stack.discord.submit_modal(
        remix.modal["custom_id"],
        {"prompt": "a blue fox", "resolution": "480p", "duration": "", "camera": "zoom_in"},
    )
    await stack.card(submitted, lambda m: m.attachments)
    remixed = stack.kvid.submissions[2].body
    assert (remixed["prompt"], remixed["resolution"]) == ("[Zoom in] a blue fox", "480p")

    delete = await stack.discord.click(done.id, buttons(done)["Delete"]["custom_id"])
    assert "Deleted" in await stack.private_reply(delete)
    assert stack.discord.message(done.id).deleted


async def test_a_30_mib_result_is_reencoded_under_10_mib_and_attached(
    stack: Stack, tmp_path: Path
) -> None:
    big = write_clip(tmp_path / "big.mp4", 1280, 720, 10.0, target_bytes=30 * MIB)
    stack.kvid.script(KvidScenario(processing_polls=1, result_bytes=big.read_bytes()))

    interaction = await stack.invoke("video text", {"prompt": "a stormy sea"})

    done = await stack.card(interaction, lambda m: m.attachments, timeout=90)
    [video] = done.attachments
    assert video.size <= 10 * MIB
    with av.open(io.BytesIO(video.data)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)
        assert abs(float(container.duration / av.time_base) - 10.0) < 0.2
    note = field_value(done, "Delivery") or ""
    assert note.startswith("Re-encoded from 3")
    assert "to fit the 10.0 MiB upload limit" in note
    job = await stack.settled_job()
    assert job["delivery"] == "attached"


async def test_a_result_that_cannot_fit_is_linked_with_a_poster(stack: Stack) -> None:
    # 28 KB of video over 10 s cannot fit 20 KB at any watchable bitrate; its poster (4 KB) can.
    clip = make_mp4(640, 360, seconds=10)
    stack.kvid.script(KvidScenario(processing_polls=1, result_bytes=clip))

    interaction = await stack.invoke(
        "video text", {"prompt": "a tiny upload limit"}, attachment_size_limit=20_000
    )

    job = await stack.settled_job(timeout=60)
    done = interaction.original
    assert done is not None
    assert job["delivery"] == "link"
    [poster] = done.attachments
    assert poster.filename.endswith("-poster.jpg")
    assert Image.open(io.BytesIO(poster.data)).format == "JPEG"
    assert done.embed["image"]["url"].split("?")[0].endswith(f"/{job['id']}-poster.jpg")
    assert "could not be made to fit" in (field_value(done, "Delivery") or "")
    assert buttons(done)["Open video"]["url"] == job["result_url"]
