"""A server's community settings: where and who may generate, its channels, approval, the pool."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.community.log import Logged
from bot.db import Transaction
from bot.errors import UserError
from bot.i18n import Text

DAY = 86_400
HOUR = 3_600
MAX_CHANNELS = 50
MAX_ROLES = 50

# What admins may set: (lowest, highest), checked here as well as by Discord.
RANGES: dict[str, tuple[int, int]] = {
    "new_member_days": (1, 365),
    "approval_timeout_hours": (1, 168),
    "pool_daily_limit": (0, 1_000_000),
}
CHANNEL_COLUMNS = ("moderators_channel_id", "audit_channel_id", "showcase_channel_id")
CHANNEL_LABELS = {
    "moderators_channel_id": "moderators' channel",
    "audit_channel_id": "audit-log channel",
    "showcase_channel_id": "showcase channel",
}


class SettingsError(UserError):
    """An admin's change was refused; the message says what to change."""


class ApprovalMode(StrEnum):
    """Whose videos wait for a moderator before they are made."""

    OFF = "off"
    NEW_MEMBERS = "new_members"
    EVERYONE = "everyone"


@dataclass(frozen=True)
class CommunitySettings:
    """Everything `/server settings` shows, except blocked terms and bans (kept apart)."""

    guild_id: int
    channel_ids: frozenset[int] = frozenset()
    role_ids: frozenset[int] = frozenset()
    moderators_channel_id: int | None = None
    audit_channel_id: int | None = None
    showcase_channel_id: int | None = None
    approval_mode: ApprovalMode = ApprovalMode.OFF
    new_member_days: int = 7
    approval_timeout_hours: int = 24
    pool_daily_limit: int = 25

    @property
    def approval_timeout_seconds(self) -> int:
        """How long a request may wait for a decision."""
        return self.approval_timeout_hours * HOUR

    def approval_needed(self, joined_at: float | None, now: float) -> str | None:
        """Why this member's video needs a moderator's approval, or None if it does not."""
        if self.approval_mode is ApprovalMode.EVERYONE:
            return "this server approves every video"
        if self.approval_mode is ApprovalMode.NEW_MEMBERS:
            if joined_at is None:
                return "new member (join date unknown)"
            days = (now - joined_at) / DAY
            if days < self.new_member_days:
                return (
                    f"new member (joined {_days(days)} ago; "
                    f"approval under {self.new_member_days} days)"
                )
        return None

    def channel_allowed(self, channel_id: int, parent_channel_id: int | None = None) -> bool:
        """Whether videos may be made in this channel (a thread follows its parent)."""
        if not self.channel_ids:
            return True
        return channel_id in self.channel_ids or parent_channel_id in self.channel_ids

    def role_allowed(self, role_ids: Collection[int]) -> bool:
        """Whether a member with these roles may make videos."""
        return not self.role_ids or bool(self.role_ids & set(role_ids))


