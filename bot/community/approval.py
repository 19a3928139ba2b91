"""Moderator approval: a held job waits until it is approved, denied, expires or is withdrawn.

Each request is decided exactly once: the decision is a guarded state change (`WHERE state =
'pending'`) made in the same transaction as its effect on the job (made due, or cancelled with
its hold released), so two moderators clicking at once, or a click racing the expiry, settle
it once. What a decision does to the job goes through a `JobGate`, so the job service can
replace the default (`SqlJobGate`) with its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.community.log import CommunityDeps, Logged
from bot.db import Params, Transaction, execute_alone
from bot.errors import UserError
from bot.i18n import Text, tr
from bot.jobs import store as job_store
from bot.ledger import Ledger

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
EXPIRED = "expired"
WITHDRAWN = "withdrawn"

DENIED_CODE = "approval_denied"
EXPIRED_CODE = "approval_expired"


class ApprovalError(UserError):
    """An approval action was refused; the message says why."""


class JobGate(Protocol):
    """What approval needs from the job side, all inside the caller's transaction."""

    async def park_in(self, tx: Transaction, job_id: str) -> None:
        """Keep a just-created job from being submitted until it is released or approved."""

    async def approve_in(self, tx: Transaction, job_id: str, now: float) -> bool:
        """Let the job be submitted; False if it is no longer waiting (e.g. cancelled)."""

    async def reject_in(
        self, tx: Transaction, job_id: str, code: str, message: str, now: float
    ) -> bool:
        """End the job unsubmitted, release its hold, tell the member `message` later."""

    def after_commit(self) -> None:
        """Called once a decision is committed (e.g. wake the runner)."""


class SqlJobGate:
    """The default gate, for the current runner: a queued job with no `next_poll_at` is parked.

    The runner only takes queued jobs whose `next_poll_at` is due, so clearing it parks a job
    and setting it to now releases it. Rejection cancels the job and releases its hold; the
    runner then delivers the cancellation (with `message`) like any other finished job.
    """

    def __init__(self, ledger: Ledger, *, wake: Callable[[], None] | None = None) -> None:
        self._ledger = ledger
        self._wake = wake

    async def park_in(self, tx: Transaction, job_id: str) -> None:
        """Clear the job's due time so the runner leaves it alone."""
        await job_store.park_in(tx, job_id)

    async def approve_in(self, tx: Transaction, job_id: str, now: float) -> bool:
        """Make the job due now."""
        return await job_store.approve_in(tx, job_id, now)

    async def reject_in(
        self, tx: Transaction, job_id: str, code: str, message: str, now: float
    ) -> bool:
        """Cancel the queued job and give its credits back, in this transaction."""
        changed = await job_store.reject_in(tx, job_id, code, message, now)
        if changed:
            await self._ledger.resolve_in(tx, job_id, "released", f"refund: {code}")
        return bool(changed)

    def after_commit(self) -> None:
        """Wake the runner so it submits an approved job or delivers a cancelled one."""
        if self._wake is not None:
            self._wake()


@dataclass(frozen=True)
class ApprovalRequest:
    """A job waiting for (or past) a moderator's decision."""

    job_id: str
    guild_id: int
    user_id: int
    channel_id: int
    reason: str
    state: str
    created_at: float
    expires_at: float
    decided_at: float | None
    decided_by: int | None
    decision_reason: str | None
    message_id: int | None
    message_channel_id: int | None


@dataclass(frozen=True)
class Decision:
    """What a decision did; `changed` is False when the request had already been decided."""

    request: ApprovalRequest
    changed: bool

    @property
    def state(self) -> str:
        """The request's state now."""
        return self.request.state


_COLUMNS = (
    "job_id, guild_id, user_id, channel_id, reason, state, created_at, expires_at, decided_at, "
    "decided_by, decision_reason, message_id, message_channel_id"
)


