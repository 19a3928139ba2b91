"""Runs the real bot (`python -m bot`) as a child process against loopback fakes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# The process launcher ships with the product (the offline sandbox uses it too).
from bot.sandbox.process import BotProcess, bot_env

__all__ = ["BotDatabase", "BotProcess", "bot_env"]


class BotDatabase:
    """Read-only look into the bot's SQLite file (WAL lets us read while it writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
        """Run a read query and return plain dicts."""
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
        """Cached balances equal the ledger, no hold resolved twice, terminal jobs settled."""
        for member in self.rows("SELECT guild_id, user_id, balance, held FROM members"):
            summed = self.balance(member["guild_id"], member["user_id"])  # type: ignore[arg-type]
            assert summed == (member["balance"], member["held"]), member
            assert member["held"] <= member["balance"]  # type: ignore[operator]
        doubles = self.rows(
            "SELECT job_id, COUNT(*) AS n FROM ledger WHERE kind IN ('capture', 'release') "
            "GROUP BY job_id HAVING n > 1"
        )
        assert doubles == []
        unsettled = self.rows(
            "SELECT j.id FROM jobs j JOIN holds h ON h.job_id = j.id "
            "WHERE j.state IN ('succeeded', 'failed', 'cancelled') AND h.state = 'open'"
        )
        assert unsettled == []
