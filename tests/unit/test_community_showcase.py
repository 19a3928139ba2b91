"""Showcase shares (one per job, approval when required), votes once per member, boards."""

from __future__ import annotations

import asyncio

import pytest

from bot.community import Community
from bot.community.showcase import ShowcaseError
from tests.unit.community_support import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    GUILD,
    community_fixture,  # noqa: F401 (a fixture)
    make_job,
)

DAY = 86_400


async def posted_share(community: Community, db, ledger, clock, user_id: int, message_id: int):
    job = await make_job(db, ledger, clock(), user_id)
    outcome = await community.showcase.share(GUILD, job, user_id, needs_approval=False)
    assert outcome.share.state == "ready"
    assert await community.showcase.mark_posted(outcome.share.id, 555, message_id)
    return await community.showcase.get(outcome.share.id)


async def test_one_share_per_job_and_only_the_authors_finished_video(
    community, db, ledger, clock
) -> None:
    job = await make_job(db, ledger, clock(), ALICE)
    first = await community.showcase.share(GUILD, job, ALICE, needs_approval=False)
    assert first.created
    assert first.share.state == "ready"
    again = await community.showcase.share(GUILD, job.upper(), ALICE, needs_approval=False)
    assert (again.created, again.share.id) == (False, first.share.id)
    with pytest.raises(ShowcaseError, match="not yours"):
        await community.showcase.share(GUILD, job, BOB, needs_approval=False)
    running = await make_job(db, ledger, clock(), ALICE, state="queued")
    with pytest.raises(ShowcaseError, match="not finished"):
        await community.showcase.share(GUILD, running, ALICE, needs_approval=False)
    with pytest.raises(ShowcaseError, match="no video"):
        await community.showcase.share(GUILD + 1, job, ALICE, needs_approval=False)
    assert [s.id for s in await community.showcase.to_post()] == [first.share.id]
    assert await community.showcase.mark_posted(first.share.id, 555, 777)
    assert not await community.showcase.mark_posted(first.share.id, 555, 778)  # posted once
    assert await community.showcase.to_post() == []
    assert (await community.showcase.by_message(777)).id == first.share.id


async def test_a_share_needing_approval_waits_for_a_moderator(community, db, ledger, clock) -> None:
    job = await make_job(db, ledger, clock(), ALICE)
    pending = (await community.showcase.share(GUILD, job, ALICE, needs_approval=True)).share
    assert pending.state == "pending"
    assert await community.showcase.to_post() == []
    assert [s.id for s in await community.showcase.to_review()] == [pending.id]
    await community.showcase.mark_review_posted(pending.id, 42, 4242)
    assert await community.showcase.to_review() == []
    approved, changed = await community.showcase.decide(pending.id, approve=True, actor_id=ADMIN)
    assert (approved.state, changed) == ("ready", True)
    again, changed = await community.showcase.decide(pending.id, approve=False, actor_id=ADMIN)
    assert (again.state, changed) == ("ready", False)
    assert [s.id for s in await community.showcase.to_post()] == [pending.id]

    other = await make_job(db, ledger, clock(), BOB)
    denied = (await community.showcase.share(GUILD, other, BOB, needs_approval=True)).share
    result, _ = await community.showcase.decide(
        denied.id, approve=False, actor_id=ADMIN, reason="not safe"
    )
    assert (result.state, result.decision_reason) == ("denied", "not safe")
    actions = [line.action for line in await community.log.recent(GUILD)]
    assert actions == ["share denied", "share approved"]


async def test_votes_count_once_per_member_and_toggle(community, db, ledger, clock) -> None:
    share = await posted_share(community, db, ledger, clock, ALICE, 900)
    first = await community.showcase.vote(share.id, BOB)
    assert (first.voted, first.changed, first.votes) == (True, True, 1)
    # A reaction for a vote already counted changes nothing.
    same = await community.showcase.vote(share.id, BOB, want=True)
    assert (same.voted, same.changed, same.votes) == (True, False, 1)
    await asyncio.gather(*(community.showcase.vote(share.id, CAROL, want=True) for _ in range(5)))
    assert (await community.showcase.get(share.id)).votes == 2
    toggled = await community.showcase.vote(share.id, BOB)
    assert (toggled.voted, toggled.votes) == (False, 1)
    with pytest.raises(ShowcaseError, match="own video"):
        await community.showcase.vote(share.id, ALICE)
    rows = await db.fetchall("SELECT user_id FROM showcase_votes WHERE share_id = ?", (share.id,))
    assert [r["user_id"] for r in rows] == [CAROL]


async def test_votes_only_on_posted_shares(community, db, ledger, clock) -> None:
    job = await make_job(db, ledger, clock(), ALICE)
    pending = (await community.showcase.share(GUILD, job, ALICE, needs_approval=True)).share
    with pytest.raises(ShowcaseError, match="not in the showcase"):
        await community.showcase.vote(pending.id, BOB)


async def test_leaderboards_by_period(community, db, ledger, clock) -> None:
    old = await posted_share(community, db, ledger, clock, ALICE, 901)
    for voter in (BOB, CAROL, DAVE):
        await community.showcase.vote(old.id, voter)
    clock.advance(20 * DAY)
    recent = await posted_share(community, db, ledger, clock, BOB, 902)
    newest = await posted_share(community, db, ledger, clock, CAROL, 903)
    await community.showcase.vote(newest.id, ALICE)
    assert await community.showcase.top(GUILD + 1, "all") == []

    week = await community.showcase.top(GUILD, "7d")
    assert [(line.rank, line.share.id, line.share.votes) for line in week] == [
        (1, newest.id, 1),
        (2, recent.id, 0),
    ]
    assert week[0].job.prompt == "a kite over the sea"
    assert week[0].job.model == "v2"
    month = await community.showcase.top(GUILD, "month")
    assert [line.share.id for line in month] == [old.id, newest.id, recent.id]
    with pytest.raises(ShowcaseError):
        await community.showcase.top(GUILD, "year")
