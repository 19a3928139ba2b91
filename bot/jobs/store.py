"""SQL for jobs; nothing outside this module writes the jobs table.

Every change of a job is a named transition. A step of the runner first *claims* the job (one
statement that finds it due, takes a lease and bumps its version) and commits its outcome only
while that claim still holds (`version` unchanged). Callbacks, cancellations and moderators'
decisions are transitions guarded by the job's state; each one bumps the version too, so a step
whose claim they overtook commits nothing. Any two of them racing on one job end with one effect.

On PostgreSQL several processes claim at once: a claim's inner SELECT locks what it finds and
skips rows another claim has locked (`FOR UPDATE SKIP LOCKED`); without it, a claim blocked on
a row would go on to take it again once the first commits, as the row's id still matches.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot.db import Database, Row, Transaction, execute_alone
from bot.jobs.models import DeliveryState, Job, JobOrder, JobState, request_to_json

ACTIVE_STATES = (JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING)
TERMINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)
_ACTIVE_SQL = "state IN ('queued', 'submitting', 'running')"
_DELIVERY_DUE_SQL = "delivery_state IN ('pending', 'delivering')"


@dataclass(frozen=True)
class Guard:
    """What a transition requires of the row: the claimed version, or one of some states."""

    version: int | None = None
    states: tuple[JobState, ...] | None = None
    delivery_states: tuple[DeliveryState, ...] | None = None

    @classmethod
    def claimed(cls, job: Job) -> Guard:
        """Only while the claim that read `job` still holds."""
        return cls(version=job.version)

    @classmethod
    def in_states(cls, *states: JobState) -> Guard:
        """Only while the job is in one of `states` (transitions from outside the runner)."""
        return cls(states=states)

    @classmethod
    def delivery_in(cls, *states: DeliveryState) -> Guard:
        """Only while the job's delivery is in one of `states`."""
        return cls(delivery_states=states)

    def sql(self) -> tuple[str, list[Any]]:
        """The WHERE clause (after `id = ?`) and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.version is not None:
            clauses.append("version = ?")
            params.append(self.version)
        if self.states is not None:
            clauses.append(f"state IN ({', '.join('?' for _ in self.states)})")
            params.extend(state.value for state in self.states)
        if self.delivery_states is not None:
            marks = ", ".join("?" for _ in self.delivery_states)
            clauses.append(f"delivery_state IN ({marks})")
            params.extend(state.value for state in self.delivery_states)
        return "".join(f" AND {c}" for c in clauses), params


async def transition_in(
    tx: Transaction, job_id: str, guard: Guard, *, keep_lease: bool = False, **cols: Any
) -> Job | None:
    """Apply a guarded change; return the job as it now is, or None if the guard failed.

    Column names come from this module's callers, never from input.
    """
    assignments = ["version = version + 1"]
    if not keep_lease:
        assignments.append("lease_owner = NULL")
    assignments += [f"{name} = ?" for name in cols]
    where, guard_params = guard.sql()
    row = await tx.fetchone(
        f"UPDATE jobs SET {', '.join(assignments)} WHERE id = ?{where} RETURNING *",
        [*(_column_value(v) for v in cols.values()), job_id, *guard_params],
    )
    return Job.from_row(row) if row else None


def finish_cols(state: JobState, now: float, **cols: Any) -> dict[str, Any]:
    """The columns every move into a terminal state sets: no next step, delivery pending."""
    return {
        "state": state,
        "finished_at": now,
        "next_poll_at": None,
        "delivery_state": "pending",
        "deliver_at": now,
        **cols,
    }


class JobStore:
    """Reads jobs, claims their steps, and applies their transitions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- creation and plain reads ----------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        """One job by id."""
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(row) if row else None

    async def for_member(
        self, guild_id: int, user_id: int, limit: int = 10, *, offset: int = 0
    ) -> list[Job]:
        """A member's jobs, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (guild_id, user_id, limit, offset),
        )
        return [Job.from_row(row) for row in rows]

    async def queue_position(self, job: Job) -> int:
        """1 + the jobs still waiting to be sent to a provider that were created before this one."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS ahead FROM jobs WHERE state = 'queued' "
            "AND next_poll_at IS NOT NULL AND created_at < ?",
            (job.created_at,),
        )
        return 1 + (row["ahead"] if row else 0)

    async def typical_seconds(self, provider: str, model: str, sample: int = 20) -> float | None:
        """Average time recent successful jobs of a model took, or None without history."""
        model_of_job = self._db.dialect.json_text("request_json", "model")
        row = await self._db.fetchone(
            "SELECT AVG(finished_at - created_at) AS seconds FROM ("
            "  SELECT finished_at, created_at FROM jobs"
            f"  WHERE state = ? AND provider = ? AND {model_of_job} = ?"
            "  ORDER BY finished_at DESC LIMIT ?) AS recent",
            (JobState.SUCCEEDED, provider, model, sample),
        )
        return row["seconds"] if row and row["seconds"] is not None else None

    async def next_due(self) -> float | None:
        """When the earliest step or delivery falls due (a lease's end counts), or None."""
        row = await self._db.fetchone(
            f"SELECT (SELECT MIN(next_poll_at) FROM jobs WHERE {_ACTIVE_SQL}) AS step, "
            f"(SELECT MIN(deliver_at) FROM jobs WHERE {_DELIVERY_DUE_SQL}) AS delivery"
        )
        times = [t for t in (row["step"], row["delivery"]) if t is not None] if row else []
        return min(times) if times else None

    # -- claims: find due and lease in one statement ------------------------------------------

    async def claim_steps(self, owner: str, now: float, until: float, limit: int) -> list[Job]:
        """Lease up to `limit` due submit/poll steps (including lapsed leases) to `owner`."""
        return await self._db.run(_claim_steps_in, owner, now, until, limit)

    async def claim_riders(
        self, provider: str, owner: str, horizon: float, until: float, limit: int
    ) -> list[Job]:
        """Lease a provider's unclaimed running jobs due before `horizon` (one batched poll)."""
        return await self._db.run(_claim_riders_in, provider, owner, horizon, until, limit)

    async def claim_deliveries(
        self, owner: str, now: float, until: float, limit: int, job_id: str | None = None
    ) -> list[Job]:
        """Lease due deliveries (or one job's, if given) to `owner`; each attempt is counted."""
        return await self._db.run(_claim_deliveries_in, owner, now, until, limit, job_id)

    async def renew(self, owner: str, until: float) -> int:
        """Push the end of every lease `owner` holds to `until`; return how many."""
        return await self._db.run(_renew_in, owner, until)

    async def release_leases(self, owner_prefix: str, now: float) -> int:
        """Make due now every step held by an earlier life of this process (it is dead)."""
        return await self._db.run(_release_leases_in, owner_prefix, now)

    # -- transitions ----------------------------------------------------------------------------

    async def apply(
        self, guard: Guard, job_id: str, *, keep_lease: bool = False, **cols: Any
    ) -> Job | None:
        """One guarded transition in its own transaction; the job after it, or None."""
        return await self._db.run(
            partial(transition_in, keep_lease=keep_lease, **cols), job_id, guard
        )

    async def record_card(self, job_id: str, message_id: int) -> None:
        """Remember which message shows the job's card (not a state change: no version bump)."""
        await execute_alone(
            self._db, "UPDATE jobs SET card_message_id = ? WHERE id = ?", (message_id, job_id)
        )


