"""Themed events from start to paid prize, through the pool and the ledger, exactly once."""

from __future__ import annotations

import asyncio

import pytest

from bot.community.events import EventError, parse_duration
from bot.community.pool import POOL_USER_ID
from tests.unit.community_support import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    GUILD,
    assert_ledger_balanced,
    community_fixture,  # noqa: F401 (a fixture)
    make_job,
)

HOUR = 3_600


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3d", 259_200),
        ("12h", 43_200),
        ("1d 12h", 129_600),
        ("90m", 5_400),
        ("2", 7_200),
        ("1 week", 604_800),
        ("2 days, 3 hours", 183_600),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "3 months", "0m", "100d", "5s", "3d tomorrow"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(EventError):
        parse_duration(text)


async def test_an_event_from_start_to_paid_prize_with_the_ledger_balanced(
    community, db, ledger, clock
) -> None:
    await community.pool.deposit(GUILD, ADMIN, 500)
    before = await community.pool.status(GUILD)
    event = await community.events.start(GUILD, CHANNEL, ADMIN, "  Rainy   cities ", 2 * HOUR, 120)
    assert (event.theme, event.prize, event.state) == ("Rainy cities", 120, "open")
    status = await community.pool.status(GUILD)
    assert (status.balance, status.committed, status.available) == (500, 120, 380)
    assert before.committed == 0

    old_job = await make_job(db, ledger, clock() - 10, ALICE)
    with pytest.raises(EventError, match="made before"):
        await community.events.enter(GUILD, ALICE, old_job)
    clock.advance(60)
    alice_job = await make_job(db, ledger, clock(), ALICE)
    bob_job = await make_job(db, ledger, clock(), BOB)
    with pytest.raises(EventError, match="not yours"):
        await community.events.enter(GUILD, BOB, alice_job)
    alice = await community.events.enter(GUILD, ALICE, alice_job)
    bob = await community.events.enter(GUILD, BOB, bob_job)
    with pytest.raises(EventError, match="already entered"):
        await community.events.enter(GUILD, ALICE, await make_job(db, ledger, clock(), ALICE))

    assert (await community.events.vote(alice.id, CAROL)).voted
    moved = await community.events.vote(bob.id, CAROL)  # one vote per member: it moves
    assert (moved.voted, moved.votes, moved.moved_from) == (True, 1, alice.id)
    assert (await community.events.vote(bob.id, DAVE)).votes == 2
    assert (await community.events.vote(alice.id, BOB)).votes == 1
    with pytest.raises(EventError, match="own entry"):
        await community.events.vote(alice.id, ALICE)
    standing = await community.events.result(event.id)
    assert [(e.user_id, e.votes) for e in standing.ranking] == [(BOB, 2), (ALICE, 1)]

    bob_before = (await ledger.balance(GUILD, BOB)).balance
    assert await community.events.close_due() == []  # not yet
    clock.advance(2 * HOUR)
    with pytest.raises(EventError, match="no open event"):
        await community.events.enter(GUILD, CAROL, await make_job(db, ledger, clock(), CAROL))
    with pytest.raises(EventError, match="ended"):
        await community.events.vote(alice.id, DAVE)
    [result] = await community.events.close_due()
    assert result.event.state == "closed"
    assert result.event.closed_by is None
    assert [(p.user_id, p.votes, p.amount) for p in result.winners] == [(BOB, 2, 120)]
    assert (await ledger.balance(GUILD, BOB)).balance == bob_before + 120
    status = await community.pool.status(GUILD)
    assert (status.balance, status.committed) == (380, 0)

    # Closing again (the announcer racing an admin) pays nothing more.
    assert await community.events.close_due() == []
    with pytest.raises(EventError, match="no open event"):
        await community.events.close(GUILD, ADMIN)
    prize_rows = await db.fetchall(
        "SELECT user_id, kind, balance_delta FROM ledger WHERE reason LIKE 'prize%' ORDER BY id"
    )
    assert [tuple(r) for r in prize_rows] == [(POOL_USER_ID, "take", -120), (BOB, "grant", 120)]
    [announce] = await community.events.to_announce()
    assert announce.event.id == event.id
    assert announce.paid == 120
    await community.events.mark_announced(event.id, 31337)
    assert await community.events.to_announce() == []
    await assert_ledger_balanced(db)
    actions = [line.action for line in await community.log.recent(GUILD)]
    assert actions[:2] == ["event close", "event start"]


