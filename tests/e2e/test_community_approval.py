"""Approval requests through the real bot: posted to moderators, decided by buttons that
survive a restart, with the right holds.

Until /video calls the community seam itself, the test plays the job service's part: it opens
the bot's own database and writes, in one transaction, what `JobService.start` will write for
a member who needs approval (admission, job row, hold, `Community.on_job_created`).
"""

from __future__ import annotations

import itertools
import time

from bot.community import AdmissionQuery, Community
from bot.db import open_database
from bot.jobs.models import new_job_id
from bot.jobs.store import insert_in
from bot.ledger import Ledger
from tests.e2e.community_helpers import (
    approval_setup,
    posted_request,
    reply,
    text_of,
)
from tests.e2e.conftest import Stack
from tests.fakes.kvid import KvidScenario
from tests.unit.job_support import text_order

PRICE = 15
_interactions = itertools.count(7_000_000_000)


async def job_waiting_for_approval(
    stack: Stack, prompt: str, *, timeout_seconds: float | None = None
) -> str:
    """What JobService.start writes for alice when the server approves every video."""
    ids = stack.ids
    # The job's card, as /video posts it (a message of the bot's in the channel).
    card = stack.discord.post_user_message(
        ids.channel_id, f"Video job card: {prompt}", user_id=stack.discord.bot_user_id
    )
    db = await open_database(stack.db.url or stack.db.path)
    try:
        ledger = Ledger(db, starting_credits=100, clock=time.time)
        community = Community(db, ledger, clock=time.time)
        order = text_order(next(_interactions), ids.guild_id, ids.channel_id, ids.user_id, prompt)
        job_id = new_job_id()
        async with db.transaction() as tx:
            query = AdmissionQuery(
                ids.guild_id, ids.channel_id, ids.user_id, [ids.member_role_id], None, prompt, False
            )
            admission = await community.admission_in(tx, query)
            assert admission.allowed
            assert admission.needs_approval
            await ledger.ensure_member_in(tx, ids.guild_id, ids.user_id)
            await insert_in(tx, job_id, order, PRICE, time.time())
            await ledger.hold_in(tx, ids.guild_id, ids.user_id, job_id, PRICE)
            await tx.execute("UPDATE jobs SET card_message_id = ? WHERE id = ?", (card.id, job_id))
            reason = admission.approval_reason or ""
            if timeout_seconds is None:
                await community.on_job_created_in(tx, job_id, query, reason)
            else:  # the same, with a timeout shorter than the settings allow
                request = {
                    "job_id": job_id,
                    "guild_id": ids.guild_id,
                    "user_id": ids.user_id,
                    "channel_id": ids.channel_id,
                    "reason": reason,
                }
                await community.approvals.on_job_created_in(
                    tx, **request, timeout_seconds=timeout_seconds
                )
    finally:
        await db.close()
    return job_id


async def test_approval_submits_the_held_job(stack: Stack) -> None:
    ids = stack.ids
    await approval_setup(stack)
    stack.kvid.script(KvidScenario(processing_polls=1))
    job_id = await job_waiting_for_approval(stack, "a fox in the snow")
    request = await posted_request(stack, job_id)
    assert request.custom_ids == (f"approval:approve:{job_id}", f"approval:deny:{job_id}")
    shown = text_of(request)
    assert "a fox in the snow" in shown
    assert f"<@{ids.user_id}>" in shown
    assert "Credits on hold: 15" in shown
    assert stack.db.balance(ids.guild_id, ids.user_id) == (100, PRICE)
    assert stack.kvid.submissions == []  # held, not submitted

    member = await stack.discord.click(request.id, f"approval:approve:{job_id}")
    assert "Only moderators" in text_of(await reply(stack, member))
    await stack.discord.click(request.id, f"approval:approve:{job_id}", user_id=ids.moderator_id)
    await stack.kvid.wait_for_submissions(1, timeout=15)
    job = await stack.settled_job(timeout=30)
    assert job["state"] == "succeeded"
    assert stack.db.balance(ids.guild_id, ids.user_id) == (100 - PRICE, 0)
    decided = stack.discord.message(request.id)
    assert decided.custom_ids == ()
    assert f"Approved by <@{ids.moderator_id}>" in text_of(decided)
    [row] = stack.db.rows("SELECT state, decided_by FROM approval_requests")
    assert row == {"state": "approved", "decided_by": ids.moderator_id}


async def test_denial_after_a_restart_releases_the_hold(stack: Stack) -> None:
    ids = stack.ids
    await approval_setup(stack)
    job_id = await job_waiting_for_approval(stack, "something off-topic")
    request = await posted_request(stack, job_id)

    await stack.bot.stop()
    await stack.start_bot()  # the buttons are persistent: they work on the old message

    deny = await stack.discord.click(
        request.id, f"approval:deny:{job_id}", user_id=ids.moderator_id
    )
    await deny.wait_for_response(10)
    assert deny.modal is not None
    assert deny.modal["custom_id"] == f"approval:reason:{job_id}"
    await stack.discord.submit_modal(
        f"approval:reason:{job_id}", {"reason": "not for this server"}, user_id=ids.moderator_id
    )
    await stack.discord.wait_for(
        lambda: stack.db.rows("SELECT 1 FROM approval_requests WHERE state = 'denied'"),
        10,
        description="the denial",
    )
    [job] = stack.job_rows()
    assert (job["state"], job["failure_code"]) == ("cancelled", "approval_denied")
    assert "not for this server" in job["failure_message"]
    assert stack.db.balance(ids.guild_id, ids.user_id) == (100, 0)
    assert stack.kvid.submissions == []
    decided = await stack.discord.wait_for(
        lambda: (m := stack.discord.message(request.id)) and not m.custom_ids and m,
        10,
        description="the request to show the decision",
    )
    assert f"Denied by <@{ids.moderator_id}>: not for this server" in text_of(decided)
    # A second decision changes nothing (the message no longer has buttons to press).
    log = stack.db.rows("SELECT action, actor_id FROM moderation_log WHERE action LIKE 'approval%'")
    assert log == [
        {"action": "approval requested", "actor_id": None},
        {"action": "approval denied", "actor_id": ids.moderator_id},
    ]


async def test_an_undecided_request_expires_and_releases_the_hold(stack: Stack) -> None:
    ids = stack.ids
    await approval_setup(stack)
    job_id = await job_waiting_for_approval(stack, "nobody looks at this", timeout_seconds=2)
    assert stack.db.balance(ids.guild_id, ids.user_id) == (100, PRICE)
    await stack.discord.wait_for(
        lambda: stack.db.rows("SELECT 1 FROM approval_requests WHERE state = 'expired'"),
        15,
        description="the request to expire",
    )
    [job] = stack.job_rows()
    assert (job["id"], job["state"], job["failure_code"]) == (
        job_id,
        "cancelled",
        "approval_expired",
    )
    assert stack.db.balance(ids.guild_id, ids.user_id) == (100, 0)
    assert stack.kvid.submissions == []
    [line] = stack.db.rows(
        "SELECT actor_id, detail FROM moderation_log WHERE action = 'approval expired'"
    )
    assert line["actor_id"] is None
    assert "expired undecided; hold released" in line["detail"]
