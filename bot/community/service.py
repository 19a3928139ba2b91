"""The community facade: one object the composition root builds and the job service calls.

`admission` is the seam with job creation: called inside the job's own transaction, before the
job row and hold are written, it says whether the member may generate this prompt here, whether
a moderator must approve it first, and whether the provider's safety checker must stay on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from bot.background import BackgroundLoop
from bot.community.approval import ApprovalQueue, ApprovalRequest, JobGate, SqlJobGate
from bot.community.events import Events
from bot.community.log import CommunityDeps, ModerationLog
from bot.community.moderation import Bans, BlockedTerms, Reports, RuleMatch
from bot.community.pool import Pool
from bot.community.settings import CommunitySettings, SettingsStore
from bot.community.showcase import Showcase
from bot.db import Database, Transaction
from bot.i18n import Text
from bot.ledger import Ledger
from bot.providers.base import InvalidRequest

BANNED = "banned"
CHANNEL = "channel"
ROLE = "role"
BLOCKED_TERM = "blocked_term"


@dataclass(frozen=True)
class Admission:
    """The community's verdict on one video request."""

    allowed: bool
    reason_key: str | None = None  # BANNED, CHANNEL, ROLE or BLOCKED_TERM when refused
    message: Text | None = None  # what to tell the member (privately) when refused
    needs_approval: bool = False
    approval_reason: str | None = None  # why, for the moderators' request
    force_safety_checker: bool = True  # outside age-restricted channels: always on
    rule: RuleMatch | None = None  # the blocked-term rule that refused it (name, never term)

    def require(self) -> Admission:
        """This admission if it allows the video; else raise CommunityRefusal (shown privately)."""
        if not self.allowed:
            raise CommunityRefusal(self)
        return self


@dataclass(frozen=True)
class AdmissionQuery:
    """One video request as the community rules see it: who asks what, where."""

    guild_id: int
    channel_id: int
    user_id: int
    role_ids: Collection[int] | None
    joined_at: datetime | float | None
    prompt: str
    channel_is_age_restricted: bool
    parent_channel_id: int | None = None  # the thread's channel, when asked in a thread
    is_manager: bool = False  # managers skip the channel, role and approval rules


class CommunityRefusal(InvalidRequest):
    """A request the community rules refuse; an InvalidRequest, so it is shown privately."""

    def __init__(self, admission: Admission) -> None:
        super().__init__(admission.message or Text("community.refused.other"))
        self.admission = admission


def _timestamp(joined_at: datetime | float | None) -> float | None:
    if joined_at is None:
        return None
    if isinstance(joined_at, datetime):
        return joined_at.timestamp()
    return float(joined_at)


class Community:
    """Settings, moderation, approvals, showcase, pool and events of every server."""

    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        *,
        clock: Callable[[], float],
        wake_jobs: Callable[[], None] | None = None,
        gate: JobGate | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self.log = ModerationLog(db, clock=clock)
        deps = CommunityDeps(db, self.log, clock)
        self.settings = SettingsStore(deps)
        self.terms = BlockedTerms(deps)
        self.bans = Bans(deps)
        self.reports = Reports(deps)
        self.approvals = ApprovalQueue(deps, gate or SqlJobGate(ledger, wake=wake_jobs))
        self.pool = Pool(deps, ledger)
        self.showcase = Showcase(deps)
        self.events = Events(deps, self.pool)
        # The loops of community passes (moderation, showcase, events) wake on this clock; a
        # deadline still past due after a pass (another process has it) is looked at again
        # after 50 ms, not 5.
        self.background_loop = functools.partial(BackgroundLoop, clock=clock, floor=0.05)

    def now(self) -> float:
        """The community's clock."""
        return self._clock()

    # -- admission: the seam with job creation --------------------------------------------------

    async def admission_in(self, tx: Transaction, query: AdmissionQuery) -> Admission:
        """The verdict, read in the caller's transaction. Writes nothing."""
        guild_id = query.guild_id
        settings = await self.settings.get_in(tx, guild_id)
        force = not query.channel_is_age_restricted

        def refused(key: str, message: Text, rule: RuleMatch | None = None) -> Admission:
            """A refusal, with the safety checker as this channel needs it."""
            return Admission(False, key, message, force_safety_checker=force, rule=rule)

        ban = await self.bans.get_in(tx, guild_id, query.user_id)
        if ban is not None:
            return refused(
                BANNED,
                Text("community.refused.banned_why", reason=ban.reason)
                if ban.reason
                else Text("community.refused.banned"),
            )
        if not query.is_manager:
            if not settings.channel_allowed(query.channel_id, query.parent_channel_id):
                where = ", ".join(f"<#{c}>" for c in sorted(settings.channel_ids))
                return refused(CHANNEL, Text("community.refused.channel", channels=where))
            if not settings.role_allowed(query.role_ids or ()):
                roles = ", ".join(f"<@&{r}>" for r in sorted(settings.role_ids))
                return refused(ROLE, Text("community.refused.role", roles=roles))
        rule = await self.terms.match_in(tx, guild_id, query.prompt)
        if rule is not None:
            named = Text("community.refused.blocked_term", rule=rule.name)
            return refused(BLOCKED_TERM, named, rule)
        waits = (
            None
            if query.is_manager
            else settings.approval_needed(_timestamp(query.joined_at), self._clock())
        )
        return Admission(
            True,
            needs_approval=waits is not None,
            approval_reason=waits,
            force_safety_checker=force,
        )

    async def screen_in(self, tx: Transaction, query: AdmissionQuery) -> Admission:
        """The verdict on a request, inside a transaction; a refusal goes to the moderation log."""
        admission = await self.admission_in(tx, query)
        if not admission.allowed:
            user_id, channel_id, prompt = query.user_id, query.channel_id, query.prompt
            what = {
                BANNED: "banned member",
                CHANNEL: f"channel <#{channel_id}> not allowed",
                ROLE: "member has no allowed role",
                BLOCKED_TERM: f'rule "{admission.rule.name if admission.rule else "?"}"',
            }[admission.reason_key or BLOCKED_TERM]
            clipped = prompt if len(prompt) <= 200 else prompt[:199] + "…"
            await self.log.record_in(
                tx,
                query.guild_id,
                None,
                "prompt refused",
                f"<@{user_id}> in <#{channel_id}>: {what}; prompt: {clipped}",
                target_user_id=user_id,
            )
        return admission

    # -- after the job row exists -----------------------------------------------------------------

    async def on_job_created_in(
        self, tx: Transaction, job_id: str, query: AdmissionQuery, reason: str
    ) -> ApprovalRequest:
        """Inside the job's transaction, after its row and hold: park it for a moderator."""
        settings = await self.settings.get_in(tx, query.guild_id)
        return await self.approvals.on_job_created_in(
            tx,
            job_id=job_id,
            guild_id=query.guild_id,
            user_id=query.user_id,
            channel_id=query.channel_id,
            reason=reason,
            timeout_seconds=settings.approval_timeout_seconds,
        )

    async def on_job_cancelled_in(self, tx: Transaction, job_id: str, actor_id: int | None) -> bool:
        """Inside a cancel's transaction: close the job's approval request, if it has one.

        Call `approvals.notify()` after the commit so the moderators' message is updated.
        """
        return await self.approvals.withdraw_in(tx, job_id, actor_id)

    async def server_settings(self, guild_id: int) -> CommunitySettings:
        """The server's settings."""
        return await self.settings.get(guild_id)