async def test_racing_closes_pay_once(community, db, ledger, clock) -> None:
    await community.pool.deposit(GUILD, ADMIN, 100)
    event = await community.events.start(GUILD, CHANNEL, ADMIN, "Cats", HOUR, 100)
    clock.advance(1)
    entry = await community.events.enter(GUILD, ALICE, await make_job(db, ledger, clock(), ALICE))
    await community.events.vote(entry.id, BOB)
    clock.advance(HOUR)
    outcomes = await asyncio.gather(
        community.events.close_due(),
        community.events.close_due(),
        community.events.close(GUILD, ADMIN),
        return_exceptions=True,
    )
    closed = [r for o in outcomes if isinstance(o, list) for r in o]
    closed += [o for o in outcomes if not isinstance(o, (list, Exception)) and o.changed]
    assert len(closed) == 1
    payouts = await db.fetchall("SELECT * FROM event_payouts WHERE event_id = ?", (event.id,))
    assert len(payouts) == 1
    assert payouts[0]["amount"] == 100
    assert (await community.pool.status(GUILD)).balance == 0
    await assert_ledger_balanced(db)


@pytest.mark.parametrize("presses", [4, 5])
async def test_racing_presses_of_one_vote_toggle_in_turn(
    community, db, ledger, clock, presses: int
) -> None:
    """A member pressing the same vote button several times at once: each press toggles."""
    await community.events.start(GUILD, CHANNEL, ADMIN, "Cats", HOUR, 0)
    clock.advance(1)
    entry = await community.events.enter(GUILD, ALICE, await make_job(db, ledger, clock(), ALICE))
    outcomes = await asyncio.gather(*(community.events.vote(entry.id, BOB) for _ in range(presses)))
    # As if pressed one after another: on, off, on, ...
    assert sorted(o.voted for o in outcomes) == sorted(n % 2 == 0 for n in range(presses))
    votes = await db.fetchall("SELECT user_id FROM event_votes WHERE entry_id = ?", (entry.id,))
    assert len(votes) == presses % 2


async def test_ties_share_the_prize_and_no_votes_pays_nothing(community, db, ledger, clock) -> None:
    await community.pool.deposit(GUILD, ADMIN, 101)
    await community.events.start(GUILD, CHANNEL, ADMIN, "Tie", HOUR, 101)
    clock.advance(1)
    a = await community.events.enter(GUILD, ALICE, await make_job(db, ledger, clock(), ALICE))
    b = await community.events.enter(GUILD, BOB, await make_job(db, ledger, clock(), BOB))
    await community.events.vote(a.id, CAROL)
    await community.events.vote(b.id, DAVE)
    result = await community.events.close(GUILD, ADMIN)
    assert sorted((p.user_id, p.amount) for p in result.winners) == [(ALICE, 50), (BOB, 50)]
    assert result.event.closed_by == ADMIN
    assert (await community.pool.status(GUILD)).balance == 1  # the odd credit stays

    await community.events.start(GUILD, CHANNEL, ADMIN, "Quiet", HOUR, 1)
    clock.advance(1)
    await community.events.enter(GUILD, ALICE, await make_job(db, ledger, clock(), ALICE))
    quiet = await community.events.close(GUILD, ADMIN)
    assert quiet.winners == ()
    assert quiet.paid == 0
    assert (await community.pool.status(GUILD)).balance == 1
    await assert_ledger_balanced(db)


async def test_starting_is_checked(community, clock) -> None:
    with pytest.raises(EventError, match="pool has 0 credits"):
        await community.events.start(GUILD, CHANNEL, ADMIN, "Big", HOUR, 10)
    await community.events.start(GUILD, CHANNEL, ADMIN, "Free", HOUR, 0)
    with pytest.raises(EventError, match="still open"):
        await community.events.start(GUILD, CHANNEL, ADMIN, "Second", HOUR, 0)
    with pytest.raises(EventError, match="1 to 100"):
        await community.events.start(GUILD + 1, CHANNEL, ADMIN, "x" * 101, HOUR, 0)
    listed = await community.events.recent(GUILD)
    assert [(e.theme, e.state, e.entries) for e in listed] == [("Free", "open", 0)]
    assert await community.events.next_end() == clock() + HOUR


async def test_the_pool_keeps_prizes_promised(community, ledger) -> None:
    await community.pool.deposit(GUILD, ADMIN, 50)
    await community.events.start(GUILD, CHANNEL, ADMIN, "Promised", HOUR, 40)
    await ledger.balance(GUILD, ALICE)
    assert await community.pool.cover(GUILD, ALICE, 20) == 0  # only 10 are free
    assert await community.pool.cover(GUILD, ALICE, 10) == 10
    with pytest.raises(Exception, match="remove at most 0"):
        await community.pool.withdraw(GUILD, ADMIN, 1)
