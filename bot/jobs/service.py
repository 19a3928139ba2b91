"""Starting jobs: check, price, and hold credits in the same transaction as the job row."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from bot.credits.quotas import Quotas
from bot.db import Database
from bot.jobs.models import Job, JobOrder, new_job_id
from bot.jobs.store import JobStore
from bot.ledger import Ledger
from bot.pricing import PriceMissing, PriceTable
from bot.providers.base import InvalidRequest, Provider

log = logging.getLogger(__name__)


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
        on_new_job: Callable[[], None],
        quotas: Quotas | None = None,
    ) -> None:
        self._db = db
        self._store = store
        self._ledger = ledger
        self._providers = providers
        self._prices = prices
        self._clock = clock
        self._on_new_job = on_new_job
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
        self._on_new_job()
        return job

    async def get(self, job_id: str) -> Job | None:
        """One job by its short id."""
        return await self._store.get(job_id.strip().lower())

    async def recent(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        """A member's recent jobs, newest first."""
        return await self._store.for_member(guild_id, user_id, limit)

    async def record_card(self, job_id: str, message_id: int) -> None:
        """Remember which message shows the job's card."""
        async with self._db.transaction() as tx:
            await self._store.update(tx, job_id, card_message_id=message_id)
