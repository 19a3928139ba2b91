"""Credits: an append-only ledger with holds that resolve (capture or release) at most once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.db import Database, Transaction

Clock = Callable[[], float]


class LedgerError(Exception):
    """A credit movement was refused; the message is fit to show the member."""


class InsufficientCredits(LedgerError):
    """The member's available credits do not cover the price."""

    def __init__(self, price: int, available: int) -> None:
        super().__init__(f"needs {price} credits, {available} available")
        self.price = price
        self.available = available


@dataclass(frozen=True)
class Balance:
    """A member's credits: balance includes held credits; available excludes them."""

    balance: int
    held: int

    @property
    def available(self) -> int:
        """Credits that can still be spent."""
        return self.balance - self.held


@dataclass(frozen=True)
class LedgerEntry:
    """One append-only row of a member's history."""

    id: int
    kind: str
    balance_delta: int
    held_delta: int
    job_id: str | None
    reason: str
    actor_id: int | None
    created_at: float


class Ledger:
    """Moves credits; every change is a ledger row plus the cached balance, in one transaction."""

    def __init__(self, db: Database, *, starting_credits: int, clock: Clock) -> None:
        self._db = db
        self._starting_credits = starting_credits
        self._clock = clock

    async def ensure_member(self, tx: Transaction, guild_id: int, user_id: int) -> None:
        """Create the member on first sight, with the starting grant."""
        created = await tx.execute(
            "INSERT OR IGNORE INTO members (guild_id, user_id, created_at) VALUES (?, ?, ?)",
            (guild_id, user_id, self._clock()),
        )
        if created and self._starting_credits:
            await self._post(
                tx, guild_id, user_id, "grant", self._starting_credits, 0, None, "welcome grant"
            )

    async def balance(self, guild_id: int, user_id: int) -> Balance:
        """The member's balance; a member never seen gets the starting grant on first use."""
        row = await self._db.fetchone(
            "SELECT balance, held FROM members WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        if row is None:
            async with self._db.transaction() as tx:
                await self.ensure_member(tx, guild_id, user_id)
            return await self.balance(guild_id, user_id)
        return Balance(balance=row["balance"], held=row["held"])

    async def hold(
        self, tx: Transaction, guild_id: int, user_id: int, job_id: str, amount: int
    ) -> None:
        """Reserve `amount` for a job, or raise InsufficientCredits leaving nothing changed."""
        changed = await tx.execute(
            "UPDATE members SET held = held + ? "
            "WHERE guild_id = ? AND user_id = ? AND balance - held >= ?",
            (amount, guild_id, user_id, amount),
        )
        if not changed:
            row = await tx.fetchone(
                "SELECT balance - held AS available FROM members "
                "WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            raise InsufficientCredits(price=amount, available=row["available"] if row else 0)
        await tx.execute(
            "INSERT INTO holds (job_id, guild_id, user_id, amount, state, created_at) "
            "VALUES (?, ?, ?, ?, 'open', ?)",
            (job_id, guild_id, user_id, amount, self._clock()),
        )
        # The guarded UPDATE above already moved `held`; only the ledger row remains to write.
        await self._post(
            tx, guild_id, user_id, "hold", 0, amount, job_id, "job started", move_member=False
        )

    async def capture(self, tx: Transaction, job_id: str) -> bool:
        """Spend a job's hold; False if it was already resolved."""
        return await self._resolve(tx, job_id, "captured")

    async def release(self, tx: Transaction, job_id: str, reason: str) -> bool:
        """Give a job's hold back in full; False if it was already resolved."""
        return await self._resolve(tx, job_id, "released", reason)

    async def grant(
        self, guild_id: int, user_id: int, amount: int, reason: str, actor_id: int | None
    ) -> Balance:
        """Add credits to a member."""
        if amount <= 0:
            raise LedgerError("The amount must be a positive number of credits.")
        async with self._db.transaction() as tx:
            await self.ensure_member(tx, guild_id, user_id)
            await self._post(tx, guild_id, user_id, "grant", amount, 0, None, reason, actor_id)
        return await self.balance(guild_id, user_id)

    async def take(
        self, guild_id: int, user_id: int, amount: int, reason: str, actor_id: int | None
    ) -> Balance:
        """Remove credits from a member, never touching credits held for running jobs."""
        if amount <= 0:
            raise LedgerError("The amount must be a positive number of credits.")
        async with self._db.transaction() as tx:
            await self.ensure_member(tx, guild_id, user_id)
            row = await tx.fetchone(
                "SELECT balance - held AS available FROM members "
                "WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            available = row["available"] if row else 0
            if amount > available:
                raise LedgerError(
                    f"The member has only {available} credits available (not counting credits "
                    f"held for running jobs); take at most {available}."
                )
            await self._post(tx, guild_id, user_id, "take", -amount, 0, None, reason, actor_id)
        return await self.balance(guild_id, user_id)

    async def history(
        self, guild_id: int, user_id: int, *, limit: int = 10, before_id: int | None = None
    ) -> list[LedgerEntry]:
        """The member's ledger rows, newest first."""
        rows = await self._db.fetchall(
            "SELECT id, kind, balance_delta, held_delta, job_id, reason, actor_id, created_at "
            "FROM ledger WHERE guild_id = ? AND user_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (guild_id, user_id, before_id if before_id is not None else 2**62, limit),
        )
        return [LedgerEntry(**dict(row)) for row in rows]

    async def _resolve(
        self, tx: Transaction, job_id: str, outcome: str, reason: str = "video delivered"
    ) -> bool:
        row = await tx.fetchone(
            "SELECT guild_id, user_id, amount FROM holds WHERE job_id = ? AND state = 'open'",
            (job_id,),
        )
        if row is None:
            return False
        # The state guard makes a second resolution of the same hold a no-op.
        changed = await tx.execute(
            "UPDATE holds SET state = ?, resolved_at = ? WHERE job_id = ? AND state = 'open'",
            (outcome, self._clock(), job_id),
        )
        if not changed:
            return False
        amount = row["amount"]
        if outcome == "captured":
            kind, balance_delta = "capture", -amount
        else:
            kind, balance_delta = "release", 0
        await self._post(
            tx, row["guild_id"], row["user_id"], kind, balance_delta, -amount, job_id, reason
        )
        return True

    async def _post(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        kind: str,
        balance_delta: int,
        held_delta: int,
        job_id: str | None,
        reason: str,
        actor_id: int | None = None,
        *,
        move_member: bool = True,
    ) -> None:
        """Append a ledger row and (unless already done) move the cached balance to match."""
        await tx.execute(
            "INSERT INTO ledger (guild_id, user_id, kind, balance_delta, held_delta, job_id, "
            "reason, actor_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                user_id,
                kind,
                balance_delta,
                held_delta,
                job_id,
                reason,
                actor_id,
                self._clock(),
            ),
        )
        if move_member:
            await tx.execute(
                "UPDATE members SET balance = balance + ?, held = held + ? "
                "WHERE guild_id = ? AND user_id = ?",
                (balance_delta, held_delta, guild_id, user_id),
            )
