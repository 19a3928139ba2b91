"""Moderator approval: a held job is approved, denied or expires, exactly once."""

from __future__ import annotations

import asyncio

import pytest

from bot.community import AdmissionQuery, Community
from bot.community.approval import ApprovalError
from bot.db import Database
from bot.jobs.models import JobState, new_job_id
from bot.jobs.store import JobStore, insert_in
from bot.ledger import Ledger
from tests.unit.community_support import ADMIN, ALICE, BOB, CHANNEL, GUILD, assert_ledger_balanced
from tests.unit.job_support import text_order

PRICE = 15


@pytest.fixture
def wakes() -> list[int]:
    return []


@pytest.fixture
async def community(db: Database, ledger: Ledger, clock, wakes) -> Community:
    community = Community(db, ledger, clock=clock, wake_jobs=lambda: wakes.append(1))
    await community.settings.configure(
        GUILD, ADMIN, approval_mode="everyone", approval_timeout_hours=2
    )
    return community


async def start_job(community: Community, db: Database, ledger: Ledger, clock) -> str:
    """What JobService.start does with the seam: admission, job row, hold, request, one tx."""
    order = text_order(int(clock() * 1000), GUILD, CHANNEL, ALICE, "a red kite")
    job_id = new_job_id()
    async with db.transaction() as tx:
        query = AdmissionQuery(GUILD, CHANNEL, ALICE, [], None, "a red kite", False)
        admission = await community.admission_in(tx, query)
        assert admission.allowed
        assert admission.needs_approval
        await ledger.ensure_member_in(tx, GUILD, ALICE)
        await insert_in(tx, job_id, order, PRICE, clock())
        await ledger.hold_in(tx, GUILD, ALICE, job_id, PRICE)
        await community.on_job_created_in(tx, job_id, query, admission.approval_reason)
    clock.advance(1)
    return job_id


async def job_row(db: Database, job_id: str):
    return await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))


async def test_a_job_waiting_for_approval_is_held_and_not_due(community, db, ledger, clock) -> None:
    job_id = await start_job(community, db, ledger, clock)
    balance = await ledger.balance(GUILD, ALICE)
    assert (balance.balance, balance.held) == (100, PRICE)
    assert (
        await JobStore(db).claim_steps("test/1", clock() + 10_000, clock() + 10_030, 10) == []
    )  # parked: the runner leaves it
    [pending] = await community.approvals.unposted()
    assert (pending.job_id, pending.state) == (job_id, "pending")
    assert pending.expires_at == pending.created_at + 2 * 3600


async def test_approval_submits_once(community, db, ledger, clock, wakes) -> None:
    job_id = await start_job(community, db, ledger, clock)
    decision = await community.approvals.decide(job_id, approve=True, actor_id=ADMIN)
    assert (decision.changed, decision.state, decision.request.decided_by) == (
        True,
        "approved",
        ADMIN,
    )
    assert [
        job.id for job in await JobStore(db).claim_steps("test/1", clock(), clock() + 30, 10)
    ] == [job_id]
    assert wakes == [1]
    again = await community.approvals.decide(job_id, approve=False, actor_id=BOB, reason="no")
    assert (again.changed, again.state) == (False, "approved")
    assert (await job_row(db, job_id))["state"] == "queued"
    assert (await ledger.balance(GUILD, ALICE)).held == PRICE  # still held for the job
    assert wakes == [1]


async def test_denial_releases_the_hold_and_says_why(community, db, ledger, clock) -> None:
    job_id = await start_job(community, db, ledger, clock)
    with pytest.raises(ApprovalError, match="needs a reason"):
        await community.approvals.decide(job_id, approve=False, actor_id=ADMIN, reason=" ")
    decision = await community.approvals.decide(
        job_id, approve=False, actor_id=ADMIN, reason="off-topic for this server"
    )
    assert (decision.changed, decision.state) == (True, "denied")
    row = await job_row(db, job_id)
    assert row["state"] == JobState.CANCELLED
    assert row["failure_code"] == "approval_denied"
    assert "off-topic for this server" in row["failure_message"]
    balance = await ledger.balance(GUILD, ALICE)
    assert (balance.balance, balance.held) == (100, 0)
    hold = await db.fetchone("SELECT state FROM holds WHERE job_id = ?", (job_id,))
    assert hold["state"] == "released"
    assert not (await community.approvals.decide(job_id, approve=True, actor_id=ADMIN)).changed
    await assert_ledger_balanced(db)
    actions = [line.action for line in await community.log.recent(GUILD)]
    assert actions[:2] == ["approval denied", "approval requested"]


