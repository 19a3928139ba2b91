"""Pure rules: a server's allowance, its tiers, and what they add up to for one member."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class Allowance:
    """A server's credit rules: the operator's defaults with the server's own changes applied."""

    starting_credits: int
    refill_amount: int
    refill_cap: int
    refill_period_hours: int
    max_concurrent_jobs: int  # 0: no limit
    daily_spend_cap: int  # 0: no cap

    def overridden(self, **changes: int | None) -> Allowance:
        """This allowance with every change that is not None applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class Tier:
    """A named improvement over the server's allowance; None leaves a value as it is."""

    name: str
    refill_amount: int | None = None
    refill_cap: int | None = None
    discount_percent: int | None = None
    max_concurrent_jobs: int | None = None  # 0: no limit


@dataclass(frozen=True)
class Terms:
    """What applies to one member: the server's allowance raised by each of their tiers."""

    tiers: tuple[str, ...]
    refill_amount: int
    refill_cap: int
    period_seconds: int
    discount_percent: int
    max_concurrent_jobs: int  # 0: no limit
    daily_spend_cap: int  # 0: no cap

    def period_start(self, now: float) -> int:
        """Start of the allowance period containing `now` (periods are aligned to UTC)."""
        return period_start(now, self.period_seconds)

    def next_refill_at(self, now: float) -> int | None:
        """When the next period starts, or None if this member has no periodic allowance."""
        if self.refill_amount <= 0:
            return None
        return self.period_start(now) + self.period_seconds

    def refill_for(self, balance: int) -> int:
        """Credits a refill adds to `balance` (which counts held credits): never past the cap."""
        return max(0, min(self.refill_amount, self.refill_cap - balance))

    def price(self, list_price: int) -> int:
        """The member's price after their discount, rounded to the nearest credit."""
        return discounted(list_price, self.discount_percent)


def resolve_terms(allowance: Allowance, tiers: Iterable[Tier]) -> Terms:
    """The member's terms: for each value, the best of the server's and every tier's."""
    held = sorted(tiers, key=lambda t: t.name.lower())
    return Terms(
        tiers=tuple(t.name for t in held),
        refill_amount=max([allowance.refill_amount, *_given(held, "refill_amount")]),
        refill_cap=max([allowance.refill_cap, *_given(held, "refill_cap")]),
        period_seconds=allowance.refill_period_hours * HOUR,
        discount_percent=max([0, *_given(held, "discount_percent")]),
        max_concurrent_jobs=best_limit(
            [allowance.max_concurrent_jobs, *_given(held, "max_concurrent_jobs")]
        ),
        daily_spend_cap=allowance.daily_spend_cap,
    )


def best_limit(limits: Iterable[int]) -> int:
    """The most generous of several limits where 0 means none at all."""
    values = list(limits)
    return 0 if 0 in values else max(values)


def period_start(now: float, seconds: int) -> int:
    """Start of the `seconds`-long period containing `now`, counted from the Unix epoch (UTC)."""
    return math.floor(now / seconds) * seconds


def day_start(now: float) -> int:
    """00:00 UTC of the day containing `now`."""
    return period_start(now, DAY)


def discounted(list_price: int, percent: int) -> int:
    """`list_price` less `percent` %, rounded half up, in whole credits."""
    return (list_price * (100 - percent) + 50) // 100


def _given(tiers: Iterable[Tier], name: str) -> list[int]:
    return [value for tier in tiers if (value := getattr(tier, name)) is not None]
