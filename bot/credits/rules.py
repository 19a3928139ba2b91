"""A server's credit rules in SQLite: its allowance and limits, its tiers, and who has which."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

from bot.config import Settings
from bot.credits.terms import Allowance, Terms, Tier, resolve_terms
from bot.db import Database, Transaction
from bot.errors import UserError
from bot.i18n import Text

# What admins may set, per setting: (lowest, highest). Checked here as well as by Discord.
SETTING_RANGES: dict[str, tuple[int, int]] = {
    "starting_credits": (0, 1_000_000),
    "refill_amount": (0, 1_000_000),
    "refill_cap": (0, 1_000_000),
    "refill_period_hours": (1, 8760),
    "max_concurrent_jobs": (0, 100),
    "daily_spend_cap": (0, 1_000_000_000),
}
# A server's settings row is replaced whole (the columns not given become NULL: the default).
_REPLACE_SETTINGS = ", ".join(
    f"{name} = excluded.{name}" for name in (*SETTING_RANGES, "updated_at", "updated_by")
)
TIER_RANGES: dict[str, tuple[int, int]] = {
    "refill_amount": (0, 1_000_000),
    "refill_cap": (0, 1_000_000),
    "discount_percent": (0, 100),
    "max_concurrent_jobs": (0, 100),
}
MAX_TIER_NAME = 32
MAX_TIERS = 25
_TIER_COLUMNS = "name, refill_amount, refill_cap, discount_percent, max_concurrent_jobs"


def allowance_defaults(settings: Settings) -> Allowance:
    """The operator's defaults, from the environment."""
    credits = settings.credits
    return Allowance(
        starting_credits=settings.starting_credits,
        refill_amount=credits.refill_amount,
        refill_cap=credits.refill_cap,
        refill_period_hours=credits.refill_period_hours,
        max_concurrent_jobs=credits.max_concurrent_jobs,
        daily_spend_cap=credits.daily_spend_cap,
    )


class RuleError(UserError):
    """An admin's change was refused; the message (a Text) says what to change."""


@dataclass(frozen=True)
class TierInfo:
    """A tier with the roles that give it and how many members were given it directly."""

    tier: Tier
    role_ids: tuple[int, ...]
    members: int


