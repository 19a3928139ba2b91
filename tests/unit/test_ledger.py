"""The ledger: holds resolve once, balances equal the sum of rows, and the ledger is append-only."""

from __future__ import annotations

import asyncio

import pytest

from bot.db import Database, Transaction
from bot.ledger import InsufficientCredits, Ledger, LedgerError
from tests.postgres import REFUSED_WRITE

GUILD, USER = 10, 20


async def _job(db: Database, job_id: str, price: int = 0) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, request_json, price, "
            "state, created_at, upload_limit) VALUES (?, ?, 1, ?, 'kvid', '{}', ?, 'queued', 0, 0)",
            (job_id, GUILD, USER, price),
        )


async def _hold(db: Database, ledger: Ledger, job_id: str, amount: int) -> None:
    async with db.transaction() as tx:
        await ledger.ensure_member_in(tx, GUILD, USER)
    await _job(db, job_id, amount)
    async with db.transaction() as tx:
        await ledger.hold_in(tx, GUILD, USER, job_id, amount)


async def _sums(db: Database) -> tuple[int, int]:
    row = await db.fetchone(
        "SELECT SUM(balance_delta) AS b, SUM(held_delta) AS h FROM ledger "
        "WHERE guild_id = ? AND user_id = ?",
        (GUILD, USER),
    )
    assert row is not None
    return row["b"] or 0, row["h"] or 0


async def test_new_member_gets_the_starting_grant_once(ledger: Ledger, db: Database) -> None:
    first = await ledger.balance(GUILD, USER)
    second = await ledger.balance(GUILD, USER)
    assert first.balance == second.balance == 100
    rows = await db.fetchall("SELECT kind, reason FROM ledger")
    assert [(r["kind"], r["reason"]) for r in rows] == [("grant", "welcome grant")]


async def test_hold_then_capture_spends_exactly_the_price(ledger: Ledger, db: Database) -> None:
    await _hold(db, ledger, "job1", 30)
    held = await ledger.balance(GUILD, USER)
    assert (held.balance, held.held, held.available) == (100, 30, 70)
    async with db.transaction() as tx:
        assert await ledger.capture(tx, "job1")
    async with db.transaction() as tx:
        assert not await ledger.capture(tx, "job1")
        assert not await ledger.release(tx, "job1", "late refund")
    after = await ledger.balance(GUILD, USER)
    assert (after.balance, after.held) == (70, 0)
    assert await _sums(db) == (70, 0)


async def test_release_returns_the_hold_in_full_once(ledger: Ledger, db: Database) -> None:
    await _hold(db, ledger, "job1", 30)
    async with db.transaction() as tx:
        assert await ledger.release(tx, "job1", "refund: failed")
        assert not await ledger.release(tx, "job1", "refund: failed")
    async with db.transaction() as tx:
        assert not await ledger.capture(tx, "job1")
    after = await ledger.balance(GUILD, USER)
    assert (after.balance, after.held) == (100, 0)
    assert await _sums(db) == (100, 0)


async def test_insufficient_credits_changes_nothing(ledger: Ledger, db: Database) -> None:
    await _hold(db, ledger, "job1", 80)
    await _job(db, "job2", 30)
    with pytest.raises(InsufficientCredits) as info:
        async with db.transaction() as tx:
            await ledger.hold_in(tx, GUILD, USER, "job2", 30)
    assert (info.value.price, info.value.available) == (30, 20)
    holds = await db.fetchall("SELECT job_id FROM holds")
    assert [h["job_id"] for h in holds] == ["job1"]
    assert (await ledger.balance(GUILD, USER)).available == 20


async def test_take_never_touches_held_credits(ledger: Ledger, db: Database) -> None:
    await _hold(db, ledger, "job1", 60)
    with pytest.raises(LedgerError, match="take at most 40"):
        await ledger.take(GUILD, USER, 41, "too much", actor_id=1)
    balance = await ledger.take(GUILD, USER, 40, "cleanup", actor_id=1)
    assert (balance.balance, balance.held, balance.available) == (60, 60, 0)
    granted = await ledger.grant(GUILD, USER, 5, "gift", actor_id=1)
    assert granted.available == 5
    assert await _sums(db) == (65, 60)


async def test_ledger_rows_cannot_be_changed_or_deleted(ledger: Ledger, db: Database) -> None:
    await ledger.balance(GUILD, USER)
    for statement in ("UPDATE ledger SET balance_delta = 1000", "DELETE FROM ledger"):
        with pytest.raises(REFUSED_WRITE, match="append-only"):
            async with db.transaction() as tx:
                await tx.execute(statement)
    assert await _sums(db) == (100, 0)


