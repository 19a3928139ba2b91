"""The server credit pool: a ledger account (user 0 of each server) that admins fund.

Every movement is two kinds of record in one transaction: ledger rows (the money: a `grant` or
`take` on the pool account, and for draws and prizes the matching `grant` to the member) and a
`pool_movements` row saying what it was, for the report. Members draw on the pool only when
their own credits do not cover a video, up to a per-member limit per UTC day.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.community.log import CommunityDeps, Logged
from bot.db import Transaction
from bot.errors import UserError
from bot.i18n import Text
from bot.ledger import Balance, Ledger, LedgerError

# The ledger account of a server's pool. Discord ids are positive, so 0 is never a member.
POOL_USER_ID = 0
DAY = 86_400
MAX_AMOUNT = 1_000_000_000

# The same keys as /credits usage.
PERIODS: dict[str, int | None] = {"today": None, "7d": 7 * DAY, "30d": 30 * DAY, "all": None}


class PoolError(UserError):
    """A pool movement was refused; the message says why."""


@dataclass(frozen=True)
class PoolStatus:
    """The pool's credits: `committed` are promised as prizes of open events."""

    balance: int
    committed: int
    daily_limit: int

    @property
    def available(self) -> int:
        """Credits members may still draw."""
        return max(0, self.balance - self.committed)


@dataclass(frozen=True)
class MemberUse:
    """What one member drew from the pool (and won from it) over a period."""

    user_id: int
    drawn: int
    draws: int
    won: int


@dataclass(frozen=True)
class PoolReport:
    """The pool over a period: its status, who put credits in, who drew what."""

    period: str
    status: PoolStatus
    deposited: int
    withdrawn: int
    drawn: int
    prizes: int
    members: tuple[MemberUse, ...]
    depositors: tuple[tuple[int, int], ...]