class ApprovalQueue(Logged):
    """Requests for approval: created with the job, decided once, expired when left too long."""

    def __init__(self, deps: CommunityDeps, gate: JobGate) -> None:
        super().__init__(deps)
        self._gate = gate
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` after a request is created or decided (e.g. to post or edit it)."""
        self._listeners.append(listener)

    def notify(self) -> None:
        """Tell listeners that requests changed (call after the creating transaction commits)."""
        for listener in self._listeners:
            listener()

    # -- the seam with job creation --------------------------------------------------------------

    async def on_job_created_in(
        self,
        tx: Transaction,
        *,
        job_id: str,
        guild_id: int,
        user_id: int,
        channel_id: int,
        reason: str,
        timeout_seconds: float,
    ) -> ApprovalRequest:
        """Inside the job's creating transaction: park the job and open its request."""
        now = self._clock()
        await tx.execute(
            "INSERT INTO approval_requests (job_id, guild_id, user_id, channel_id, reason, "
            "state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
            (job_id, guild_id, user_id, channel_id, reason, now, now + timeout_seconds),
        )
        await self._gate.park_in(tx, job_id)
        await self._log.record_in(
            tx,
            guild_id,
            None,
            "approval requested",
            f"video `{job_id}` by <@{user_id}> waits for approval ({reason})",
            target_user_id=user_id,
            job_id=job_id,
        )
        request = await self.get_in(tx, job_id)
        assert request is not None
        return request

    async def withdraw_in(self, tx: Transaction, job_id: str, actor_id: int | None) -> bool:
        """The job ended some other way (the member cancelled it): close its request."""
        changed = await tx.execute(
            "UPDATE approval_requests SET state = 'withdrawn', decided_at = ?, decided_by = ? "
            "WHERE job_id = ? AND state = 'pending'",
            (self._clock(), actor_id, job_id),
        )
        if changed:
            request = await self.get_in(tx, job_id)
            assert request is not None
            await self._log.record_in(
                tx,
                request.guild_id,
                actor_id,
                "approval withdrawn",
                f"video `{job_id}` by <@{request.user_id}> was cancelled before a decision",
                target_user_id=request.user_id,
                job_id=job_id,
            )
        return bool(changed)

    # -- decisions -------------------------------------------------------------------------------

    async def get_in(self, tx: Transaction, job_id: str) -> ApprovalRequest | None:
        """One request, locked until this transaction ends (what it decides stays true)."""
        row = await tx.fetchone(
            f"SELECT {_COLUMNS} FROM approval_requests WHERE job_id = ? FOR UPDATE", (job_id,)
        )
        return ApprovalRequest(*row) if row else None

    async def get(self, job_id: str) -> ApprovalRequest | None:
        """One request."""
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM approval_requests WHERE job_id = ?", (job_id,)
        )
        return ApprovalRequest(*row) if row else None

    async def decide(
        self, job_id: str, *, approve: bool, actor_id: int | None, reason: str | None = None
    ) -> Decision:
        """Approve or deny a pending request, once; a repeated decision changes nothing."""
        if not approve and not (reason and reason.strip()):
            raise ApprovalError(Text("community.approval.needs_reason"))
        decision = await self._db.run(
            self.decide_in, job_id, APPROVED if approve else DENIED, actor_id, reason
        )
        if decision.changed:
            self._gate.after_commit()
            self.notify()
        return decision

    async def decide_in(
        self,
        tx: Transaction,
        job_id: str,
        outcome: str,
        actor_id: int | None,
        reason: str | None,
    ) -> Decision:
        """The decision inside the caller's transaction (call `gate.after_commit` after it)."""
        request = await self.get_in(tx, job_id)
        if request is None:
            raise ApprovalError(Text("community.approval.not_pending", job=job_id))
        if request.state != PENDING:
            return Decision(request, changed=False)
        now = self._clock()
        reason = (reason or "").strip() or None
        final = outcome
        if outcome == APPROVED:
            if not await self._gate.approve_in(tx, job_id, now):
                final = WITHDRAWN
        else:
            code = DENIED_CODE if outcome == DENIED else EXPIRED_CODE
            # A denial keeps the moderator's words; the card sets them in the member's language.
            message = (reason or "—") if outcome == DENIED else tr("en", f"failure.{code}")
            if not await self._gate.reject_in(tx, job_id, code, message, now):
                final = WITHDRAWN
        # The guard makes this the one decision, whoever else tries at the same time.
        changed = await tx.execute(
            "UPDATE approval_requests SET state = ?, decided_at = ?, decided_by = ?, "
            "decision_reason = ? WHERE job_id = ? AND state = 'pending'",
            (final, now, actor_id, reason, job_id),
        )
        if not changed:  # pragma: no cover - get_in's row lock makes this unreachable
            raise ApprovalError(Text("community.approval.raced"))
        words = {
            APPROVED: "approved",
            DENIED: "denied",
            EXPIRED: "expired undecided; hold released",
            WITHDRAWN: "closed: the video had already ended",
        }
        await self._log.record_in(
            tx,
            request.guild_id,
            actor_id,
            f"approval {final}",
            f"video `{job_id}` by <@{request.user_id}> {words[final]}",
            target_user_id=request.user_id,
            job_id=job_id,
            reason=reason,
        )
        updated = await self.get_in(tx, job_id)
        assert updated is not None
        return Decision(updated, changed=True)

    async def expire_due(self) -> list[Decision]:
        """Release every request left undecided past its time; each exactly once."""
        now = self._clock()
        rows = await self._db.fetchall(
            "SELECT job_id FROM approval_requests WHERE state = 'pending' AND expires_at <= ?",
            (now,),
        )
        decisions = []
        for row in rows:
            decision = await self._db.run(self.decide_in, row["job_id"], EXPIRED, None, None)
            if decision.changed:
                decisions.append(decision)
        if decisions:
            self._gate.after_commit()
            self.notify()
        return decisions

    async def next_expiry(self) -> float | None:
        """When the next pending request expires."""
        row = await self._db.fetchone(
            "SELECT MIN(expires_at) AS at FROM approval_requests WHERE state = 'pending'"
        )
        return row["at"] if row and row["at"] is not None else None

    async def unposted(self) -> list[ApprovalRequest]:
        """Pending requests not yet shown in a moderators' channel."""
        return await self._select("state = 'pending' AND message_id IS NULL ORDER BY created_at")

    async def decided_with_message(self, since: float) -> list[ApprovalRequest]:
        """Requests decided since `since` that have a moderators' message to update."""
        return await self._select(
            "state != 'pending' AND message_id IS NOT NULL AND decided_at >= ?", (since,)
        )

    async def mark_posted(self, job_id: str, channel_id: int, message_id: int) -> None:
        """Remember where the request was shown to moderators."""
        await execute_alone(
            self._db,
            "UPDATE approval_requests SET message_id = ?, message_channel_id = ? WHERE job_id = ?",
            (message_id, channel_id, job_id),
        )

    async def pending(self, guild_id: int) -> list[ApprovalRequest]:
        """A server's requests still waiting, oldest first."""
        return await self._select(
            "guild_id = ? AND state = 'pending' ORDER BY created_at", (guild_id,)
        )

    async def _select(self, where: str, params: Params = ()) -> list[ApprovalRequest]:
        """The requests `where` picks (the SQL after WHERE, with `?` placeholders)."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM approval_requests WHERE {where}", params
        )
        return [ApprovalRequest(*row) for row in rows]
