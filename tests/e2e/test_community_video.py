"""Server rules on /video itself: blocked terms, bans, approval, share and report buttons."""

from __future__ import annotations

import pytest

from tests.e2e.community_helpers import (
    MODS_CHANNEL,
    add_community_channels,
    approval_setup,
    as_owner,
    posted_request,
)
from tests.e2e.conftest import Stack, field_value
from tests.fakes.kvid import KvidScenario


def buttons(message) -> dict[str, dict]:
    """The message's buttons by label."""
    return {c["label"]: c for row in message.components for c in row["components"]}


async def test_blocked_prompt_is_refused_naming_the_rule_with_nothing_held(stack: Stack) -> None:
    await as_owner(stack, "server block", {"term": "gore", "name": "Graphic violence"})

    interaction = await stack.invoke("video text", {"prompt": "lots of GORE everywhere"})

    reply = await stack.private_reply(interaction)
    assert "Graphic violence" in reply
    assert "gore" not in reply.lower().replace("graphic violence", "")
    assert stack.job_rows() == []
    assert stack.db.rows("SELECT * FROM holds") == []
    assert stack.kvid.submissions == []


async def test_banned_member_cannot_generate(stack: Stack) -> None:
    await as_owner(stack, "server ban", {"user": stack.ids.user_id, "reason": "spam"})

    interaction = await stack.invoke("video text", {"prompt": "a calm lake"})

    reply = await stack.private_reply(interaction)
    assert "stopped you from making videos" in reply
    assert stack.job_rows() == []


async def test_approval_holds_the_credits_until_a_moderator_approves(stack: Stack) -> None:
    await approval_setup(stack)
    stack.kvid.script(KvidScenario(processing_polls=1))

    interaction = await stack.invoke("video text", {"prompt": "a parade of lanterns"})

    card = await stack.card(interaction, lambda m: field_value(m, "State") is not None)
    assert field_value(card, "State") == "⏳ Waiting for approval"
    [row] = stack.job_rows()
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 15)
    assert stack.kvid.submissions == []
    request = await posted_request(stack, row["id"])

    await stack.bot.kill()  # the moderator's buttons must survive a restart
    await stack.start_bot()
    await stack.discord.click(
        request.id, f"approval:approve:{row['id']}", user_id=stack.ids.moderator_id
    )

    job = await stack.settled_job(timeout=30)
    assert job["state"] == "succeeded"
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (85, 0)


async def test_denial_releases_the_hold_and_tells_the_member_why(stack: Stack) -> None:
    await approval_setup(stack)
    interaction = await stack.invoke("video text", {"prompt": "something borderline"})
    await stack.card(interaction, lambda m: field_value(m, "State") == "⏳ Waiting for approval")
    [row] = stack.job_rows()
    request = await posted_request(stack, row["id"])

    deny = await stack.discord.click(
        request.id, f"approval:deny:{row['id']}", user_id=stack.ids.moderator_id
    )
    await deny.wait_until(lambda i: i.modal is not None)
    await stack.discord.submit_modal(
        f"approval:reason:{row['id']}",
        {"reason": "not for this server"},
        user_id=stack.ids.moderator_id,
    )

    job = await stack.settled_job(timeout=30)
    assert job["state"] == "cancelled"
    assert job["failure_code"] == "approval_denied"
    told = interaction.original
    assert told is not None
    assert "not for this server" in (told.content or "") + str(told.embeds)
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 0)
    assert stack.kvid.submissions == []


async def test_share_and_report_buttons_appear_once_the_channels_exist(stack: Stack) -> None:
    add_community_channels(stack)
    await as_owner(stack, "server moderators", {"channel": MODS_CHANNEL})
    await as_owner(stack, "server showcase", {"channel": stack.ids.forum_channel_id})
    stack.kvid.set_default(KvidScenario(processing_polls=1))

    interaction = await stack.invoke("video text", {"prompt": "a lighthouse beam"})
    done = await stack.card(interaction, lambda m: m.attachments)
    assert {"Share", "Report"} <= set(buttons(done))

    report = await stack.discord.click(
        done.id, buttons(done)["Report"]["custom_id"], user_id=stack.ids.other_user_id
    )
    assert await stack.private_reply(report)
    await stack.discord.wait_for_message(
        lambda m: "report:" in " ".join(m.custom_ids), channel_id=MODS_CHANNEL, timeout=15
    )
    share = await stack.discord.click(done.id, buttons(done)["Share"]["custom_id"])
    assert await stack.private_reply(share)
    await stack.discord.wait_for(
        lambda: stack.discord.threads(stack.ids.forum_channel_id), 15, description="a forum post"
    )


@pytest.mark.bot_env(LOG_LEVEL="INFO")
async def test_a_content_policy_refusal_is_refunded_and_logged(stack: Stack) -> None:
    stack.kvid.script(
        KvidScenario(processing_polls=1, outcome="failed", error_message="content_policy_violation")
    )
    await stack.invoke("video text", {"prompt": "something the provider refuses"})

    job = await stack.settled_job()
    assert job["failure_code"] == "content_policy_violation"
    logged = stack.db.rows(
        "SELECT action, job_id FROM moderation_log WHERE action = 'content refused'"
    )
    assert logged == [{"action": "content refused", "job_id": job["id"]}]