async def insert_in(tx: Transaction, job_id: str, order: JobOrder, price: int, now: float) -> None:
    """Record a new queued job, due now, inside the caller's transaction."""
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


async def get_in(tx: Transaction, job_id: str) -> Job | None:
    """One job by id, as the caller's transaction sees it."""
    row = await tx.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return Job.from_row(row) if row else None


async def by_interaction_in(tx: Transaction, interaction_id: int) -> Job | None:
    """The job an interaction already created, if any."""
    row = await tx.fetchone("SELECT * FROM jobs WHERE interaction_id = ?", (interaction_id,))
    return Job.from_row(row) if row else None


# -- the approval gate's side of the jobs table (called inside its transactions) ----------


async def park_in(tx: Transaction, job_id: str) -> None:
    """Park a queued job until a moderator decides: no due time, so no claim finds it."""
    await transition_in(tx, job_id, Guard.in_states(JobState.QUEUED), next_poll_at=None)


async def approve_in(tx: Transaction, job_id: str, now: float) -> bool:
    """Make a parked job due now; False if it is no longer waiting."""
    row = await tx.fetchone(
        "UPDATE jobs SET next_poll_at = ?, version = version + 1 "
        "WHERE id = ? AND state = 'queued' AND next_poll_at IS NULL RETURNING id",
        (now, job_id),
    )
    return row is not None


