"""Nothing is lost: crashes, restarts, expired tokens and deadlines, through the real process."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ENGINES, Stack, field_value
from tests.fakes.kvid import KvidScenario
from tests.fakes.media import make_mp4

# The real bot on each engine: a SQLite file and a PostgreSQL database.
pytestmark = ENGINES


def delivered_messages(stack: Stack) -> list:
    """Channel messages (not interaction replies) that carry a job outcome for alice."""
    return [
        m
        for m in stack.discord.channel_messages(stack.ids.channel_id)
        if m.interaction_id is None and f"<@{stack.ids.user_id}>" in (m.content or "")
    ]


async def test_bot_killed_mid_job_delivers_once_and_charges_once(stack: Stack) -> None:
    video = make_mp4(320, 240, seconds=1.0)
    stack.kvid.script(KvidScenario(processing_polls=12, result_bytes=video))
    interaction = await stack.invoke("video text", {"prompt": "a lighthouse in a storm"})
    [fake_job] = await stack.kvid.wait_for_submissions(1, timeout=15)
    await stack.discord.wait_for(
        lambda: fake_job.status_calls >= 2, 15, description="the bot to be polling"
    )

    await stack.bot.kill()  # returns once the process is gone: nothing of it polls any more
    polls_before_restart = fake_job.status_calls
    await stack.start_bot()

    job = await stack.settled_job(timeout=30)
    assert job["state"] == "succeeded"
    assert job["delivery"] == "attached"
    [message] = delivered_messages(stack)
    assert message.attachments[0].data == video
    assert message.message_reference["message_id"] == str(interaction.original.id)
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (85, 0)
    captures = stack.db.rows("SELECT * FROM ledger WHERE kind = 'capture'")
    assert len(captures) == 1
    assert len(stack.kvid.submissions) == 1
    # The restarted bot picked the job up where it was and kept polling it.
    assert fake_job.status_calls > polls_before_restart

    # A second restart changes nothing for it: no new message, no new ledger row. A later job
    # going all the way to delivery proves the restarted runner and presenter made their
    # passes over everything that was due.
    first_rows = "SELECT id FROM ledger WHERE job_id = ?"
    rows_before = stack.db.rows(first_rows, (job["id"],))
    await stack.bot.stop()
    await stack.start_bot()
    stack.kvid.script(KvidScenario(processing_polls=1, result_bytes=video))
    await stack.invoke("video text", {"prompt": "a calm sea"})
    await stack.discord.wait_for(
        lambda: [r["delivered_at"] is not None for r in stack.job_rows()] == [True, True],
        30,
        description="a later job to be delivered",
    )
    replies_to_first = [
        m
        for m in delivered_messages(stack)
        if (m.message_reference or {}).get("message_id") == str(interaction.original.id)
    ]
    assert replies_to_first == [message]
    assert stack.db.rows(first_rows, (job["id"],)) == rows_before


async def test_killed_after_the_video_reached_the_card_posts_it_no_second_time(
    stack: Stack,
) -> None:
    video = make_mp4(320, 240, seconds=1.0)
    stack.kvid.script(KvidScenario(processing_polls=2, result_bytes=video))
    interaction = await stack.invoke("video text", {"prompt": "a lighthouse at dawn"})
    await stack.card(interaction, lambda m: field_value(m, "State") is not None)
    [row] = stack.job_rows()
    # Discord puts the video on the card, but the bot dies before it hears so (and records it).
    stack.discord.delay_responses("PATCH", r"/messages/@original$", 30, uploads_only=True)
    await stack.card(interaction, lambda m: m.attachment(f"{row['id']}.mp4"), timeout=30)
    await stack.bot.kill()
    await stack.start_bot()

    job = await stack.settled_job(timeout=30)
    assert (job["state"], job["delivery_state"], job["delivery"]) == (
        "succeeded",
        "delivered",
        "attached",
    )
    assert job["result_message_id"] == interaction.original.id
    videos = [a for a in stack.discord.attachments_created if a.filename.endswith(".mp4")]
    assert [a.data for a in videos] == [video]
    assert delivered_messages(stack) == []
    assert len(stack.db.rows("SELECT 1 FROM ledger WHERE kind = 'capture'")) == 1
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (85, 0)


async def test_crash_between_submit_and_save_leaves_the_member_uncharged(stack: Stack) -> None:
    # kvidAI accepts the job but its answer is held back; the bot dies before recording it.
    stack.kvid.delay_next("submit", 30)
    await stack.invoke("video text", {"prompt": "a paper boat"})
    await stack.kvid.wait_for_submissions(1, timeout=15)
    # The bot records `submitting` before it sends, so the submission proves it is saved.
    [row] = stack.job_rows()
    assert row["state"] == "submitting"

    await stack.bot.kill()
    await stack.start_bot()

    job = await stack.settled_job(timeout=30)
    assert job["state"] == "failed"
    assert job["failure_code"] == "interrupted"
    [notice] = delivered_messages(stack)
    assert "did not finish" in notice.content
    assert "credits were returned" in notice.content
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 0)


async def test_result_after_the_interaction_expired_is_posted_in_the_channel(stack: Stack) -> None:
    stack.kvid.script(KvidScenario(processing_polls=8))
    interaction = await stack.invoke("video text", {"prompt": "a slow sunrise"})
    await stack.card(interaction, lambda m: field_value(m, "State") is not None)
    stack.discord.expire_interaction(interaction.id)

    job = await stack.settled_job(timeout=30)
    assert job["delivery"] == "attached"
    [message] = delivered_messages(stack)
    assert message.attachments
    assert field_value(message, "State") == "✅ Done"


@pytest.mark.bot_env(JOB_DEADLINE_SECONDS="2")
async def test_job_past_the_deadline_fails_and_is_refunded(stack: Stack) -> None:
    stack.kvid.script(KvidScenario(processing_polls=10_000))
    interaction = await stack.invoke("video text", {"prompt": "a never-ending render"})

    job = await stack.settled_job(timeout=30)
    assert job["state"] == "failed"
    assert job["failure_code"] == "timeout"
    card = interaction.original
    assert card is not None
    assert "took too long" in (field_value(card, "What happened") or "")
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 0)
