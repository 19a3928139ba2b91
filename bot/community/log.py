"""The moderation log: every moderation and admin action, relayed to the audit-log channel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

from bot.db import Database, Transaction, execute_alone

MAX_DETAIL = 1000

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class LogLine:
    """One recorded action."""

    id: int
    guild_id: int
    actor_id: int | None
    action: str
    target_user_id: int | None
    job_id: str | None
    detail: str
    created_at: float
    audit_channel_id: int | None


class ModerationLog:
    """Appends one line per action, in the transaction of the action itself."""

    def __init__(self, db: Database, *, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        # `record_in` in a transaction of its own, for callers without one.
        self.record = _in_own_transaction(db, self.record_in)

    async def record_in(
        self,
        tx: Transaction,
        guild_id: int,
        actor_id: int | None,
        action: str,
        detail: str,
        *,
        target_user_id: int | None = None,
        job_id: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Append a line (ending with `reason`, if any) meant for the audit-log channel now set."""
        if reason:
            detail += f": {reason}"
        row = await tx.fetchone(
            "SELECT audit_channel_id FROM community_settings WHERE guild_id = ?", (guild_id,)
        )
        return await tx.insert(
            "INSERT INTO moderation_log (guild_id, actor_id, action, target_user_id, job_id, "
            "detail, created_at, audit_channel_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                actor_id,
                action,
                target_user_id,
                job_id,
                detail[:MAX_DETAIL],
                self._clock(),
                row[0] if row else None,
            ),
        )

    async def recent(self, guild_id: int, limit: int = 20) -> list[LogLine]:
        """The server's latest lines, newest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM moderation_log WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, limit),
        )
        return [LogLine(*row) for row in rows]

    async def unrelayed(self, limit: int = 20) -> list[LogLine]:
        """Lines still to be posted in the audit-log channel they were meant for, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM moderation_log "
            "WHERE audit_channel_id IS NOT NULL AND relayed_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [LogLine(*row) for row in rows]

    async def mark_relayed(self, line_id: int, error: str | None = None) -> None:
        """The line was posted (or could not be, for `error`); it is not tried again."""
        await execute_alone(
            self._db,
            "UPDATE moderation_log SET relayed_at = ?, relay_error = ? "
            "WHERE id = ? AND relayed_at IS NULL",
            (self._clock(), error[:200] if error else None, line_id),
        )


@dataclass(frozen=True)
class CommunityDeps:
    """What every community part works on: the database, the moderation log and the clock."""

    db: Database
    log: ModerationLog
    clock: Callable[[], float]


class Logged:
    """A community part whose actions go to the moderation log; keeps its deps private."""

    def __init__(self, deps: CommunityDeps) -> None:
        self._db = deps.db
        self._log = deps.log
        self._clock = deps.clock


def _in_own_transaction(
    db: Database, work: Callable[Concatenate[Transaction, P], Awaitable[R]]
) -> Callable[P, Awaitable[R]]:
    """`work` without its transaction argument: each call runs in a write transaction."""

    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return await db.run(partial(work, **kwargs), *args)

    return call


_COLUMNS = (
    "id, guild_id, actor_id, action, target_user_id, job_id, detail, created_at, audit_channel_id"
)
