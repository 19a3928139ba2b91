"""Moving a SQLite database to PostgreSQL: everything arrives, the books are checked, and the
bot carries on over the moved data (new ledger rows number on, jobs in flight finish)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bot.db.move import MoveError, move
from bot.db.postgres import PostgresDatabase
from bot.db.sqlite import SqliteDatabase
from tests.postgres import Schema
from tests.unit.conftest import ManualClock
from tests.unit.test_ledger_properties import check_ledger_invariants
from tests.unit.test_quotas import GUILD, Economy

ALICE, BOB = 11, 12


async def a_lived_in_database(path: Path, clock: ManualClock) -> tuple[int, int]:
    """Members with grants, takes, refills, finished and running jobs; (jobs, ledger rows)."""
    db = await SqliteDatabase.open(path)
    economy = Economy(db, clock, path.parent)
    await economy.ledger.grant(GUILD, ALICE, 40, "gift", actor_id=1)
    await economy.ledger.take(GUILD, BOB, 5, "correction", actor_id=1)
    for user in (ALICE, BOB, ALICE):
        await economy.start(user)
    await economy.finish_all()
    clock.advance(86_400)
    await economy.start(ALICE)  # refilled, then left queued: in flight when moved
    jobs = await db.fetchone("SELECT COUNT(*) AS n FROM jobs")
    ledger = await db.fetchone("SELECT COUNT(*) AS n FROM ledger")
    await db.close()
    assert jobs is not None
    assert ledger is not None
    return jobs["n"], ledger["n"]


async def test_a_move_copies_every_row_and_the_bot_carries_on(
    tmp_path: Path, postgres: Schema, clock: ManualClock
) -> None:
    source = tmp_path / "bot.sqlite3"
    jobs, ledger_rows = await a_lived_in_database(source, clock)

    moved = await move(source, postgres.url)

    assert moved.rows["jobs"] == jobs == 4
    assert moved.rows["ledger"] == ledger_rows
    assert moved.rows["refills"] >= 2
    assert moved.members == 2
    db = await PostgresDatabase.open(postgres.url)
    try:
        await db.read(check_ledger_invariants)
        economy = Economy(db, clock, tmp_path)
        before = await economy.ledger.balance(GUILD, ALICE)
        granted = await economy.ledger.grant(GUILD, ALICE, 3, "after the move", actor_id=1)
        assert granted.balance == before.balance + 3
        newest = await db.fetchone("SELECT MAX(id) AS id FROM ledger")
        assert newest is not None
        assert newest["id"] == ledger_rows + 1
        await economy.finish_all()  # the job that was queued when the database moved
        states = await db.fetchall("SELECT state FROM jobs")
        assert {row["state"] for row in states} == {"succeeded"}
        await db.read(check_ledger_invariants)
    finally:
        await db.close()


async def test_a_second_move_into_the_same_database_is_refused(
    tmp_path: Path, postgres: Schema, clock: ManualClock
) -> None:
    source = tmp_path / "bot.sqlite3"
    await a_lived_in_database(source, clock)
    await move(source, postgres.url)
    with pytest.raises(MoveError, match="not empty"):
        await move(source, postgres.url)


async def test_a_missing_source_is_named(tmp_path: Path, postgres: Schema) -> None:
    with pytest.raises(MoveError, match="no SQLite database"):
        await move(tmp_path / "absent.sqlite3", postgres.url)


async def test_the_documented_command(tmp_path: Path, postgres: Schema, clock: ManualClock) -> None:
    source = tmp_path / "bot.sqlite3"
    await a_lived_in_database(source, clock)
    command = [sys.executable, "-m", "bot.db.move", "--from", str(source), "--to", postgres.url]
    done = await asyncio.to_thread(_run, command)
    assert done.returncode == 0, done.stderr
    assert "members' balances" in done.stdout
    assert "match" in done.stdout
    again = await asyncio.to_thread(_run, command)
    assert again.returncode == 1
    assert again.stderr.startswith("Cannot move: the PostgreSQL database is not empty")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
