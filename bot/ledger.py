"""Credits: an append-only ledger with holds that resolve (capture or release) at most once.

Every movement is written by a synchronous `*await _in(tx, ...)` method that runs on the database
thread inside a transaction (one thread hop for all its statements); the async methods wrap them
for callers that hold a `Transaction` or want a transaction of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bot.db import Database, Transaction

Clock = Callable[[], float]

WELCOME_REASON = "welcome grant"
CAPTURE_REASON = "video delivered"


class LedgerError(Exception):
    """A credit movement was refused; the message is fit to show the member."""


class InsufficientCredits(LedgerError):
    """The member's available credits do not cover the price."""

    def __init__(
        self,
        price: int,
        available: int,
        *,
        next_refill_at: float | None = None,
        refill_amount: int = 0,
        refill_cap: int = 0,
    ) -> None:
        super().__init__(f"needs {price} credits, {available} available")
        self.price = price
        self.available = available
        # When the allowance next tops the member up, and by how much at most (0: no allowance).
        self.next_refill_at = next_refill_at
        self.refill_amount = refill_amount
        self.refill_cap = refill_cap


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


@dataclass(frozen=True)
class LedgerPage:
    """One page of a member's history, newest first, with where it sits among all pages."""

    entries: tuple[LedgerEntry, ...]
    page: int
    pages: int
    total: int


