"""An audit trail of refusals and admin actions, for operators and moderators."""

from __future__ import annotations

from collections.abc import Callable

from bot.db import Database


class AuditLog:
    """Appends one line per refused request or admin action."""

    def __init__(self, db: Database, *, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    async def record(
        self, guild_id: int | None, user_id: int | None, action: str, detail: str
    ) -> None:
        """Append one audit line."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO audit (guild_id, user_id, action, detail, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (guild_id, user_id, action, detail[:1000], self._clock()),
            )