def day_start(moment: float) -> int:
    """00:00 UTC of the day `moment` falls in."""
    return int(moment // DAY * DAY)


class Pool(Logged):
    """Moves credits into, out of and from the pool through the ledger."""

    def __init__(self, deps: CommunityDeps, ledger: Ledger) -> None:
        super().__init__(deps)
        self._ledger = ledger

    # -- synchronous core ------------------------------------------------------------------------

    async def ensure_in(self, tx: Transaction, guild_id: int) -> None:
        """Open the pool's ledger account (with no welcome grant) if it does not exist."""
        await self._ledger.open_account_in(tx, guild_id, POOL_USER_ID)

    async def status_in(self, tx: Transaction, guild_id: int) -> PoolStatus:
        """Balance, prizes promised and the daily limit, as this transaction sees them.

        The pool's account stays locked until the transaction ends, so a draw, prize or
        withdrawal decided on this balance cannot meet another one spending it meanwhile.
        """
        await self.ensure_in(tx, guild_id)
        balance = await self._ledger.balance_in(tx, guild_id, POOL_USER_ID)
        committed = await tx.fetchval(
            "SELECT COALESCE(SUM(prize), 0) FROM events WHERE guild_id = ? AND state = 'open'",
            (guild_id,),
        )
        row = await tx.fetchone(
            "SELECT pool_daily_limit FROM community_settings WHERE guild_id = ?", (guild_id,)
        )
        limit = row[0] if row else 25
        return PoolStatus(balance.available, committed, limit)

    async def drawn_today_in(self, tx: Transaction, guild_id: int, user_id: int) -> int:
        """What the member drew since 00:00 UTC."""
        return await tx.fetchval(
            "SELECT COALESCE(SUM(amount), 0) FROM pool_movements "
            "WHERE guild_id = ? AND user_id = ? AND kind = 'draw' AND created_at >= ?",
            (guild_id, user_id, day_start(self._clock())),
        )

    async def cover_in(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        shortfall: int,
        job_hint: str | None = None,
    ) -> int:
        """Draw exactly `shortfall` for the member if the pool and their daily limit allow it.

        Returns what was drawn: `shortfall`, or 0 when the pool cannot cover it all (a partial
        draw would leave the member short anyway). Call inside the job's transaction, before
        the hold; if the job is refused afterwards the transaction rolls the draw back too.
        """
        if shortfall <= 0:
            return 0
        status = await self.status_in(tx, guild_id)
        if status.daily_limit <= 0 or status.available < shortfall:
            return 0
        if await self.drawn_today_in(tx, guild_id, user_id) + shortfall > status.daily_limit:
            return 0
        await self._move_in(
            tx,
            guild_id,
            "draw",
            user_id,
            shortfall,
            pool_reason=f"drawn by member {user_id}",
            member_reason="drawn from the server pool",
            job_id=job_hint,
        )
        return shortfall

    async def pay_in(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        amount: int,
        reason: str,
        *,
        event_id: int | None = None,
    ) -> int:
        """Pay a member from the pool (a prize); returns the pool movement's id."""
        return await self._move_in(
            tx,
            guild_id,
            "prize",
            user_id,
            amount,
            pool_reason=f"{reason} to member {user_id}",
            member_reason=reason,
            event_id=event_id,
        )

    async def _move_in(
        self,
        tx: Transaction,
        guild_id: int,
        kind: str,
        user_id: int,
        amount: int,
        *,
        pool_reason: str,
        member_reason: str,
        job_id: str | None = None,
        event_id: int | None = None,
    ) -> int:
        await self.ensure_in(tx, guild_id)
        pool_row = await self._ledger.adjust_in(
            tx, guild_id, POOL_USER_ID, "take", amount, pool_reason, None
        )
        member_row = await self._ledger.adjust_in(
            tx, guild_id, user_id, "grant", amount, member_reason, None
        )
        return await self._movement_in(
            tx, guild_id, kind, user_id, amount, pool_row, member_row, job_id, event_id
        )

    async def _movement_in(
        self,
        tx: Transaction,
        guild_id: int,
        kind: str,
        user_id: int | None,
        amount: int,
        pool_row: int,
        member_row: int | None,
        job_id: str | None = None,
        event_id: int | None = None,
    ) -> int:
        return await tx.insert(
            "INSERT INTO pool_movements (guild_id, kind, user_id, amount, job_id, event_id, "
            "pool_ledger_id, member_ledger_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                kind,
                user_id,
                amount,
                job_id,
                event_id,
                pool_row,
                member_row,
                self._clock(),
            ),
        )

    # -- async API -------------------------------------------------------------------------------

    async def status(self, guild_id: int) -> PoolStatus:
        """The pool now."""
        return await self._db.run(self.status_in, guild_id)

    async def deposit(
        self, guild_id: int, actor_id: int | None, amount: int, reason: str | None = None
    ) -> PoolStatus:
        """An admin adds credits to the pool."""
        _check_amount(amount)
        return await self._db.run(self._deposit_in, guild_id, actor_id, amount, reason)

    async def _deposit_in(
        self,
        tx: Transaction,
        guild_id: int,
        actor_id: int | None,
        amount: int,
        reason: str | None,
    ) -> PoolStatus:
        await self.ensure_in(tx, guild_id)
        why = reason or "added to the server pool"
        row = await self._ledger.adjust_in(
            tx, guild_id, POOL_USER_ID, "grant", amount, why, actor_id
        )
        await self._movement_in(tx, guild_id, "deposit", actor_id, amount, row, None)
        await self._log.record_in(
            tx, guild_id, actor_id, "pool add", f"{amount} credits added to the pool ({why})"
        )
        return await self.status_in(tx, guild_id)

    async def withdraw(self, guild_id: int, actor_id: int | None, amount: int) -> PoolStatus:
        """An admin removes credits from the pool (never those promised as prizes)."""
        _check_amount(amount)
        return await self._db.run(self._withdraw_in, guild_id, actor_id, amount)

    async def _withdraw_in(
        self, tx: Transaction, guild_id: int, actor_id: int | None, amount: int
    ) -> PoolStatus:
        status = await self.status_in(tx, guild_id)
        if amount > status.available:
            raise PoolError(
                Text(
                    "community.pool.remove_promised"
                    if status.committed
                    else "community.pool.remove_most",
                    available=status.available,
                    promised=status.committed,
                )
            )
        try:
            row = await self._ledger.adjust_in(
                tx, guild_id, POOL_USER_ID, "take", amount, "removed from the server pool", actor_id
            )
        except LedgerError as exc:  # pragma: no cover - checked above
            raise PoolError(str(exc)) from None
        await self._movement_in(tx, guild_id, "withdraw", actor_id, amount, row, None)
        await self._log.record_in(
            tx, guild_id, actor_id, "pool remove", f"{amount} credits removed from the pool"
        )
        return await self.status_in(tx, guild_id)

    async def set_daily_limit(self, guild_id: int, actor_id: int | None, limit: int) -> PoolStatus:
        """Change how much one member may draw per UTC day (0: no drawing)."""
        if not 0 <= limit <= 1_000_000:
            raise PoolError(Text("community.pool.limit_range", most=1_000_000))
        return await self._db.run(self._set_limit_in, guild_id, actor_id, limit)

    async def _set_limit_in(
        self, tx: Transaction, guild_id: int, actor_id: int | None, limit: int
    ) -> PoolStatus:
        await tx.execute(
            "INSERT INTO community_settings (guild_id, pool_daily_limit, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
            "pool_daily_limit = excluded.pool_daily_limit, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (guild_id, limit, self._clock(), actor_id),
        )
        await self._log.record_in(
            tx, guild_id, actor_id, "pool limit", f"daily draw limit per member set to {limit}"
        )
        return await self.status_in(tx, guild_id)

    async def cover(
        self, guild_id: int, user_id: int, shortfall: int, job_hint: str | None = None
    ) -> int:
        """`cover_in` in a transaction of its own (for callers without one)."""
        return await self._db.run(self.cover_in, guild_id, user_id, shortfall, job_hint)

    async def balance(self, guild_id: int) -> Balance:
        """The pool account's ledger balance."""
        row = await self._db.fetchone(
            "SELECT balance, held FROM members WHERE guild_id = ? AND user_id = ?",
            (guild_id, POOL_USER_ID),
        )
        return Balance(row["balance"], row["held"]) if row else Balance(0, 0)

    async def report(self, guild_id: int, period: str = "30d") -> PoolReport:
        """Who put credits in and who drew or won what over a period."""
        if period not in PERIODS:
            raise PoolError(Text("community.period", periods=", ".join(PERIODS)))
        now = self._clock()
        reach = PERIODS[period]
        if period == "today":
            since = float(day_start(now))
        else:
            since = 0.0 if reach is None else now - reach
        status = await self.status(guild_id)
        rows = await self._db.fetchall(
            "SELECT kind, user_id, SUM(amount) AS total, COUNT(*) AS n FROM pool_movements "
            "WHERE guild_id = ? AND created_at >= ? GROUP BY kind, user_id",
            (guild_id, since),
        )
        totals = {"deposit": 0, "withdraw": 0, "draw": 0, "prize": 0}
        members: dict[int, list[int]] = {}
        depositors: dict[int, int] = {}
        for row in rows:
            totals[row["kind"]] += row["total"]
            if row["kind"] in ("draw", "prize") and row["user_id"] is not None:
                use = members.setdefault(row["user_id"], [0, 0, 0])
                if row["kind"] == "draw":
                    use[0] += row["total"]
                    use[1] += row["n"]
                else:
                    use[2] += row["total"]
            elif row["kind"] == "deposit" and row["user_id"] is not None:
                depositors[row["user_id"]] = depositors.get(row["user_id"], 0) + row["total"]
        ranked = sorted(
            (MemberUse(uid, d, n, w) for uid, (d, n, w) in members.items()),
            key=lambda u: (-u.drawn, -u.won, u.user_id),
        )
        return PoolReport(
            period=period,
            status=status,
            deposited=totals["deposit"],
            withdrawn=totals["withdraw"],
            drawn=totals["draw"],
            prizes=totals["prize"],
            members=tuple(ranked),
            depositors=tuple(sorted(depositors.items(), key=lambda kv: -kv[1])),
        )


def _check_amount(amount: int) -> None:
    if not 1 <= amount <= MAX_AMOUNT:
        raise PoolError(Text("community.pool.amount_range", most=MAX_AMOUNT))