class Ledger:
    """Moves credits; every change is a ledger row plus the cached balance, in one transaction."""

    def __init__(self, db: Database, *, starting_credits: int, clock: Clock) -> None:
        self._db = db
        self._starting_credits = starting_credits
        self._clock = clock

    # -- synchronous core: call only inside a transaction on the database thread ---------------

    async def ensure_member_in(self, tx: Transaction, guild_id: int, user_id: int) -> bool:
        """Create the member on first sight with the server's starting grant; True if new.

        Either way the member's row stays locked until the transaction ends, so what it then
        reads of the member (refills, limits, funds) holds until it commits.
        """
        if not await self.open_account_in(tx, guild_id, user_id):
            return False
        starting = await self.starting_credits_in(tx, guild_id)
        if starting:
            await self.post_in(tx, guild_id, user_id, "grant", starting, 0, None, WELCOME_REASON)
        return True

    async def open_account_in(self, tx: Transaction, guild_id: int, user_id: int) -> bool:
        """Create an account with no starting grant (the server pool's); True if new.

        The row is locked until the transaction ends (a new row is, by its insert).
        """
        created = await tx.execute(
            "INSERT INTO members (guild_id, user_id, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (guild_id, user_id, self._clock()),
        )
        if not created:
            # SQLite has one writer at a time and drops the clause; PostgreSQL locks the row.
            await tx.execute(
                "SELECT 1 FROM members WHERE guild_id = ? AND user_id = ? FOR UPDATE",
                (guild_id, user_id),
            )
        return bool(created)

    async def starting_credits_in(self, tx: Transaction, guild_id: int) -> int:
        """The server's own starting grant, or the operator's default."""
        row = await tx.fetchone(
            "SELECT starting_credits FROM credit_settings WHERE guild_id = ?", (guild_id,)
        )
        if row is None or row[0] is None:
            return self._starting_credits
        return int(row[0])

    async def balance_in(self, tx: Transaction, guild_id: int, user_id: int) -> Balance:
        """The member's cached balance as this transaction sees it (zero if never seen)."""
        row = await tx.fetchone(
            "SELECT balance, held FROM members WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return Balance(balance=row[0], held=row[1]) if row else Balance(0, 0)

    async def open_holds_in(self, tx: Transaction, guild_id: int, user_id: int) -> int:
        """How many of the member's holds are still open (one per job not yet settled)."""
        return int(
            await tx.fetchval(
                "SELECT COUNT(*) FROM holds WHERE guild_id = ? AND user_id = ? AND state = 'open'",
                (guild_id, user_id),
            )
        )

    async def committed_since_in(self, tx: Transaction, guild_id: int, since: float) -> int:
        """Credits the server's members spent or have on hold, in holds made since `since`."""
        # Open holds count as spent: they will be unless the job fails.
        committed = await tx.fetchval(
            "SELECT COALESCE(SUM(CASE WHEN state = 'captured' THEN COALESCE(captured, amount) "
            "ELSE amount END), 0) FROM holds "
            "WHERE guild_id = ? AND created_at >= ? AND state IN ('open', 'captured')",
            (guild_id, since),
        )
        return int(committed)

    async def hold_in(
        self, tx: Transaction, guild_id: int, user_id: int, job_id: str, amount: int
    ) -> None:
        """Reserve `amount` for a job, or raise InsufficientCredits leaving nothing changed."""
        if amount < 0:
            raise LedgerError("A hold cannot be negative.")
        changed = await tx.execute(
            "UPDATE members SET held = held + ? "
            "WHERE guild_id = ? AND user_id = ? AND balance - held >= ?",
            (amount, guild_id, user_id, amount),
        )
        if not changed:
            available = (await self.balance_in(tx, guild_id, user_id)).available
            raise InsufficientCredits(price=amount, available=available)
        # holds.job_id is the primary key: a second hold for the same job fails the transaction.
        await tx.execute(
            "INSERT INTO holds (job_id, guild_id, user_id, amount, state, created_at) "
            "VALUES (?, ?, ?, ?, 'open', ?)",
            (job_id, guild_id, user_id, amount, self._clock()),
        )
        # The guarded UPDATE above already moved `held`; only the ledger row remains to write.
        await self.post_in(
            tx, guild_id, user_id, "hold", 0, amount, job_id, "job started", move_member=False
        )

    async def resolve_in(
        self,
        tx: Transaction,
        job_id: str,
        outcome: str,
        reason: str,
        spent: int | None = None,
    ) -> bool:
        """Capture (spending `spent`, default all) or release a job's hold; False if resolved."""
        assert outcome in ("captured", "released"), outcome
        row = await tx.fetchone(
            "SELECT guild_id, user_id, amount FROM holds WHERE job_id = ? AND state = 'open'",
            (job_id,),
        )
        if row is None:
            return False
        guild_id, user_id, amount = row
        charged = amount if spent is None else spent
        if outcome == "released":
            charged = 0
        if not 0 <= charged <= amount:
            raise LedgerError(f"Cannot spend {charged} credits of a {amount}-credit hold.")
        # The state guard makes a second resolution of the same hold a no-op.
        changed = await tx.execute(
            "UPDATE holds SET state = ?, captured = ?, resolved_at = ? "
            "WHERE job_id = ? AND state = 'open'",
            (outcome, charged, self._clock(), job_id),
        )
        if not changed:
            return False
        kind = "capture" if outcome == "captured" else "release"
        # One row settles the whole hold: what was spent leaves the balance, all of it the hold.
        await self.post_in(tx, guild_id, user_id, kind, -charged, -amount, job_id, reason)
        return True

    async def adjust_in(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        kind: Literal["grant", "take"],
        amount: int,
        reason: str,
        actor_id: int | None,
    ) -> int:
        """Add (grant) or remove (take) credits, never credits held for jobs; the ledger row id."""
        if amount <= 0:
            raise LedgerError("The amount must be a positive number of credits.")
        await self.ensure_member_in(tx, guild_id, user_id)
        if kind == "take":
            available = (await self.balance_in(tx, guild_id, user_id)).available
            if amount > available:
                raise LedgerError(
                    f"The member has only {available} credits available (not counting credits "
                    f"held for running jobs); take at most {available}."
                )
        delta = amount if kind == "grant" else -amount
        return await self.post_in(tx, guild_id, user_id, kind, delta, 0, None, reason, actor_id)

    async def post_in(
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
    ) -> int:
        """Append a ledger row and (unless already done) move the cached balance to match."""
        row_id = await tx.insert(
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
            # The CHECKs on members (balance >= 0, 0 <= held <= balance) abort the transaction
            # rather than let a cached balance go negative.
            await tx.execute(
                "UPDATE members SET balance = balance + ?, held = held + ? "
                "WHERE guild_id = ? AND user_id = ?",
                (balance_delta, held_delta, guild_id, user_id),
            )
        return row_id

    # -- async API ------------------------------------------------------------------------------

    async def captured(self, job_id: str) -> bool:
        """Whether the job's hold was captured (the member paid for it)."""
        row = await self._db.fetchone("SELECT state FROM holds WHERE job_id = ?", (job_id,))
        return row is not None and row["state"] == "captured"

    async def balance(self, guild_id: int, user_id: int) -> Balance:
        """The member's balance; a member never seen gets the starting grant on first use."""
        row = await self._db.fetchone(
            "SELECT balance, held FROM members WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        if row is not None:
            return Balance(balance=row["balance"], held=row["held"])
        return await self._db.run(self._ensure_and_read, guild_id, user_id)

    async def capture(self, tx: Transaction, job_id: str, spent: int | None = None) -> bool:
        """Spend a job's hold (all of it unless `spent` says less); False if already resolved."""
        return await self.resolve_in(tx, job_id, "captured", CAPTURE_REASON, spent)

    async def release(self, tx: Transaction, job_id: str, reason: str) -> bool:
        """Give a job's hold back in full; False if it was already resolved."""
        return await self.resolve_in(tx, job_id, "released", reason)

    async def grant(
        self, guild_id: int, user_id: int, amount: int, reason: str, actor_id: int | None
    ) -> Balance:
        """Add credits to a member."""
        return await self._db.run(
            self._move_and_read,
            self.adjust_in,
            guild_id,
            user_id,
            "grant",
            amount,
            reason,
            actor_id,
        )

    async def take(
        self, guild_id: int, user_id: int, amount: int, reason: str, actor_id: int | None
    ) -> Balance:
        """Remove credits from a member, never touching credits held for running jobs."""
        return await self._db.run(
            self._move_and_read, self.adjust_in, guild_id, user_id, "take", amount, reason, actor_id
        )

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

    async def page(
        self, guild_id: int, user_id: int, page: int = 1, *, per_page: int = 10
    ) -> LedgerPage:
        """Page `page` (1 = newest) of the member's ledger; past the end gives the last page."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM ledger WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        total = int(row["n"]) if row else 0
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        rows = await self._db.fetchall(
            "SELECT id, kind, balance_delta, held_delta, job_id, reason, actor_id, created_at "
            "FROM ledger WHERE guild_id = ? AND user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (guild_id, user_id, per_page, (page - 1) * per_page),
        )
        entries = tuple(LedgerEntry(**dict(r)) for r in rows)
        return LedgerPage(entries=entries, page=page, pages=pages, total=total)

    async def _ensure_and_read(self, tx: Transaction, guild_id: int, user_id: int) -> Balance:
        await self.ensure_member_in(tx, guild_id, user_id)
        return await self.balance_in(tx, guild_id, user_id)

    async def _move_and_read(
        self,
        tx: Transaction,
        move: Callable[..., Awaitable[int]],
        guild_id: int,
        user_id: int,
        *args: object,
    ) -> Balance:
        await move(tx, guild_id, user_id, *args)
        return await self.balance_in(tx, guild_id, user_id)
