"""Pure renderers for credits: a balance, a ledger page, settings, tiers or usage in, an embed
out, in the reader's language (`locale`: `interaction.locale`; default English)."""

from __future__ import annotations

import re
from collections.abc import Callable

import discord

from bot.credits.quotas import QuotaExceeded, Standing
from bot.credits.rules import TierInfo
from bot.credits.terms import DAY, HOUR, Allowance, Terms
from bot.credits.usage import UsageLine, UsageReport
from bot.i18n import DEFAULT_LANGUAGE, Messages
from bot.ledger import CAPTURE_REASON, WELCOME_REASON, InsufficientCredits, LedgerEntry, LedgerPage
from bot.ui.embeds import field_list_embed

# Reasons the bot itself writes into the ledger, shown in the reader's language. Reasons an
# admin typed are shown as they were typed.
_REASONS = {
    WELCOME_REASON: "ledger.reason.welcome",
    CAPTURE_REASON: "ledger.reason.delivered",
    "job started": "ledger.reason.job_started",
    "granted by an admin": "ledger.reason.granted",
    "taken by an admin": "ledger.reason.taken",
    "daily allowance": "ledger.reason.daily_allowance",
}
_ALLOWANCE_REASON = re.compile(r"allowance \(every (\d+) h\)")
_REFUND_REASON = re.compile(r"refund: (\S+)")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def balance_embed(
    standing: Standing, member_name: str, locale: object = DEFAULT_LANGUAGE
) -> discord.Embed:
    """A member's credits at a glance: balance, held, tier, allowance and next refill."""
    m = Messages(locale)
    balance = standing.balance
    embed = discord.Embed(
        title=m("balance.title", member=member_name), colour=discord.Colour.gold()
    )
    embed.add_field(name=m("balance.available"), value=str(balance.available), inline=True)
    embed.add_field(name=m("balance.held"), value=str(balance.held), inline=True)
    embed.add_field(name=m("balance.balance"), value=str(balance.balance), inline=True)
    terms = standing.terms
    lines = [
        m("balance.tier", tier=_tier_line(m, terms)),
        m("balance.allowance", allowance=_allowance_line(m, terms)),
    ]
    if standing.next_refill_at is not None:
        lines.append(m("balance.next_refill", at=standing.next_refill_at))
    if standing.refilled:
        lines.append(m("balance.refilled", amount=standing.refilled))
    limit = terms.max_concurrent_jobs
    if limit:
        lines.append(m("balance.in_progress_limited", count=standing.open_jobs, limit=limit))
    else:
        lines.append(m("balance.in_progress_unlimited", count=standing.open_jobs))
    embed.description = "\n".join(lines)
    return embed


def ledger_embed(page: LedgerPage, locale: object = DEFAULT_LANGUAGE) -> discord.Embed:
    """A page of the ledger, newest first."""
    m = Messages(locale)
    embed = discord.Embed(title=m("ledger.title"), colour=discord.Colour.gold())
    if not page.entries:
        embed.description = m("ledger.empty")
        return embed
    lines = [
        m(
            "ledger.line",
            at=int(entry.created_at),
            label=_entry_label(m, entry),
            reason=_reason(m, entry.reason),
        )
        + (m("ledger.job", job=entry.job_id) if entry.job_id else "")
        for entry in page.entries
    ]
    embed.description = _truncate("\n".join(lines), 4000)
    embed.set_footer(text=m("ledger.footer", page=page.page, pages=page.pages, count=page.total))
    return embed


def _entry_label(m: Messages, entry: LedgerEntry) -> str:
    """How a ledger row changes what the member can spend."""
    match entry.kind:
        case "grant":
            return m("ledger.kind.grant", amount=entry.balance_delta)
        case "take":
            return m("ledger.kind.take", amount=entry.balance_delta)
        case "hold":
            return m("ledger.kind.hold", amount=entry.held_delta)
        case "capture" if entry.balance_delta != entry.held_delta:
            spent, returned = -entry.balance_delta, entry.balance_delta - entry.held_delta
            return m("ledger.kind.capture_partial", spent=spent, returned=returned)
        case "capture":
            return m("ledger.kind.capture", spent=-entry.balance_delta)
        case "release":
            return m("ledger.kind.release", amount=-entry.held_delta)
        case _:
            return entry.kind


def _reason(m: Messages, reason: str) -> str:
    if key := _REASONS.get(reason):
        return m(key)
    if found := _ALLOWANCE_REASON.fullmatch(reason):
        return m("ledger.reason.allowance_every", hours=int(found[1]))
    if found := _REFUND_REASON.fullmatch(reason):
        return m("ledger.reason.refund", code=found[1])
    return reason


