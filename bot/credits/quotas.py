"""Admission: lazy refills, tier discounts and limits, decided in the transaction of the hold."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from bot.credits.rules import CreditRules
from bot.credits.terms import DAY, HOUR, Terms, day_start
from bot.db import Database, Transaction
from bot.i18n import Text
from bot.ledger import Balance, InsufficientCredits, Ledger
from bot.providers.base import InvalidRequest

CONCURRENT_JOBS = "concurrent_jobs"
DAILY_SPEND = "daily_spend"


class QuotaExceeded(InvalidRequest):
    """A limit refuses the job before anything is held; says which limit and when it frees."""

    def __init__(self, limit: str, what: str | Text, frees_at: float | None) -> None:
        # The message renders in whoever reads it; str() of it is English.
        message = (
            what if frees_at is None else Text("quota.frees_at", what=what, when=_utc(frees_at))
        )
        super().__init__(message)
        self.limit = limit
        # What the limit is, without when it frees (limit_message() words that itself): in
        # English, and as a Text for the member's language.
        self.what = str(what)
        self.what_text = what
        # None: it frees when something else happens (one of the member's jobs finishes).
        self.frees_at = frees_at


@dataclass(frozen=True)
class Admission:
    """A job the limits let through, at the member's price."""

    price: int
    list_price: int
    discount_percent: int
    tiers: tuple[str, ...]


@dataclass(frozen=True)
class Standing:
    """A member's credits and the terms they are on, after any refill that was due."""

    balance: Balance
    terms: Terms
    next_refill_at: int | None
    refilled: int
    open_jobs: int


class Quotas:
    """Applies allowances and limits; every decision runs in one transaction with its effects."""

    def __init__(
        self, db: Database, ledger: Ledger, rules: CreditRules, *, clock: Callable[[], float]
    ) -> None:
        self._db = db
        self._ledger = ledger
        # The servers' settings and tiers.
        self.rules: Final = rules
        self._clock = clock

    # -- async API ------------------------------------------------------------------------------

    async def standing(
        self, guild_id: int, user_id: int, role_ids: Collection[int] | None
    ) -> Standing:
        """The member's balance and terms, applying a refill that is due."""
        return await self._db.run(self.standing_in, guild_id, user_id, role_ids)

    # -- synchronous core: call only inside a transaction on the database thread ---------------

    async def admit_in(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        role_ids: Collection[int] | None,
        list_price: int,
    ) -> Admission:
        """Refill if due, then check the limits and the member's funds; raise if refused."""
        now = self._clock()
        terms, _ = await self._refreshed_in(tx, guild_id, user_id, role_ids, now)
        price = terms.price(list_price)
        await self._check_concurrency(tx, guild_id, user_id, terms)
        await self._check_daily_spend(tx, guild_id, terms, price, now)
        available = (await self._ledger.balance_in(tx, guild_id, user_id)).available
        if available < price:
            raise InsufficientCredits(
                price,
                available,
                next_refill_at=terms.next_refill_at(now),
                refill_amount=terms.refill_amount,
                refill_cap=terms.refill_cap,
            )
        return Admission(price, list_price, terms.discount_percent, terms.tiers)

    async def refill_in(
        self, tx: Transaction, guild_id: int, user_id: int, terms: Terms, now: float
    ) -> int:
        """Top the member up for the current period unless already done; return what was added."""
        # Every caller runs inside BEGIN IMMEDIATE, so a second command racing this one sees the
        # first one's refills row; the primary key (guild, user, period) backs that up.
        if terms.refill_amount <= 0:
            return 0
        start = terms.period_start(now)
        done = await tx.fetchone(
            "SELECT 1 FROM refills WHERE guild_id = ? AND user_id = ? AND period_start = ?",
            (guild_id, user_id, start),
        )
        if done:
            return 0
        amount = terms.refill_for((await self._ledger.balance_in(tx, guild_id, user_id)).balance)
        ledger_id = None
        if amount:
            ledger_id = await self._ledger.post_in(
                tx, guild_id, user_id, "grant", amount, 0, None, _refill_reason(terms)
            )
        # A plain INSERT: were the period somehow refilled already, the transaction fails whole.
        await tx.execute(
            "INSERT INTO refills (guild_id, user_id, period_start, amount, ledger_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (guild_id, user_id, start, amount, ledger_id, now),
        )
        return amount

    async def standing_in(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        role_ids: Collection[int] | None,
    ) -> Standing:
        """The member's balance and terms after any refill that was due."""
        now = self._clock()
        terms, refilled = await self._refreshed_in(tx, guild_id, user_id, role_ids, now)
        return Standing(
            balance=await self._ledger.balance_in(tx, guild_id, user_id),
            terms=terms,
            next_refill_at=terms.next_refill_at(now),
            refilled=refilled,
            open_jobs=await self._ledger.open_holds_in(tx, guild_id, user_id),
        )

    async def _refreshed_in(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        role_ids: Collection[int] | None,
        now: float,
    ) -> tuple[Terms, int]:
        """The member (created if new) and their terms, refilled if due: (terms, credits added)."""
        # role_ids None means the roles are unknown: no role tiers and no refill this time, so
        # a period's refill is never used up on the wrong (smaller) terms.
        await self._ledger.ensure_member_in(tx, guild_id, user_id)
        terms = await self.rules.terms_in(tx, guild_id, user_id, role_ids)
        if role_ids is None:
            return terms, 0
        await self.rules.remember_roles_in(tx, guild_id, user_id, role_ids)
        return terms, await self.refill_in(tx, guild_id, user_id, terms, now)

    async def _check_concurrency(
        self, tx: Transaction, guild_id: int, user_id: int, terms: Terms
    ) -> None:
        limit = terms.max_concurrent_jobs
        if not limit:
            return
        running = await self._ledger.open_holds_in(tx, guild_id, user_id)
        if running >= limit:
            raise QuotaExceeded(
                CONCURRENT_JOBS, Text("quota.concurrent", count=running, limit=limit), None
            )

    async def _check_daily_spend(
        self, tx: Transaction, guild_id: int, terms: Terms, price: int, now: float
    ) -> None:
        cap = terms.daily_spend_cap
        if not cap:
            return
        today = day_start(now)
        spent = await self._ledger.committed_since_in(tx, guild_id, today)
        if spent + price > cap:
            raise QuotaExceeded(
                DAILY_SPEND,
                Text("quota.daily_spend", cap=cap, spent=spent, price=price),
                today + DAY,
            )


def _refill_reason(terms: Terms) -> str:
    if terms.period_seconds == DAY:
        return "daily allowance"
    return f"allowance (every {terms.period_seconds // HOUR} h)"


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")
