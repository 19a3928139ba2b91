"""Starting jobs: check, price, and hold credits in the same transaction as the job row."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Final

from bot.community.service import Admission, AdmissionQuery, Community, CommunityRefusal
from bot.credits.quotas import Quotas
from bot.db import Transaction
from bot.errors import UserError
from bot.i18n import Text, text_of
from bot.jobs import store as job_store
from bot.jobs.deps import JobDeps, OnJobDeps
from bot.jobs.models import DeliveryState, Job, JobOrder, JobState, new_job_id
from bot.jobs.store import ACTIVE_STATES, Guard, finish_cols
from bot.ledger import InsufficientCredits
from bot.pricing import PriceMissing, PriceTable
from bot.providers.base import (
    Cancellable,
    InvalidRequest,
    Provider,
    ProviderError,
    VideoRequest,
)

log = logging.getLogger(__name__)


def screened_text(request: VideoRequest) -> str:
    """Everything a member typed that server rules screen: the prompt and negative prompt."""
    return "\n".join(part for part in (request.prompt, request.negative_prompt) if part)


class CancelRefused(UserError):
    """The job cannot be cancelled by this member (not theirs, or already finished).

    Raised with a `Text` (`cancel.*`): `str(exc)` is English; the cog shows the member's language.
    """


@dataclass(frozen=True)
class Cancellation:
    """What cancelling a job did."""

    job: Job
    refunded: int
    # None: the provider had not been asked yet; False: it may still finish (ignored, free).
    provider_stopped: bool | None


@dataclass(frozen=True)
class Quote:
    """What a request will cost, once it has passed every check."""

    provider: Provider
    price: int


class JobService(OnJobDeps):
    """The one entry point for creating and reading jobs."""

    def __init__(
        self,
        deps: JobDeps,
        prices: PriceTable,
        *,
        wake_runner: Callable[[], None],
        quotas: Quotas | None = None,
        community: Community | None = None,
    ) -> None:
        super().__init__(deps)
        # The price table members are charged from.
        self.prices: Final = prices
        self._wake_runner = wake_runner
        self._quotas = quotas
        self._community = community

    def quote(self, order: JobOrder) -> Quote:
        """Check the order against the provider and price table, or raise InvalidRequest."""
        provider = self._providers.get(order.provider)
        if provider is None:
            offered = ", ".join(sorted(self._providers)) or "none"
            raise InvalidRequest(
                Text("validation.provider_unavailable", provider=order.provider, choices=offered)
            )
        provider.validate(order.request)
        request = order.request
        try:
            price = self.prices.price(
                provider.name, request.model, request.resolution, request.duration
            )
        except PriceMissing as exc:
            raise InvalidRequest(Text("validation.price_missing", reason=text_of(exc))) from None
        return Quote(provider=provider, price=price)

    async def start(self, order: JobOrder, *, role_ids: Collection[int] | None = None) -> Job:
        """Create the job and hold its price atomically; a repeated interaction returns its job.

        Raises InvalidRequest (QuotaExceeded for a limit) or InsufficientCredits with nothing
        held. `role_ids` are the member's roles, for tiers and refills (None: unknown).
        """
        quote = self.quote(order)
        # One thread hop and one (group) commit for the whole decision: checks, hold, job row.
        outcome = await self._db.run(self._start_in, order, role_ids, quote.price, self._clock())
        if isinstance(outcome, Admission):
            # Refused by the server's rules: committed so the moderation log keeps the attempt.
            raise CommunityRefusal(outcome)
        job, parked = outcome
        if parked and self._community is not None:
            self._community.approvals.notify()
        log.info(
            "job %s created: %s %s %s, %d credits held",
            job.id,
            job.provider,
            job.request.model,
            job.request.resolution,
            job.price,
        )
        self._wake_runner()
        return job

    async def _start_in(
        self,
        tx: Transaction,
        order: JobOrder,
        role_ids: Collection[int] | None,
        list_price: int,
        now: float,
    ) -> tuple[Job, bool] | Admission:
        """Inside one transaction: (the job, whether it waits for approval), or the refusal."""
        existing = await job_store.by_interaction_in(tx, order.interaction_id)
        if existing is not None:
            return existing, False
        verdict: Admission | None = None
        if self._community is not None:
            query = AdmissionQuery(
                order.guild_id,
                order.channel_id,
                order.user_id,
                role_ids,
                order.member_joined_at,
                screened_text(order.request),
                order.age_restricted,
                parent_channel_id=order.parent_channel_id,
                is_manager=order.is_manager,
            )
            verdict = await self._community.screen_in(tx, query)
            if not verdict.allowed:
                return verdict
            if verdict.force_safety_checker and not order.request.enable_safety_checker:
                order = replace(order, request=replace(order.request, enable_safety_checker=True))
        await self._ledger.ensure_member_in(tx, order.guild_id, order.user_id)
        job_id = new_job_id()
        price = list_price
        if self._quotas is not None:
            # Refill, tier discount and limits, decided in the same transaction as the hold.
            price = await self._admit_in(tx, order, role_ids, list_price, job_id)
        await job_store.insert_in(tx, job_id, order, price, now)
        await self._ledger.hold_in(tx, order.guild_id, order.user_id, job_id, price)
        parked = verdict is not None and verdict.needs_approval
        if parked and self._community is not None and verdict is not None:
            # Parks the job (no next step) until a moderator approves or denies it.
            await self._community.on_job_created_in(
                tx, job_id, query, verdict.approval_reason or ""
            )
        job = await job_store.get_in(tx, job_id)
        assert job is not None
        return job, parked

    async def _admit_in(
        self,
        tx: Transaction,
        order: JobOrder,
        role_ids: Collection[int] | None,
        list_price: int,
        job_id: str,
    ) -> int:
        """The price to hold after quotas; a member short of credits may draw on the pool."""
        assert self._quotas is not None
        try:
            admitted = await self._quotas.admit_in(
                tx, order.guild_id, order.user_id, role_ids, list_price
            )
        except InsufficientCredits as short:
            shortfall = short.price - short.available
            if self._community is None or not await self._community.pool.cover_in(
                tx, order.guild_id, order.user_id, shortfall, job_id
            ):
                raise
            admitted = await self._quotas.admit_in(
                tx, order.guild_id, order.user_id, role_ids, list_price
            )
        return admitted.price

    async def cancel(self, job_id: str, actor_id: int, *, moderator: bool) -> Cancellation:
        """Cancel a job that has not finished and give its hold back in full, exactly once."""
        async with self._db.transaction() as tx:
            job = await job_store.get_in(tx, job_id.strip().lower())
            if job is None:
                raise CancelRefused(Text("cancel.no_job", job=job_id))
            if job.user_id != actor_id and not moderator:
                raise CancelRefused(Text("cancel.not_yours", job=job.id))
            cancelled = await job_store.transition_in(
                tx,
                job.id,
                Guard.in_states(*ACTIVE_STATES),
                **finish_cols(
                    JobState.CANCELLED,
                    self._clock(),
                    failure_code="cancelled",
                    failure_message="The job was cancelled.",
                    cancelled_by=actor_id,
                ),
            )
            if cancelled is None:
                raise CancelRefused(Text("cancel.finished", job=job.id, state=job.state.value))
            await self._ledger.release(tx, job.id, "refund: cancelled")
            if self._community is not None:
                await self._community.on_job_cancelled_in(tx, job.id, actor_id)
        if self._community is not None:
            self._community.approvals.notify()
        provider = self._providers.get(job.provider)
        stopped: bool | None = None
        if job.provider_job_id and isinstance(provider, Cancellable):
            try:
                stopped = await provider.cancel(job.provider_job_id)
            except ProviderError as exc:
                log.warning("job %s: provider cancel failed: %s", job.id, exc.failure.code)
                stopped = False
        elif job.provider_job_id:
            stopped = False
        log.info("job %s cancelled by %s; %d credits released", job.id, actor_id, job.price)
        self._wake_runner()
        return Cancellation(job=cancelled, refunded=job.price, provider_stopped=stopped)

    async def repost(self, job_id: str, channel_id: int) -> Job | None:
        """Post a kept (parked) outcome in another channel; None if it is not kept any more."""
        moved = await self._store.apply(
            Guard.delivery_in(DeliveryState.PARKED),
            job_id,
            channel_id=channel_id,
            card_message_id=None,
            delivery_state=DeliveryState.PENDING,
            delivery_attempts=0,
            result_fetches=0,
            deliver_at=self._clock(),
        )
        if moved is not None:
            log.info("job %s: kept outcome to be posted in channel %s", job_id, channel_id)
            self._wake_runner()
        return moved

    async def queue_position(self, job: Job) -> int:
        """The job's place among the bot's unfinished jobs."""
        return await self._store.queue_position(job)

    async def typical_seconds(self, job: Job) -> float | None:
        """How long this model's recent jobs took here."""
        return await self._store.typical_seconds(job.provider, job.request.model)

    async def get(self, job_id: str) -> Job | None:
        """One job by its short id."""
        return await self._store.get(job_id.strip().lower())

    async def recent(
        self, guild_id: int, user_id: int, limit: int = 10, *, offset: int = 0
    ) -> list[Job]:
        """A member's jobs, newest first, a page at a time."""
        return await self._store.for_member(guild_id, user_id, limit, offset=offset)

    async def record_card(self, job_id: str, message_id: int) -> None:
        """Remember which message shows the job's card."""
        await self._store.record_card(job_id, message_id)
