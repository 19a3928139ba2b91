"""The server credit pool: a ledger account admins fund and members draw on, within a limit."""

from __future__ import annotations

import asyncio

import pytest

from bot.community.pool import POOL_USER_ID, PoolError
from bot.credits.quotas import Quotas
from bot.credits.rules import CreditRules
from bot.credits.terms import Allowance
from bot.ledger import InsufficientCredits, Ledger
from tests.unit.community_support import (
    ADMIN,
    ALICE,
    BOB,
    GUILD,
    assert_ledger_balanced,
    community_fixture,  # noqa: F401 (a fixture)
)

DAY = 86_400


async def test_admins_fund_the_pool_through_the_ledger(community, db, ledger) -> None:
    status = await community.pool.deposit(GUILD, ADMIN, 300, "server boost")
    assert (status.balance, status.available, status.daily_limit) == (300, 300, 25)
    rows = await db.fetchall(
        "SELECT kind, balance_delta, actor_id, reason FROM ledger WHERE user_id = ?",
        (POOL_USER_ID,),
    )
    # No welcome grant for the pool: only the deposit.
    assert [tuple(r) for r in rows] == [("grant", 300, ADMIN, "server boost")]
    status = await community.pool.withdraw(GUILD, ADMIN, 100)
    assert status.balance == 200
    with pytest.raises(PoolError, match="remove at most 200"):
        await community.pool.withdraw(GUILD, ADMIN, 201)
    with pytest.raises(PoolError):
        await community.pool.deposit(GUILD, ADMIN, 0)
    assert [line.action for line in await community.log.recent(GUILD)] == [
        "pool remove",
        "pool add",
    ]
    await assert_ledger_balanced(db)


async def test_a_member_draws_only_up_to_the_daily_limit(community, db, ledger, clock) -> None:
    await community.pool.deposit(GUILD, ADMIN, 1000)
    await community.pool.set_daily_limit(GUILD, ADMIN, 30)
    await ledger.balance(GUILD, ALICE)  # alice exists with her 100
    assert await community.pool.cover(GUILD, ALICE, 20) == 20
    assert await community.pool.cover(GUILD, ALICE, 11) == 0  # 31 > 30 today
    assert await community.pool.cover(GUILD, ALICE, 10) == 10  # exactly 30
    assert await community.pool.cover(GUILD, ALICE, 1) == 0
    assert await community.pool.cover(GUILD, BOB, 30) == 30  # the limit is per member
    assert (await ledger.balance(GUILD, ALICE)).balance == 130
    clock.advance(DAY)
    assert await community.pool.cover(GUILD, ALICE, 25) == 25  # a new UTC day
    assert (await community.pool.status(GUILD)).balance == 1000 - 85
    await assert_ledger_balanced(db)


async def test_no_draw_when_the_pool_is_short_or_drawing_is_off(community, db, ledger) -> None:
    await community.pool.deposit(GUILD, ADMIN, 10)
    assert await community.pool.cover(GUILD, ALICE, 11) == 0  # all or nothing
    assert await community.pool.cover(GUILD, ALICE, 0) == 0
    await community.pool.set_daily_limit(GUILD, ADMIN, 0)
    assert await community.pool.cover(GUILD, ALICE, 5) == 0
    assert (await community.pool.status(GUILD)).balance == 10
    with pytest.raises(PoolError):
        await community.pool.set_daily_limit(GUILD, ADMIN, -1)


async def test_the_job_seam_draws_the_shortfall_then_the_hold_fits(
    community, db, ledger, clock
) -> None:
    """What JobService.start does: admit, on InsufficientCredits cover the gap, admit again."""
    await community.pool.deposit(GUILD, ADMIN, 50)
    quotas = Quotas(
        db, ledger, CreditRules(db, Allowance(5, 0, 5, 24, 0, 0), clock=clock), clock=clock
    )
    ledger_small = Ledger(db, starting_credits=5, clock=clock)
    async with db.transaction() as tx:
        await ledger_small.ensure_member_in(tx, GUILD, ALICE)
        try:
            await quotas.admit_in(tx, GUILD, ALICE, [], 15)
            raise AssertionError("alice should be short")
        except InsufficientCredits as short:
            drawn = await community.pool.cover_in(
                tx, GUILD, ALICE, short.price - short.available, "job12345"
            )
        assert drawn == 10
        admission = await quotas.admit_in(tx, GUILD, ALICE, [], 15)
        assert admission.price == 15
    balance = await ledger.balance(GUILD, ALICE)
    assert balance.balance == 15
    report = await community.pool.report(GUILD, "today")
    assert (report.drawn, report.deposited) == (10, 50)
    assert [(m.user_id, m.drawn, m.draws) for m in report.members] == [(ALICE, 10, 1)]
    assert report.depositors == ((ADMIN, 50),)
    movement = await db.fetchone("SELECT job_id FROM pool_movements WHERE kind = 'draw'")
    assert movement["job_id"] == "job12345"
    await assert_ledger_balanced(db)


async def test_a_refused_job_rolls_its_draw_back(community, db, ledger) -> None:
    await community.pool.deposit(GUILD, ADMIN, 50)
    await ledger.balance(GUILD, ALICE)
    drawn: list[int] = []

    async def refused_job() -> None:
        async with db.transaction() as tx:
            drawn.append(await community.pool.cover_in(tx, GUILD, ALICE, 10, None))
            raise RuntimeError("refused later in the same transaction")

    with pytest.raises(RuntimeError):
        await refused_job()
    assert drawn == [10]
    assert (await community.pool.status(GUILD)).balance == 50
    assert (await ledger.balance(GUILD, ALICE)).balance == 100
    assert (await community.pool.report(GUILD, "all")).drawn == 0


async def test_report_periods(community, clock, ledger) -> None:
    await community.pool.deposit(GUILD, ADMIN, 100)
    await ledger.balance(GUILD, ALICE)
    await community.pool.cover(GUILD, ALICE, 5)
    clock.advance(10 * DAY)
    await community.pool.cover(GUILD, BOB, 7)
    week = await community.pool.report(GUILD, "7d")
    assert [(m.user_id, m.drawn) for m in week.members] == [(BOB, 7)]
    everything = await community.pool.report(GUILD, "all")
    assert [(m.user_id, m.drawn) for m in everything.members] == [(BOB, 7), (ALICE, 5)]
    assert everything.status.balance == 88
    with pytest.raises(PoolError):
        await community.pool.report(GUILD, "decade")


async def test_racing_draws_never_overspend_the_pool(community, db, ledger) -> None:
    """Forty members short at once, a pool for five draws: five draws, the rest refused."""
    await community.pool.deposit(GUILD, ADMIN, 50)
    members = range(5_000_000, 5_000_040)

    async def short_member(user_id: int) -> int:
        async with db.transaction() as tx:
            await ledger.ensure_member_in(tx, GUILD, user_id)
            return await community.pool.cover_in(tx, GUILD, user_id, 10, None)

    drawn = await asyncio.gather(*(short_member(user_id) for user_id in members))
    assert sorted(drawn) == [0] * 35 + [10] * 5
    assert (await community.pool.status(GUILD)).balance == 0
    await assert_ledger_balanced(db)
