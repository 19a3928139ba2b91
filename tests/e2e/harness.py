"""Runs the real bot (`python -m bot`) as a child process against loopback fakes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# The process launcher ships with the product (the offline sandbox uses it too).
from simulator.process import BotProcess, bot_env

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
            "GROUP BY job_id HAVING n > 1"
        )
        assert doubles == []
        wrong = self.rows(
            "SELECT j.id, j.state, j.delivery_state, h.state AS hold FROM jobs j "
            "LEFT JOIN holds h ON h.job_id = j.id WHERE h.state IS NOT CASE "
            "WHEN j.state IN ('failed', 'cancelled') THEN 'released' "
            "WHEN j.state = 'succeeded' AND j.delivery_state IN ('delivered', 'parked') "
            "THEN 'captured' ELSE 'open' END"
        )
        assert wrong == [], wrong
        # The ledger says the same as the holds: one resolving row, of the matching kind.
        mismatched = self.rows(
            "SELECT h.job_id, h.state, "
            "(SELECT GROUP_CONCAT(kind) FROM ledger l WHERE l.job_id = h.job_id "
            " AND kind IN ('capture', 'release')) AS rows FROM holds h "
            "WHERE COALESCE(rows, '') IS NOT CASE h.state WHEN 'captured' THEN 'capture' "
            "WHEN 'released' THEN 'release' ELSE '' END"
        )
        assert mismatched == [], mismatched