def _every(m: Messages, seconds: int) -> str:
    if seconds == DAY:
        return m("period.every_day")
    if seconds % DAY == 0:
        return m("period.every_days", count=seconds // DAY)
    hours = seconds // HOUR
    return m("period.every_hour") if hours == 1 else m("period.every_hours", count=hours)


def _tier_line(m: Messages, terms: Terms) -> str:
    names = ", ".join(terms.tiers) if terms.tiers else m("balance.tier_standard")
    if terms.discount_percent:
        return m("balance.tier_discount", tiers=names, percent=terms.discount_percent)
    return names


def _allowance_line(m: Messages, terms: Terms) -> str:
    if terms.refill_amount <= 0:
        return m("balance.no_refill")
    return m(
        "balance.refill",
        amount=terms.refill_amount,
        every=_every(m, terms.period_seconds),
        cap=terms.refill_cap,
    )


def insufficient_message(exc: InsufficientCredits, locale: object = DEFAULT_LANGUAGE) -> str:
    """Why a video was refused for credits: the price, the balance and the next refill."""
    m = Messages(locale)
    parts = [m("refusal.credits.short", price=exc.price, available=exc.available)]
    if exc.next_refill_at is not None and exc.refill_amount > 0:
        parts.append(
            m(
                "refusal.credits.refill",
                amount=exc.refill_amount,
                at=int(exc.next_refill_at),
                cap=exc.refill_cap,
            )
        )
    else:
        parts.append(m("refusal.credits.no_refill"))
    parts.append(m("refusal.credits.advice"))
    return " ".join(parts)


def limit_message(exc: QuotaExceeded, locale: object = DEFAULT_LANGUAGE) -> str:
    """Which limit refused a video, and when it frees up."""
    m = Messages(locale)
    what = m.render(exc.what_text)
    if exc.frees_at is None:
        return what
    return m("refusal.limit_resets", what=what, at=int(exc.frees_at))


def allowance_embed(allowance: Allowance, locale: object = DEFAULT_LANGUAGE) -> discord.Embed:
    """A server's credit settings as they apply now."""
    m = Messages(locale)
    embed = discord.Embed(title=m("allowance.title"), colour=discord.Colour.gold())
    refill = (
        m(
            "allowance.refill_value",
            amount=allowance.refill_amount,
            every=_every(m, allowance.refill_period_hours * HOUR),
        )
        if allowance.refill_amount
        else m("allowance.off")
    )
    jobs = allowance.max_concurrent_jobs
    cap = allowance.daily_spend_cap
    for name, value in (
        (m("allowance.starting"), str(allowance.starting_credits)),
        (m("allowance.refill"), refill),
        (m("allowance.refill_cap"), str(allowance.refill_cap)),
        (m("allowance.max_jobs"), str(jobs) if jobs else m("allowance.no_limit")),
        (m("allowance.daily_cap"), str(cap) if cap else m("allowance.no_cap")),
    ):
        embed.add_field(name=name, value=value, inline=True)
    embed.set_footer(text=m("allowance.footer"))
    return embed


def tiers_embed(tiers: list[TierInfo], locale: object = DEFAULT_LANGUAGE) -> discord.Embed:
    """A server's tiers: what each improves and who has it."""
    m = Messages(locale)
    return field_list_embed(
        m("tiers.title"),
        discord.Colour.gold(),
        (_tier_field(m, info) for info in tiers[:25]),
        empty=m("tiers.empty"),
        footer=m("tiers.footer"),
    )


def _tier_field(m: Messages, info: TierInfo) -> tuple[str, str]:
    tier = info.tier
    perks = [
        m("tiers.perk.refill", amount=tier.refill_amount) if tier.refill_amount is not None else "",
        m("tiers.perk.cap", cap=tier.refill_cap) if tier.refill_cap is not None else "",
        m("tiers.perk.discount", percent=tier.discount_percent)
        if tier.discount_percent is not None
        else "",
        _jobs_perk(m, tier.max_concurrent_jobs),
    ]
    who = [f"<@&{role_id}>" for role_id in info.role_ids]
    if info.members:
        who.append(m("tiers.members_directly", count=info.members))
    value = (
        (", ".join(p for p in perks if p) or m("tiers.no_perks"))
        + "\n"
        + (m("tiers.given_to", who=", ".join(who)) if who else m("tiers.given_to_nobody"))
    )
    return tier.name, _truncate(value, 1024)


def _jobs_perk(m: Messages, limit: int | None) -> str:
    if limit is None:
        return ""
    return m("tiers.perk.no_job_limit") if limit == 0 else m("tiers.perk.jobs", count=limit)


def usage_embed(
    report: UsageReport,
    member_name: Callable[[int], str],
    role_name: Callable[[int], str],
    locale: object = DEFAULT_LANGUAGE,
) -> discord.Embed:
    """A server's usage over a period; the full table goes in the attached CSV."""
    m = Messages(locale)
    embed = discord.Embed(
        title=m("usage.title", period=m(f"usage.period.{report.period}")),
        colour=discord.Colour.gold(),
    )
    total = report.total
    if not total.jobs:
        embed.description = m("usage.empty")
        return embed
    embed.description = _usage_line(m, total)
    sections = (
        (m("usage.by_provider"), report.providers, str),
        (m("usage.top_members"), report.members, lambda key: member_name(int(key))),
        (m("usage.by_role"), report.roles, lambda key: role_name(int(key))),
    )
    for title, lines, name_of in sections:
        if lines:
            text = "\n".join(
                f"**{name_of(line.key)}**: {_usage_line(m, line)}" for line in lines[:10]
            )
            embed.add_field(name=title, value=_truncate(text, 1024), inline=False)
    embed.set_footer(text=m("usage.footer"))
    return embed


def _usage_line(m: Messages, line: UsageLine) -> str:
    parts = [
        m("usage.videos", count=line.jobs),
        m("usage.spent", count=line.spent),
        m("usage.failed", count=line.failed),
        m("usage.refunds", count=line.refunds, credits=line.refunded),
    ]
    if line.cancelled:
        parts.insert(3, m("usage.cancelled", count=line.cancelled))
    if line.on_hold:
        parts.append(m("usage.on_hold", count=line.on_hold))
    if line.provider_cost:
        parts.append(m("usage.provider_cost", cost=f"{line.provider_cost:g}"))
    return " · ".join(parts)
