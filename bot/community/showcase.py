"""Showcase: members share finished videos (one share per job), others vote, boards rank them.

A share is `pending` while a moderator has to approve it, `ready` once it may be posted,
`posted` when it is in the showcase channel, or `denied`. A member's vote on a share is one row
keyed by (share, member), so it counts once however often they click or react.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.community.log import Logged
from bot.db import Dialect, Transaction, execute_alone
from bot.errors import UserError
from bot.i18n import Text

DAY = 86_400
# The same keys and words as /credits usage: 7d, 30d, all ("week" and "month" also accepted).
PERIODS: dict[str, int | None] = {"7d": 7 * DAY, "30d": 30 * DAY, "all": None}
PERIOD_LABELS = {"7d": "the last 7 days", "30d": "the last 30 days", "all": "all time"}
ALIASES = {"week": "7d", "month": "30d"}


class ShowcaseError(UserError):
    """A share or vote was refused; the message says why."""


@dataclass(frozen=True)
class SharedJob:
    """What a share shows of its job."""

    id: str
    guild_id: int
    channel_id: int
    user_id: int
    provider: str
    model: str
    prompt: str
    resolution: str
    result_url: str | None
    card_message_id: int | None
    result_message_id: int | None


@dataclass(frozen=True)
class Share:
    """One job shared to the showcase."""

    id: int
    guild_id: int
    job_id: str
    user_id: int
    state: str
    created_at: float
    decided_by: int | None
    decision_reason: str | None
    review_message_id: int | None
    review_channel_id: int | None
    channel_id: int | None
    message_id: int | None
    posted_at: float | None
    votes: int = 0


@dataclass(frozen=True)
class ShareOutcome:
    """What `share` did: `created` is False when the job had been shared before."""

    share: Share
    created: bool


@dataclass(frozen=True)
class VoteOutcome:
    """The member's vote after the click, and the share's count."""

    voted: bool
    changed: bool
    votes: int


@dataclass(frozen=True)
class BoardLine:
    """One row of a leaderboard."""

    rank: int
    share: Share
    job: SharedJob


_SHARE_COLUMNS = (
    "s.id, s.guild_id, s.job_id, s.user_id, s.state, s.created_at, s.decided_by, "
    "s.decision_reason, s.review_message_id, s.review_channel_id, s.channel_id, s.message_id, "
    "s.posted_at, (SELECT COUNT(*) FROM showcase_votes v WHERE v.share_id = s.id) AS votes"
)


def _job_sql(dialect: Dialect) -> str:
    """One finished job's row as a share shows it."""
    request = ", ".join(
        dialect.json_text("request_json", key) for key in ("model", "prompt", "resolution")
    )
    return (
        f"SELECT id, guild_id, channel_id, user_id, provider, {request}, result_url, "
        "card_message_id, result_message_id FROM jobs WHERE id = ?"
    )


