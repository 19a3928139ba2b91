"""Usage reports: what a server spent, per provider, member and role, with failures and refunds."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields

from bot.credits.terms import DAY, day_start
from bot.db import Database

# Period name -> how far back it reaches (None: since 00:00 UTC today, or everything for "all").
PERIODS: dict[str, int | None] = {"today": None, "7d": 7 * DAY, "30d": 30 * DAY, "all": None}
PERIOD_LABELS = {
    "today": "today (UTC)",
    "7d": "the last 7 days",
    "30d": "the last 30 days",
    "all": "all time",
}
NO_ROLE = 0

_JOB_TOTALS = """
SELECT j.provider AS provider, j.user_id AS user_id,
       COUNT(*) AS jobs,
       COUNT(CASE WHEN j.state = 'succeeded' THEN 1 END) AS succeeded,
       COUNT(CASE WHEN j.state = 'failed' THEN 1 END) AS failed,
       COUNT(CASE WHEN j.state = 'cancelled' THEN 1 END) AS cancelled,
       COALESCE(SUM(CASE WHEN h.state = 'captured' THEN COALESCE(h.captured, h.amount) END), 0)
           AS spent,
       COUNT(CASE WHEN h.state = 'released' THEN 1 END) AS refunds,
       COALESCE(SUM(CASE WHEN h.state = 'released' THEN h.amount
                         WHEN h.state = 'captured' THEN h.amount - COALESCE(h.captured, h.amount)
                    END), 0) AS refunded,
       COALESCE(SUM(CASE WHEN h.state = 'open' THEN h.amount END), 0) AS on_hold,
       COALESCE(SUM(j.provider_cost), 0.0) AS provider_cost
FROM jobs j LEFT JOIN holds h ON h.job_id = j.id
WHERE j.guild_id = ? AND j.created_at >= ? AND j.created_at < ?
GROUP BY j.provider, j.user_id
"""


@dataclass(frozen=True)
class UsageLine:
    """Totals for one provider, member or role (`key`), or the whole server."""

    key: str
    jobs: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    spent: int = 0
    refunds: int = 0
    refunded: int = 0
    on_hold: int = 0
    provider_cost: float = 0.0

    def plus(self, other: UsageLine) -> UsageLine:
        """Both lines' counts added up, under this line's key."""
        sums = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "key"
        }
        return UsageLine(key=self.key, **sums)


_COUNTS = tuple(f.name for f in fields(UsageLine) if f.name != "key")


@dataclass(frozen=True)
class UsageReport:
    """A server's usage over [since, until), biggest spenders first."""

    guild_id: int
    period: str
    since: float
    until: float
    total: UsageLine
    providers: tuple[UsageLine, ...]
    members: tuple[UsageLine, ...]
    roles: tuple[UsageLine, ...]


class UsageReports:
    """Builds usage reports from the jobs and holds tables."""

    def __init__(self, db: Database, *, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    async def report(self, guild_id: int, period: str = "7d") -> UsageReport:
        """Usage of one server over a named period (see PERIODS)."""
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}")
        until = self._clock()
        since = _since(period, until)
        rows = await self._db.fetchall(_JOB_TOTALS, (guild_id, since, until + 1))
        roles = await self._db.fetchall(
            "SELECT user_id, role_id FROM member_roles WHERE guild_id = ?", (guild_id,)
        )
        roles_of: dict[int, list[int]] = {}
        for row in roles:
            # @everyone has the server's id and every member has it: it says nothing per role.
            if row["role_id"] != guild_id:
                roles_of.setdefault(row["user_id"], []).append(row["role_id"])
        by_provider: dict[str, UsageLine] = {}
        by_member: dict[str, UsageLine] = {}
        by_role: dict[str, UsageLine] = {}
        total = UsageLine(key="total")
        for row in rows:
            line = UsageLine(key="", **{name: row[name] for name in _COUNTS})
            total = total.plus(line)
            _add(by_provider, row["provider"], line)
            _add(by_member, str(row["user_id"]), line)
            for role_id in roles_of.get(row["user_id"], [NO_ROLE]):
                _add(by_role, str(role_id), line)
        return UsageReport(
            guild_id=guild_id,
            period=period,
            since=since,
            until=until,
            total=total,
            providers=_ranked(by_provider.values()),
            members=_ranked(by_member.values()),
            roles=_ranked(by_role.values()),
        )


def usage_csv(
    report: UsageReport, member_names: Mapping[int, str], role_names: Mapping[int, str]
) -> str:
    """The report as CSV: one row per provider, member and role, then the server's total."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["scope", "id", "name", *_COUNTS])
    sections: list[tuple[str, Iterable[UsageLine], Callable[[str], str]]] = [
        ("provider", report.providers, lambda key: key),
        ("member", report.members, lambda key: member_names.get(int(key), "")),
        ("role", report.roles, lambda key: role_names.get(int(key), "")),
        ("total", [report.total], lambda key: ""),
    ]
    for scope, lines, name_of in sections:
        for line in lines:
            values = [getattr(line, c) for c in _COUNTS]
            values[-1] = round(line.provider_cost, 4)
            writer.writerow([scope, line.key, _safe_cell(name_of(line.key)), *values])
    return out.getvalue()


def _since(period: str, until: float) -> float:
    if period == "today":
        return float(day_start(until))
    reach = PERIODS[period]
    return 0.0 if reach is None else until - reach


def _add(lines: dict[str, UsageLine], key: str, line: UsageLine) -> None:
    lines[key] = lines.get(key, UsageLine(key=key)).plus(line)


def _ranked(lines: Iterable[UsageLine]) -> tuple[UsageLine, ...]:
    return tuple(sorted(lines, key=lambda line: (-line.spent, -line.jobs, line.key)))


def _safe_cell(text: str) -> str:
    # A name starting with = + - @ would run as a formula when the CSV is opened in a sheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
