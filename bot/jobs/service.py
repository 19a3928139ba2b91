"""Starting jobs: check, price, and hold credits in the same transaction as the job row."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from bot.credits.quotas import Quotas
from bot.db import Database
from bot.jobs.models import Job, JobOrder, JobState, new_job_id
from bot.jobs.store import ACTIVE_STATES, JobStore
from bot.ledger import Ledger
from bot.pricing import PriceMissing, PriceTable
from bot.providers.base import Cancellable, InvalidRequest, Provider, ProviderError

log = logging.getLogger(__name__)


class CancelRefused(Exception):
    """The job cannot be cancelled by this member (not theirs, or already finished)."""


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


class JobService:
    """The one entry point for creating and reading jobs."""

    def __init__(
        self,
        db: Database,
        store: JobStore,
        ledger: Ledger,
        providers: Mapping[str, Provider],
        prices: PriceTable,
        *,
        clock: Callable[[], float],
        wake_runner: Callable[[], None],
        quotas: Quotas | None = None,
    ) -> None:
        self._db = db
        self._store = store
        self._ledger = ledger
        self._providers = providers
        self._prices = prices
        self._clock = clock
        self._wake_runner = wake_runner
        self._quotas = quotas

    @property
    def prices(self) -> PriceTable:
        """The price table members are charged from."""
        return self._prices

    def quote(self, order: JobOrder) -> Quote:
        """Check the order against the provider and price table, or raise InvalidRequest."""
        provider = self._providers.get(order.provider)
        if provider is None:
            offered = ", ".join(sorted(self._providers)) or "none"
            raise InvalidRequest(
                f"The provider `{order.provider}` is not available on this bot. "
                f"Available: {offered}."
            )
        provider.validate(order.request)
        request = order.request
        try:
            price = self._prices.price(
                provider.name, request.model, request.resolution, request.duration
            )
        except PriceMissing as exc:
            raise InvalidRequest(f"{exc} Choose another model or resolution.") from None
        return Quote(provider=provider, price=price)

    async def start(self, order: JobOrder, *, role_ids: Collection[int] | None = None) -> Job:
        """Create the job and hold its price atomically; a repeated interaction returns its job.

        Raises InvalidRequest (QuotaExceeded for a limit) or InsufficientCredits with nothing
        held. `role_ids` are the member's roles, for tiers and refills (None: unknown).
        """
        quote = self.quote(order)
        now = self._clock()
        async with self._db.transaction() as tx:
            existing = await self._store.by_interaction(tx, order.interaction_id)
            if existing is not None:
                return existing
            await self._ledger.ensure_member(tx, order.guild_id, order.user_id)
            price = quote.price
            if self._quotas is not None:
                # Refill, tier discount and limits, decided in the same transaction as the hold.
                admission = await self._quotas.admit(
                    tx, order.guild_id, order.user_id, role_ids, quote.price
                )
                price = admission.price
            job_id = new_job_id()
            await self._store.insert(tx, job_id, order, price, now)
            await self._ledger.hold(tx, order.guild_id, order.user_id, job_id, price)
            job = await self._store.get_in(tx, job_id)
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

    async def cancel(self, job_id: str, actor_id: int, *, moderator: bool) -> Cancellation:
        """Cancel a job that has not finished and give its hold back in full, exactly once."""
        async with self._db.transaction() as tx:
            job = await self._store.find_in(tx, job_id.strip().lower())
            if job is None:
                raise CancelRefused(f"There is no job `{job_id}`.")
            if job.user_id != actor_id and not moderator:
                raise CancelRefused(f"Job `{job.id}` is not yours to cancel.")
            moved = await self._store.update(
                tx,
                job.id,
                expect=ACTIVE_STATES,
                state=JobState.CANCELLED,
                failure_code="cancelled",
                failure_message="The job was cancelled.",
                cancelled_by=actor_id,
                finished_at=self._clock(),
                next_poll_at=None,
            )
            if not moved:
                raise CancelRefused(f"Job `{job.id}` has already finished ({job.state.value}).")
            await self._ledger.release(tx, job.id, "refund: cancelled")
            cancelled = await self._store.get_in(tx, job.id)
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
        async with self._db.transaction() as tx:
            await self._store.update(tx, job_id, card_message_id=message_id)