async def test_concurrent_holds_never_overdraw(ledger: Ledger, db: Database) -> None:
    async with db.transaction() as tx:
        await ledger.ensure_member_in(tx, GUILD, USER)
    for n in range(50):
        await _job(db, f"job{n}", 7)

    async def attempt(n: int) -> bool:
        try:
            async with db.transaction() as tx:
                await ledger.hold_in(tx, GUILD, USER, f"job{n}", 7)
        except InsufficientCredits:
            return False
        return True

    results = await asyncio.gather(*(attempt(n) for n in range(50)))
    assert sum(results) == 100 // 7
    balance = await ledger.balance(GUILD, USER)
    assert balance.held == 7 * (100 // 7)
    assert balance.available == 100 % 7
    assert await _sums(db) == (100, balance.held)


async def test_partial_capture_spends_part_and_returns_the_rest(
    ledger: Ledger, db: Database
) -> None:
    await _hold(db, ledger, "job1", 30)
    async with db.transaction() as tx:
        assert await ledger.capture(tx, "job1", 12)
        assert not await ledger.release(tx, "job1", "too late")
    after = await ledger.balance(GUILD, USER)
    assert (after.balance, after.held) == (88, 0)
    assert await _sums(db) == (88, 0)
    hold = await db.fetchone("SELECT state, captured FROM holds WHERE job_id = 'job1'")
    assert hold is not None
    assert (hold["state"], hold["captured"]) == ("captured", 12)


async def test_a_capture_never_spends_more_than_was_held(ledger: Ledger, db: Database) -> None:
    await _hold(db, ledger, "job1", 30)
    with pytest.raises(LedgerError, match="Cannot spend 31 credits of a 30-credit hold"):
        async with db.transaction() as tx:
            await ledger.capture(tx, "job1", 31)
    assert (await ledger.balance(GUILD, USER)).held == 30
    async with db.transaction() as tx:
        assert await ledger.capture(tx, "job1")


async def test_a_second_hold_for_the_same_job_fails_whole(ledger: Ledger, db: Database) -> None:
    await _hold(db, ledger, "job1", 30)
    with pytest.raises(REFUSED_WRITE):
        async with db.transaction() as tx:
            await ledger.hold_in(tx, GUILD, USER, "job1", 30)
    assert (await ledger.balance(GUILD, USER)).held == 30
    assert await _sums(db) == (100, 30)


async def test_a_one_hop_transaction_is_all_or_nothing(ledger: Ledger, db: Database) -> None:
    async def grant_then_fail(tx: Transaction) -> None:
        await ledger.adjust_in(tx, GUILD, USER, "grant", 50, "never", actor_id=None)
        raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError, match="crash in the middle"):
        await db.run(grant_then_fail)
    assert await db.fetchall("SELECT * FROM ledger") == []
    assert await db.fetchall("SELECT * FROM members") == []
    # The write lock and the connection are free again.
    assert (await ledger.grant(GUILD, USER, 5, "after", actor_id=None)).balance == 105


async def test_history_pages_run_newest_first(ledger: Ledger, db: Database) -> None:
    for n in range(1, 24):
        await ledger.grant(GUILD, USER, n, f"gift {n}", actor_id=None)
    first = await ledger.page(GUILD, USER, 1)
    assert (first.page, first.pages, first.total) == (1, 3, 24)
    assert [e.reason for e in first.entries][:2] == ["gift 23", "gift 22"]
    last = await ledger.page(GUILD, USER, 99)
    assert last.page == 3
    assert [e.reason for e in last.entries] == ["gift 3", "gift 2", "gift 1", "welcome grant"]
    empty = await ledger.page(GUILD, USER + 1, 1)
    assert (empty.entries, empty.pages) == ((), 1)


async def test_a_servers_own_starting_grant_wins(ledger: Ledger, db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO credit_settings (guild_id, starting_credits, updated_at) VALUES (?, 7, 0)",
            (GUILD,),
        )
    assert (await ledger.balance(GUILD, USER)).balance == 7
    assert (await ledger.balance(GUILD + 1, USER)).balance == 100


async def test_a_cancelled_transaction_never_leaves_one_open(db: Database) -> None:
    """Cancelling a writer at any await (as shutdown does) must not block the next writer."""
    for delay in (0, 0.0001, 0.0005, 0.001, 0.002):

        async def writer() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO meta (key, value) VALUES ('probe', 'x')")
                await tx.execute("DELETE FROM meta WHERE key = 'probe'")

        task = asyncio.create_task(writer())
        await asyncio.sleep(delay)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('after', 'ok') "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
    row = await db.fetchone("SELECT value FROM meta WHERE key = 'after'")
    assert row is not None
    assert row["value"] == "ok"
