"""SQL for jobs; nothing outside this module writes the jobs table."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from bot.db import Database, Transaction
from bot.jobs.models import Job, JobOrder, JobState, request_to_json

ACTIVE_STATES = (JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING)


class JobStore:
    """Reads and writes job rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(
        self, tx: Transaction, job_id: str, order: JobOrder, price: int, now: float
    ) -> None:
        """Record a new queued job."""
        await tx.execute(
            "INSERT INTO jobs (id, interaction_id, guild_id, channel_id, user_id, locale, "
            "provider, request_json, price, state, next_poll_at, created_at, upload_limit, "
            "callback_token, parent_job_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
            (
                job_id,
                order.interaction_id,
                order.guild_id,
                order.channel_id,
                order.user_id,
                order.locale,
                order.provider,
                request_to_json(order.request),
                price,
                now,
                now,
                order.upload_limit,
                secrets.token_urlsafe(24),
                order.parent_job_id,
            ),
        )

    async def get(self, job_id: str) -> Job | None:
        """One job by id."""
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(row) if row else None

    async def get_in(self, tx: Transaction, job_id: str) -> Job:
        """One job by id, as the transaction sees it."""
        row = await tx.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        assert row is not None, f"job {job_id} vanished inside a transaction"
        return Job.from_row(row)

    async def find_in(self, tx: Transaction, job_id: str) -> Job | None:
        """One job by id inside a transaction, or None."""
        row = await tx.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(row) if row else None

    async def by_interaction(self, tx: Transaction, interaction_id: int) -> Job | None:
        """The job a given interaction already created, if any."""
        row = await tx.fetchone("SELECT * FROM jobs WHERE interaction_id = ?", (interaction_id,))
        return Job.from_row(row) if row else None

    async def for_member(
        self, guild_id: int, user_id: int, limit: int = 10, *, offset: int = 0
    ) -> list[Job]:
        """A member's jobs, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (guild_id, user_id, limit, offset),
        )
        return [Job.from_row(row) for row in rows]

    async def due(self, now: float) -> list[Job]:
        """Active jobs whose next step is due."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE state IN (?, ?) AND next_poll_at <= ? ORDER BY next_poll_at",
            (JobState.QUEUED, JobState.RUNNING, now),
        )
        return [Job.from_row(row) for row in rows]

    async def running(self, provider: str, *, due_before: float) -> list[Job]:
        """A provider's running jobs whose next poll is due before a time."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE state = ? AND provider = ? AND next_poll_at <= ?",
            (JobState.RUNNING, provider, due_before),
        )
        return [Job.from_row(row) for row in rows]

    async def queue_position(self, job: Job) -> int:
        """1 + the bot's unfinished jobs created before this one."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS ahead FROM jobs WHERE state IN (?, ?, ?) AND created_at < ?",
            (*ACTIVE_STATES, job.created_at),
        )
        return 1 + (row["ahead"] if row else 0)

    async def typical_seconds(self, provider: str, model: str, sample: int = 20) -> float | None:
        """Average time recent successful jobs of a model took, or None without history."""
        row = await self._db.fetchone(
            "SELECT AVG(finished_at - created_at) AS seconds FROM ("
            "  SELECT finished_at, created_at FROM jobs"
            "  WHERE state = ? AND provider = ? AND json_extract(request_json, '$.model') = ?"
            "  ORDER BY finished_at DESC LIMIT ?)",
            (JobState.SUCCEEDED, provider, model, sample),
        )
        return row["seconds"] if row and row["seconds"] is not None else None

    async def schedule(self) -> list[tuple[str, float]]:
        """(job id, when its next step is due) for every active job."""
        rows = await self._db.fetchall(
            "SELECT id, next_poll_at FROM jobs WHERE state IN (?, ?) AND next_poll_at IS NOT NULL",
            (JobState.QUEUED, JobState.RUNNING),
        )
        return [(row["id"], row["next_poll_at"]) for row in rows]

    async def in_state(self, state: JobState) -> list[Job]:
        """Every job in one state."""
        rows = await self._db.fetchall("SELECT * FROM jobs WHERE state = ?", (state,))
        return [Job.from_row(row) for row in rows]

    async def undelivered(self) -> list[Job]:
        """Finished jobs whose outcome has not reached the member yet."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE delivered_at IS NULL AND state IN (?, ?, ?)",
            (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED),
        )
        return [Job.from_row(row) for row in rows]

    async def update(
        self,
        tx: Transaction,
        job_id: str,
        *,
        expect: Iterable[JobState] | None = None,
        **fields: Any,
    ) -> bool:
        """Set columns on a job; with `expect`, only if it is still in one of those states."""
        assignments = ", ".join(f"{name} = ?" for name in fields)
        params: list[Any] = [_column_value(v) for v in fields.values()]
        sql = f"UPDATE jobs SET {assignments} WHERE id = ?"
        params.append(job_id)
        if expect is not None:
            states = list(expect)
            sql += f" AND state IN ({', '.join('?' for _ in states)})"
            params.extend(states)
        return await tx.execute(sql, params) == 1


def _column_value(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value