class Showcase(Logged):
    """Shares, votes and leaderboards."""

    # -- sharing ---------------------------------------------------------------------------------

    async def share(
        self, guild_id: int, job_id: str, user_id: int, *, needs_approval: bool
    ) -> ShareOutcome:
        """Share the member's own finished video; again for the same job returns the share."""
        return await self._db.run(self.share_in, guild_id, job_id, user_id, needs_approval)

    async def share_in(
        self,
        tx: Transaction,
        guild_id: int,
        job_id: str,
        user_id: int,
        needs_approval: bool,
    ) -> ShareOutcome:
        """`share` inside the caller's transaction."""
        job_id = job_id.strip().lower()
        row = await tx.fetchone("SELECT guild_id, user_id, state FROM jobs WHERE id = ?", (job_id,))
        if row is None or row[0] != guild_id:
            raise ShowcaseError(Text("community.no_video", job=job_id))
        if row[1] != user_id:
            raise ShowcaseError(Text("community.showcase.not_yours", job=job_id))
        if row[2] != "succeeded":
            raise ShowcaseError(Text("community.showcase.not_finished", job=job_id))
        existing = await self._get_in(tx, "s.job_id = ?", job_id)
        if existing is not None:
            return ShareOutcome(existing, created=False)
        state = "pending" if needs_approval else "ready"
        await tx.execute(
            "INSERT INTO showcase_shares (guild_id, job_id, user_id, state, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (guild_id, job_id, user_id, state, self._clock()),
        )
        share = await self._get_in(tx, "s.job_id = ?", job_id)
        assert share is not None
        return ShareOutcome(share, created=True)

    async def decide(
        self, share_id: int, *, approve: bool, actor_id: int, reason: str | None = None
    ) -> tuple[Share, bool]:
        """A moderator approves (ready to post) or denies a pending share, once."""
        return await self._db.run(self._decide_in, share_id, approve, actor_id, reason)

    async def _decide_in(
        self,
        tx: Transaction,
        share_id: int,
        approve: bool,
        actor_id: int,
        reason: str | None,
    ) -> tuple[Share, bool]:
        share = await self._get_in(tx, "s.id = ?", share_id)
        if share is None:
            raise ShowcaseError(Text("community.showcase.gone"))
        changed = await tx.execute(
            "UPDATE showcase_shares SET state = ?, decided_by = ?, decision_reason = ? "
            "WHERE id = ? AND state = 'pending'",
            ("ready" if approve else "denied", actor_id, reason, share_id),
        )
        if changed:
            verb = "approved" if approve else "denied"
            await self._log.record_in(
                tx,
                share.guild_id,
                actor_id,
                f"share {verb}",
                f"showcase share of video `{share.job_id}` by <@{share.user_id}> {verb}",
                target_user_id=share.user_id,
                job_id=share.job_id,
                reason=reason,
            )
        updated = await self._get_in(tx, "s.id = ?", share_id)
        assert updated is not None
        return updated, bool(changed)

    async def mark_review_posted(self, share_id: int, channel_id: int, message_id: int) -> None:
        """Remember the share's approval request in the moderators' channel."""
        await execute_alone(
            self._db,
            "UPDATE showcase_shares SET review_channel_id = ?, review_message_id = ? WHERE id = ?",
            (channel_id, message_id, share_id),
        )

    async def mark_posted(self, share_id: int, channel_id: int, message_id: int) -> bool:
        """The share is in the showcase channel; False if it had been posted already."""
        return bool(
            await execute_alone(
                self._db,
                "UPDATE showcase_shares SET state = 'posted', channel_id = ?, message_id = ?, "
                "posted_at = ? WHERE id = ? AND state = 'ready'",
                (channel_id, message_id, self._clock(), share_id),
            )
        )

    async def to_post(self) -> list[Share]:
        """Shares approved (or not needing approval) and not yet posted."""
        return await self._select("s.state = 'ready' ORDER BY s.id")

    async def to_review(self) -> list[Share]:
        """Pending shares not yet shown to moderators."""
        return await self._select(
            "s.state = 'pending' AND s.review_message_id IS NULL ORDER BY s.id"
        )

    async def get(self, share_id: int) -> Share | None:
        """One share with its vote count."""
        found = await self._select("s.id = ?", share_id)
        return found[0] if found else None

    async def by_job(self, job_id: str) -> Share | None:
        """The share of a job, if it was shared."""
        found = await self._select("s.job_id = ?", job_id)
        return found[0] if found else None

    async def by_message(self, message_id: int) -> Share | None:
        """The posted share shown by a message (for reaction votes)."""
        found = await self._select("s.message_id = ? AND s.state = 'posted'", message_id)
        return found[0] if found else None

    async def job(self, job_id: str) -> SharedJob | None:
        """The job behind a share."""
        row = await self._db.fetchone(_job_sql(self._db.dialect), (job_id,))
        return SharedJob(*row) if row else None

    # -- votes -----------------------------------------------------------------------------------

    async def vote(self, share_id: int, user_id: int, want: bool | None = None) -> VoteOutcome:
        """Vote (`want` True), unvote (False) or toggle (None); counted once per member."""
        return await self._db.run(self._vote_in, share_id, user_id, want)

    async def _vote_in(
        self, tx: Transaction, share_id: int, user_id: int, want: bool | None
    ) -> VoteOutcome:
        # The share's row is locked while a vote is decided: on PostgreSQL two presses at once
        # would otherwise both find no vote and both add it.
        await tx.execute("SELECT 1 FROM showcase_shares WHERE id = ? FOR UPDATE", (share_id,))
        share = await self._get_in(tx, "s.id = ?", share_id)
        if share is None or share.state != "posted":
            raise ShowcaseError(Text("community.showcase.not_shared"))
        if share.user_id == user_id:
            raise ShowcaseError(Text("community.showcase.own_video"))
        has = await tx.fetchone(
            "SELECT 1 FROM showcase_votes WHERE share_id = ? AND user_id = ?", (share_id, user_id)
        )
        target = (not has) if want is None else want
        changed = False
        if target and not has:
            await tx.execute(
                "INSERT INTO showcase_votes (share_id, user_id, created_at) VALUES (?, ?, ?)",
                (share_id, user_id, self._clock()),
            )
            changed = True
        elif not target and has:
            await tx.execute(
                "DELETE FROM showcase_votes WHERE share_id = ? AND user_id = ?", (share_id, user_id)
            )
            changed = True
        count = await tx.fetchval(
            "SELECT COUNT(*) FROM showcase_votes WHERE share_id = ?", (share_id,)
        )
        return VoteOutcome(voted=target, changed=changed, votes=count)

    # -- leaderboards ----------------------------------------------------------------------------

    async def top(self, guild_id: int, period: str = "7d", limit: int = 10) -> list[BoardLine]:
        """Posted shares of the period (by when they were posted), most votes first."""
        period = ALIASES.get(period, period)
        if period not in PERIODS:
            raise ShowcaseError(Text("community.period", periods=", ".join(PERIODS)))
        reach = PERIODS[period]
        since = 0.0 if reach is None else self._clock() - reach
        shares = await self._select(
            "s.guild_id = ? AND s.state = 'posted' AND s.posted_at >= ? "
            "ORDER BY votes DESC, s.posted_at ASC, s.id ASC LIMIT ?",
            guild_id,
            since,
            limit,
        )
        lines = []
        for rank, share in enumerate(shares, start=1):
            job = await self.job(share.job_id)
            if job is not None:
                lines.append(BoardLine(rank, share, job))
        return lines

    # -- helpers ---------------------------------------------------------------------------------

    async def _get_in(self, tx: Transaction, where: str, *params: object) -> Share | None:
        row = await tx.fetchone(
            f"SELECT {_SHARE_COLUMNS} FROM showcase_shares s WHERE {where}", params
        )
        return Share(*row) if row else None

    async def _select(self, where: str, *params: object) -> list[Share]:
        rows = await self._db.fetchall(
            f"SELECT {_SHARE_COLUMNS} FROM showcase_shares s WHERE {where}", params
        )
        return [Share(*row) for row in rows]