class CreditRules:
    """Reads and changes each server's allowance, limits and tiers."""

    def __init__(self, db: Database, defaults: Allowance, *, clock: Callable[[], float]) -> None:
        self._db = db
        # The operator's defaults from the environment.
        self.defaults: Final = defaults
        self._clock = clock

    # -- synchronous core: call only inside a transaction on the database thread ---------------

    async def allowance_in(self, tx: Transaction, guild_id: int) -> Allowance:
        """The server's allowance: its own settings over the operator's defaults."""
        row = await tx.fetchone(
            f"SELECT {', '.join(SETTING_RANGES)} FROM credit_settings WHERE guild_id = ?",
            (guild_id,),
        )
        if row is None:
            return self.defaults
        return self.defaults.overridden(**dict(zip(SETTING_RANGES, row, strict=True)))

    async def tiers_of_in(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        role_ids: Collection[int] | None,
    ) -> list[Tier]:
        """Every tier the member has: given directly, or through one of `role_ids`."""
        sql = (
            f"SELECT {_TIER_COLUMNS} FROM credit_tiers WHERE guild_id = ? AND name IN ("
            "SELECT tier FROM credit_tier_members WHERE guild_id = ? AND user_id = ?"
        )
        params: list[int] = [guild_id, guild_id, user_id]
        roles = sorted(set(role_ids or ()))
        if roles:
            marks = ", ".join("?" for _ in roles)
            sql += (
                " UNION SELECT tier FROM credit_tier_roles "
                f"WHERE guild_id = ? AND role_id IN ({marks})"
            )
            params += [guild_id, *roles]
        rows = await tx.fetchall(sql + ")", params)
        return [Tier(*row) for row in rows]

    async def terms_in(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        role_ids: Collection[int] | None,
    ) -> Terms:
        """What applies to the member now."""
        allowance = await self.allowance_in(tx, guild_id)
        return resolve_terms(allowance, await self.tiers_of_in(tx, guild_id, user_id, role_ids))

    async def remember_roles_in(
        self, tx: Transaction, guild_id: int, user_id: int, role_ids: Collection[int]
    ) -> None:
        """Keep the member's current roles, for spend-per-role reports."""
        wanted = set(role_ids)
        known = {
            row[0]
            for row in await tx.fetchall(
                "SELECT role_id FROM member_roles WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
        }
        if known == wanted:
            return
        for gone in known - wanted:
            await tx.execute(
                "DELETE FROM member_roles WHERE guild_id = ? AND user_id = ? AND role_id = ?",
                (guild_id, user_id, gone),
            )
        for new in wanted - known:
            await tx.execute(
                # Two commands of one member may record the same new role at once.
                "INSERT INTO member_roles (guild_id, user_id, role_id) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (guild_id, user_id, new),
            )

    # -- admin changes ---------------------------------------------------------------------------

    async def allowance(self, guild_id: int) -> Allowance:
        """The server's allowance and limits as they apply now."""
        return await self._db.run(self.allowance_in, guild_id)

    async def configure(
        self, guild_id: int, actor_id: int | None, *, reset: bool = False, **changes: int | None
    ) -> Allowance:
        """Change some of the server's settings (None: unchanged); `reset` first forgets all."""
        wanted = {name: value for name, value in changes.items() if value is not None}
        for name, value in wanted.items():
            _check_range(SETTING_RANGES, name, value)
        return await self._db.run(self._configure_in, guild_id, actor_id, reset, wanted)

    async def set_tier(
        self, guild_id: int, actor_id: int | None, name: str, **changes: int | None
    ) -> Tier:
        """Create a tier, or change the values given (None: unchanged) of an existing one."""
        name = _tier_name(name)
        wanted = {field: value for field, value in changes.items() if value is not None}
        for field, value in wanted.items():
            _check_range(TIER_RANGES, field, value)
        return await self._db.run(self._set_tier_in, guild_id, actor_id, name, wanted)

    async def remove_tier(self, guild_id: int, name: str) -> bool:
        """Delete a tier with its role links and member assignments; False if it did not exist."""
        return await self._db.run(self._remove_tier_in, guild_id, _tier_name(name))

    async def link_role(self, guild_id: int, role_id: int, tier: str | None) -> Tier | None:
        """Members with `role_id` get `tier` (None: the role no longer gives a tier)."""
        return await self._db.run(
            self._link_in, "credit_tier_roles", "role_id", guild_id, role_id, tier
        )

    async def assign(self, guild_id: int, user_id: int, tier: str | None) -> Tier | None:
        """Give one member `tier` directly (None: take their directly given tier away)."""
        return await self._db.run(
            self._link_in, "credit_tier_members", "user_id", guild_id, user_id, tier
        )

    async def tiers(self, guild_id: int) -> list[TierInfo]:
        """Every tier of the server, by name."""
        rows = await self._db.fetchall(
            f"SELECT {_TIER_COLUMNS} FROM credit_tiers WHERE guild_id = ? ORDER BY name",
            (guild_id,),
        )
        links = await self._db.fetchall(
            "SELECT tier, role_id FROM credit_tier_roles WHERE guild_id = ? ORDER BY role_id",
            (guild_id,),
        )
        counts = await self._db.fetchall(
            "SELECT tier, COUNT(*) AS n FROM credit_tier_members WHERE guild_id = ? GROUP BY tier",
            (guild_id,),
        )
        members = {row["tier"].lower(): row["n"] for row in counts}
        infos = []
        for row in rows:
            tier = Tier(*row)
            roles = tuple(r["role_id"] for r in links if r["tier"].lower() == tier.name.lower())
            infos.append(TierInfo(tier, roles, members.get(tier.name.lower(), 0)))
        return infos

    async def terms(self, guild_id: int, user_id: int, role_ids: Collection[int] | None) -> Terms:
        """What applies to the member now (read-only)."""
        return await self._db.run(self.terms_in, guild_id, user_id, role_ids)

    async def _configure_in(
        self,
        tx: Transaction,
        guild_id: int,
        actor_id: int | None,
        reset: bool,
        wanted: dict[str, int],
    ) -> Allowance:
        current = {} if reset else await self._own_settings_in(tx, guild_id)
        merged = {name: wanted.get(name, current.get(name)) for name in SETTING_RANGES}
        columns = ", ".join(SETTING_RANGES)
        await tx.execute(
            f"INSERT INTO credit_settings (guild_id, {columns}, updated_at, updated_by) "
            f"VALUES (?, {', '.join('?' for _ in SETTING_RANGES)}, ?, ?) "
            f"ON CONFLICT (guild_id) DO UPDATE SET {_REPLACE_SETTINGS}",
            (guild_id, *merged.values(), self._clock(), actor_id),
        )
        return await self.allowance_in(tx, guild_id)

    async def _own_settings_in(self, tx: Transaction, guild_id: int) -> dict[str, int | None]:
        row = await tx.fetchone(
            f"SELECT {', '.join(SETTING_RANGES)} FROM credit_settings WHERE guild_id = ?",
            (guild_id,),
        )
        return dict(zip(SETTING_RANGES, row, strict=True)) if row else {}

    async def _set_tier_in(
        self,
        tx: Transaction,
        guild_id: int,
        actor_id: int | None,
        name: str,
        wanted: dict[str, int],
    ) -> Tier:
        existing = await self._tier_in(tx, guild_id, name)
        if existing is None:
            count = await tx.fetchval(
                "SELECT COUNT(*) FROM credit_tiers WHERE guild_id = ?", (guild_id,)
            )
            if count >= MAX_TIERS:
                raise RuleError(Text("rules.too_many_tiers", max=MAX_TIERS))
            await tx.execute(
                "INSERT INTO credit_tiers (guild_id, name, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, name, self._clock(), actor_id),
            )
        for field, value in wanted.items():
            # Column names come from TIER_RANGES (checked above), never from the member.
            await tx.execute(
                f"UPDATE credit_tiers SET {field} = ?, updated_at = ?, updated_by = ? "
                "WHERE guild_id = ? AND name = ?",
                (value, self._clock(), actor_id, guild_id, name),
            )
        tier = await self._tier_in(tx, guild_id, name)
        assert tier is not None
        return tier

    async def _remove_tier_in(self, tx: Transaction, guild_id: int, name: str) -> bool:
        # ON DELETE CASCADE removes its role links and member assignments with it.
        return bool(
            await tx.execute(
                "DELETE FROM credit_tiers WHERE guild_id = ? AND name = ?", (guild_id, name)
            )
        )

    async def _link_in(
        self,
        tx: Transaction,
        table: str,
        column: str,
        guild_id: int,
        key: int,
        tier_name: str | None,
    ) -> Tier | None:
        # `table` and `column` are fixed by the two callers above, never from the member.
        if tier_name is None:
            await tx.execute(
                f"DELETE FROM {table} WHERE guild_id = ? AND {column} = ?", (guild_id, key)
            )
            return None
        tier = await self._tier_in(tx, guild_id, _tier_name(tier_name))
        if tier is None:
            raise RuleError(Text("rules.no_tier", tier=tier_name))
        await tx.execute(
            f"INSERT INTO {table} (guild_id, {column}, tier) VALUES (?, ?, ?) "
            f"ON CONFLICT (guild_id, {column}) DO UPDATE SET tier = excluded.tier",
            (guild_id, key, tier.name),
        )
        return tier

    async def _tier_in(self, tx: Transaction, guild_id: int, name: str) -> Tier | None:
        row = await tx.fetchone(
            f"SELECT {_TIER_COLUMNS} FROM credit_tiers WHERE guild_id = ? AND name = ?",
            (guild_id, name),
        )
        return Tier(*row) if row else None


def _tier_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name or len(name) > MAX_TIER_NAME:
        raise RuleError(Text("rules.bad_tier_name", max=MAX_TIER_NAME, name=raw))
    return name


def _check_range(ranges: dict[str, tuple[int, int]], name: str, value: int) -> None:
    if name not in ranges:
        raise RuleError(Text("rules.unknown_setting", setting=name))
    low, high = ranges[name]
    if not low <= value <= high:
        raise RuleError(Text("rules.out_of_range", setting=name, low=low, high=high, value=value))
