"""Runs the real bot (`python -m bot`) as a child process against loopback fakes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from bot.db import is_postgres_url
from bot.db.dialect import POSTGRES

# The process launcher ships with the product (the offline sandbox uses it too).
from simulator.process import BotProcess, bot_env
from tests.loops import blocking

__all__ = ["BotDatabase", "BotProcess", "bot_env"]


class BotDatabase:
    """A look into the bot's database from outside: its SQLite file (WAL lets us read while it
    writes), or the PostgreSQL database at a `postgresql://` URL. Queries use `?` placeholders."""

    def __init__(self, where: Path | str) -> None:
        self.url = where if is_postgres_url(where) else None
        self.path = Path(where)

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
        """Run a read query and return plain dicts."""
        if self.url is not None:
            return blocking(_postgres_rows(self.url, sql, params))
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(sql, params)]
        finally:
            conn.close()

    def balance(self, guild_id: int, user_id: int) -> tuple[int, int]:
        """(balance, held) from the ledger itself, not the cached columns."""
        rows = self.rows(
            "SELECT COALESCE(SUM(balance_delta), 0) AS b, COALESCE(SUM(held_delta), 0) AS h "
            "FROM ledger WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return int(rows[0]["b"]), int(rows[0]["h"])  # type: ignore[arg-type]

    def check_invariants(self) -> None:
        """Cached balances equal the ledger, no hold resolved twice, each hold as its job says.

        A job's hold stays open while the job runs and, once it succeeded, until its video is
        delivered (or parked); a delivered success is captured; a failure or cancellation is
        released.
        """
        for member in self.rows("SELECT guild_id, user_id, balance, held FROM members"):
            summed = self.balance(member["guild_id"], member["user_id"])  # type: ignore[arg-type]
            assert summed == (member["balance"], member["held"]), member
            assert member["held"] <= member["balance"]  # type: ignore[operator]
        doubles = self.rows(
            "SELECT job_id, COUNT(*) AS n FROM ledger WHERE kind IN ('capture', 'release') "
            "GROUP BY job_id HAVING COUNT(*) > 1"
        )
        assert doubles == []
        wrong = self.rows(
            "SELECT j.id, j.state, j.delivery_state, h.state AS hold FROM jobs j "
            "LEFT JOIN holds h ON h.job_id = j.id WHERE h.state IS DISTINCT FROM CASE "
            "WHEN j.state IN ('failed', 'cancelled') THEN 'released' "
            "WHEN j.state = 'succeeded' AND j.delivery_state IN ('delivered', 'parked') "
            "THEN 'captured' ELSE 'open' END"
        )
        assert wrong == [], wrong
        # The ledger says the same as the holds: one resolving row, of the matching kind.
        mismatched = self.rows(
            "SELECT h.job_id, h.state, "
            "(SELECT COUNT(*) FROM ledger l WHERE l.job_id = h.job_id "
            " AND kind IN ('capture', 'release')) AS resolving, "
            "(SELECT MIN(kind) FROM ledger l WHERE l.job_id = h.job_id "
            " AND kind IN ('capture', 'release')) AS kind FROM holds h"
        )
        expected = {"captured": (1, "capture"), "released": (1, "release"), "open": (0, None)}
        wrong_rows = [
            row
            for row in mismatched
            if (row["resolving"], row["kind"]) != expected[str(row["state"])]
        ]
        assert wrong_rows == [], wrong_rows


async def _postgres_rows(url: str, sql: str, params: tuple[object, ...]) -> list[dict[str, object]]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return [dict(row) for row in await conn.fetch(POSTGRES.sql(sql), *params)]
    finally:
        await conn.close()