async def test_an_undecided_request_expires_once(community, db, ledger, clock) -> None:
    job_id = await start_job(community, db, ledger, clock)
    assert await community.approvals.expire_due() == []
    assert await community.approvals.next_expiry() == pytest.approx(clock() - 1 + 7200)
    clock.advance(7200)
    [expired] = await community.approvals.expire_due()
    assert (expired.request.job_id, expired.state, expired.request.decided_by) == (
        job_id,
        "expired",
        None,
    )
    assert await community.approvals.expire_due() == []
    row = await job_row(db, job_id)
    assert (row["state"], row["failure_code"]) == ("cancelled", "approval_expired")
    assert (await ledger.balance(GUILD, ALICE)).held == 0
    late = await community.approvals.decide(job_id, approve=True, actor_id=ADMIN)
    assert (late.changed, late.state) == (False, "expired")
    await assert_ledger_balanced(db)


async def test_racing_decisions_settle_once(community, db, ledger, clock) -> None:
    job_id = await start_job(community, db, ledger, clock)
    clock.advance(7200)
    outcomes = await asyncio.gather(
        community.approvals.decide(job_id, approve=True, actor_id=ADMIN),
        community.approvals.decide(job_id, approve=False, actor_id=BOB, reason="no"),
        community.approvals.expire_due(),
    )
    changed = [o for o in (outcomes[0], outcomes[1], *outcomes[2]) if o.changed]
    assert len(changed) == 1
    released = await db.fetchall(
        "SELECT * FROM ledger WHERE job_id = ? AND kind = 'release'", (job_id,)
    )
    assert len(released) == (0 if changed[0].state == "approved" else 1)
    await assert_ledger_balanced(db)


async def test_a_job_that_ended_meanwhile_is_withdrawn(community, db, ledger, clock) -> None:
    job_id = await start_job(community, db, ledger, clock)
    async with db.transaction() as tx:  # the member cancelled it (the job service's cancel)
        await tx.execute("UPDATE jobs SET state = 'cancelled' WHERE id = ?", (job_id,))
        await ledger.release(tx, job_id, "cancelled by the member")
    decision = await community.approvals.decide(job_id, approve=True, actor_id=ADMIN)
    assert (decision.changed, decision.state) == (True, "withdrawn")
    assert await JobStore(db).claim_steps("test/1", clock() + 10, clock() + 40, 10) == []
    await assert_ledger_balanced(db)


async def test_a_cancel_withdraws_the_request_in_its_own_transaction(
    community, db, ledger, clock
) -> None:
    job_id = await start_job(community, db, ledger, clock)
    await community.approvals.mark_posted(job_id, 42, 4242)
    assert await community.approvals.decided_with_message(0) == []
    async with db.transaction() as tx:  # what /video cancel does, with the seam
        await tx.execute("UPDATE jobs SET state = 'cancelled' WHERE id = ?", (job_id,))
        await ledger.release(tx, job_id, "cancelled by the member")
        assert await community.on_job_cancelled_in(tx, job_id, ALICE)
        assert not await community.on_job_cancelled_in(tx, job_id, ALICE)
    request = await community.approvals.get(job_id)
    assert (request.state, request.decided_by) == ("withdrawn", ALICE)
    late = await community.approvals.decide(job_id, approve=True, actor_id=ADMIN)
    assert late.changed is False
    [withdrawn] = await community.approvals.decided_with_message(0)
    assert withdrawn.job_id == job_id
    assert (await community.log.recent(GUILD))[0].action == "approval withdrawn"
    await assert_ledger_balanced(db)


async def test_unknown_job(community) -> None:
    with pytest.raises(ApprovalError, match="not waiting"):
        await community.approvals.decide("zzzzzzzz", approve=True, actor_id=ADMIN)
