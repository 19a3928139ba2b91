"""Fixtures for domain tests: a real SQLite file with the real migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import Database
from bot.db.postgres import PostgresDatabase
from bot.db.sqlite import SqliteDatabase
from bot.ledger import Ledger


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The real database on each engine: a SQLite file, and this run's PostgreSQL schema."""
    database: Database
    if request.param == "sqlite":
        database = await SqliteDatabase.open(tmp_path / "bot.sqlite3")
    else:
        schema = request.getfixturevalue("postgres")
        database = await PostgresDatabase.open(schema.url)
    yield database
    await database.close()


@pytest.fixture
def ledger(db: Database, clock: ManualClock) -> Ledger:
    return Ledger(db, starting_credits=100, clock=clock)