async def reject_in(tx: Transaction, job_id: str, code: str, message: str, now: float) -> bool:
    """End a queued job unsubmitted (the caller releases its hold in the same transaction)."""
    return (
        await transition_in(
            tx,
            job_id,
            Guard.in_states(JobState.QUEUED),
            **finish_cols(JobState.CANCELLED, now, failure_code=code, failure_message=message),
        )
        is not None
    )


async def _claim_steps_in(
    tx: Transaction, owner: str, now: float, until: float, limit: int
) -> list[Job]:
    # The lease's end becomes the step's due time: a step in flight is not due again until its
    # lease lapses, so this statement never even reads it (jobs_step_due is a partial index).
    rows = await tx.fetchall(
        "UPDATE jobs SET taken_from = lease_owner, lease_owner = ?, next_poll_at = ?, "
        "version = version + 1 "
        f"WHERE id IN (SELECT id FROM jobs WHERE {_ACTIVE_SQL} AND next_poll_at <= ? "
        "ORDER BY next_poll_at LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING *",
        (owner, until, now, limit),
    )
    return _oldest_first(rows)


async def _claim_riders_in(
    tx: Transaction, provider: str, owner: str, horizon: float, until: float, limit: int
) -> list[Job]:
    # Riders are only unleased jobs, so none is ever taken over from another owner.
    rows = await tx.fetchall(
        "UPDATE jobs SET taken_from = NULL, lease_owner = ?, next_poll_at = ?, "
        "version = version + 1 "
        f"WHERE id IN (SELECT id FROM jobs WHERE {_ACTIVE_SQL} AND next_poll_at <= ? "
        "AND state = 'running' AND provider = ? AND lease_owner IS NULL "
        "ORDER BY next_poll_at LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING *",
        (owner, until, horizon, provider, limit),
    )
    return _oldest_first(rows)


async def _claim_deliveries_in(
    tx: Transaction,
    owner: str,
    now: float,
    until: float,
    limit: int,
    job_id: str | None,
) -> list[Job]:
    only = " AND id = ?" if job_id is not None else ""
    params: list[Any] = [owner, until, now]
    if job_id is not None:
        params.append(job_id)
    params.append(limit)
    rows = await tx.fetchall(
        # The right-hand sides read the row as it was: still 'delivering' means the attempt
        # before never recorded its end; a lease_owner left means that attempt's lease lapsed.
        "UPDATE jobs SET may_have_sent = CASE delivery_state WHEN 'delivering' THEN 1 ELSE 0 END, "
        "taken_from = lease_owner, lease_owner = ?, delivery_state = 'delivering', deliver_at = ?, "
        "delivery_attempts = delivery_attempts + 1, version = version + 1 "
        f"WHERE id IN (SELECT id FROM jobs WHERE {_DELIVERY_DUE_SQL} AND deliver_at <= ?{only} "
        "ORDER BY deliver_at LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING *",
        params,
    )
    return _oldest_first(rows)


async def _renew_in(tx: Transaction, owner: str, until: float) -> int:
    steps = await tx.execute(
        f"UPDATE jobs SET next_poll_at = ? WHERE lease_owner = ? AND {_ACTIVE_SQL}",
        (until, owner),
    )
    deliveries = await tx.execute(
        "UPDATE jobs SET deliver_at = ? WHERE lease_owner = ? AND delivery_state = 'delivering'",
        (until, owner),
    )
    return steps + deliveries


async def _release_leases_in(tx: Transaction, owner_prefix: str, now: float) -> int:
    pattern = owner_prefix.replace("%", r"\%").replace("_", r"\_") + "%"
    steps = await tx.execute(
        f"UPDATE jobs SET next_poll_at = ? WHERE lease_owner LIKE ? ESCAPE '\\' AND {_ACTIVE_SQL}",
        (now, pattern),
    )
    deliveries = await tx.execute(
        "UPDATE jobs SET deliver_at = ? WHERE lease_owner LIKE ? ESCAPE '\\' "
        "AND delivery_state = 'delivering'",
        (now, pattern),
    )
    return steps + deliveries


def _oldest_first(rows: list[Row]) -> list[Job]:
    """Claimed jobs, oldest first: PostgreSQL returns an UPDATE's rows in no set order."""
    return sorted((Job.from_row(row) for row in rows), key=lambda job: job.created_at)


def _column_value(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value