class SettingsStore(Logged):
    """Reads and changes community settings; every change is written to the moderation log."""

    # -- synchronous core ------------------------------------------------------------------------

    async def get_in(self, tx: Transaction, guild_id: int) -> CommunitySettings:
        """The server's settings as this transaction sees them."""
        row = await tx.fetchone(
            "SELECT moderators_channel_id, audit_channel_id, showcase_channel_id, approval_mode, "
            "new_member_days, approval_timeout_hours, pool_daily_limit "
            "FROM community_settings WHERE guild_id = ?",
            (guild_id,),
        )
        channels = frozenset(
            r[0]
            for r in await tx.fetchall(
                "SELECT channel_id FROM community_channels WHERE guild_id = ?", (guild_id,)
            )
        )
        roles = frozenset(
            r[0]
            for r in await tx.fetchall(
                "SELECT role_id FROM community_roles WHERE guild_id = ?", (guild_id,)
            )
        )
        if row is None:
            return CommunitySettings(guild_id, channels, roles)
        return CommunitySettings(
            guild_id=guild_id,
            channel_ids=channels,
            role_ids=roles,
            moderators_channel_id=row[0],
            audit_channel_id=row[1],
            showcase_channel_id=row[2],
            approval_mode=ApprovalMode(row[3]),
            new_member_days=row[4],
            approval_timeout_hours=row[5],
            pool_daily_limit=row[6],
        )

    # -- admin changes ---------------------------------------------------------------------------

    async def get(self, guild_id: int) -> CommunitySettings:
        """The server's settings now."""
        # Read on every card render: the reader, not a durable write transaction.
        return await self._db.read(self.get_in, guild_id)

    async def set_channel(
        self, guild_id: int, actor_id: int | None, column: str, channel_id: int | None
    ) -> CommunitySettings:
        """Set (or with None, clear) the moderators', audit-log or showcase channel."""
        if column not in CHANNEL_COLUMNS:
            raise SettingsError(Text("community.settings.not_channel", name=column))
        label = CHANNEL_LABELS[column]
        detail = f"{label} set to <#{channel_id}>" if channel_id else f"{label} cleared"
        return await self._db.run(self._write_in, guild_id, actor_id, {column: channel_id}, detail)

    async def configure(
        self,
        guild_id: int,
        actor_id: int | None,
        *,
        approval_mode: ApprovalMode | str | None = None,
        **changes: int | None,
    ) -> CommunitySettings:
        """Change approval mode and numeric settings (None: unchanged)."""
        wanted: dict[str, object] = {k: v for k, v in changes.items() if v is not None}
        for name, value in wanted.items():
            if name not in RANGES:
                raise SettingsError(Text("community.settings.not_here", name=name))
            low, high = RANGES[name]
            if not low <= int(value) <= high:  # type: ignore[call-overload]
                raise SettingsError(
                    Text("community.settings.range", name=name, low=low, high=high, value=value)
                )
        if approval_mode is not None:
            try:
                wanted["approval_mode"] = ApprovalMode(approval_mode).value
            except ValueError:
                raise SettingsError(
                    Text("community.settings.mode", modes=", ".join(m.value for m in ApprovalMode))
                ) from None
        detail = ", ".join(f"{k}={v}" for k, v in wanted.items())
        return await self._db.run(self._write_in, guild_id, actor_id, wanted, detail)

    async def _write_in(
        self,
        tx: Transaction,
        guild_id: int,
        actor_id: int | None,
        columns: Mapping[str, object],
        detail: str,
    ) -> CommunitySettings:
        """Write settings columns and log what changed (nothing is logged for no change)."""
        await tx.execute(
            "INSERT INTO community_settings (guild_id, updated_at, updated_by) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (guild_id, self._clock(), actor_id),
        )
        for name, value in columns.items():
            # Names are CHANNEL_COLUMNS, RANGES or "approval_mode" (checked by the callers).
            await tx.execute(
                f"UPDATE community_settings SET {name} = ? WHERE guild_id = ?", (value, guild_id)
            )
        if detail:
            await self._log.record_in(tx, guild_id, actor_id, "settings", detail)
        return await self.get_in(tx, guild_id)

    async def change_list(
        self,
        guild_id: int,
        actor_id: int | None,
        what: str,
        *,
        add: int | None = None,
        remove: int | None = None,
        clear: bool = False,
    ) -> CommunitySettings:
        """Add to, remove from or clear the allowed `channels` or `roles`."""
        if what not in ("channels", "roles"):
            raise SettingsError(Text("community.settings.not_list", name=what))
        return await self._db.run(
            self._change_list_in, guild_id, actor_id, what, add, remove, clear
        )

    async def _change_list_in(
        self,
        tx: Transaction,
        guild_id: int,
        actor_id: int | None,
        what: str,
        add: int | None,
        remove: int | None,
        clear: bool,
    ) -> CommunitySettings:
        table, column, limit, mark = (
            ("community_channels", "channel_id", MAX_CHANNELS, "#")
            if what == "channels"
            else ("community_roles", "role_id", MAX_ROLES, "@&")
        )
        changes = []
        if clear:
            await tx.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))
            changes.append(f"allowed {what} cleared (all allowed)")
        if remove is not None:
            gone = await tx.execute(
                f"DELETE FROM {table} WHERE guild_id = ? AND {column} = ?", (guild_id, remove)
            )
            if not gone and not clear:
                raise SettingsError(Text("community.settings.not_listed", item=f"<{mark}{remove}>"))
            changes.append(f"removed <{mark}{remove}> from allowed {what}")
        if add is not None:
            count = await tx.fetchval(
                f"SELECT COUNT(*) FROM {table} WHERE guild_id = ?", (guild_id,)
            )
            if count >= limit:
                raise SettingsError(Text("community.settings.list_full", most=limit, name=what))
            await tx.execute(
                f"INSERT INTO {table} (guild_id, {column}) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (guild_id, add),
            )
            changes.append(f"added <{mark}{add}> to allowed {what}")
        if changes:
            return await self._write_in(tx, guild_id, actor_id, {}, "; ".join(changes))
        return await self.get_in(tx, guild_id)


def _days(days: float) -> str:
    if days < 1:
        return "less than a day"
    whole = int(days)
    return f"{whole} day{'s' if whole != 1 else ''}"
