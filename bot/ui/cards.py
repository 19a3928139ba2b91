"""Pure renderers: a job or a balance in, an embed out."""

from __future__ import annotations

from collections.abc import Callable

import discord

from bot.credits.quotas import QuotaExceeded, Standing
from bot.credits.rules import TierInfo
from bot.credits.terms import DAY, HOUR, Allowance, Terms
from bot.credits.usage import PERIOD_LABELS, UsageLine, UsageReport
from bot.jobs.models import Job, JobState
from bot.ledger import InsufficientCredits, LedgerEntry, LedgerPage
from bot.pricing import PER_SECOND, PriceTable
from bot.providers.base import Provider

_STATE_LOOK = {
    JobState.QUEUED: ("⏳ Queued", discord.Colour.light_grey()),
    JobState.SUBMITTING: ("📨 Sending to the video service", discord.Colour.light_grey()),
    JobState.RUNNING: ("🎞️ Generating", discord.Colour.blurple()),
    JobState.SUCCEEDED: ("✅ Done", discord.Colour.green()),
    JobState.FAILED: ("❌ Failed", discord.Colour.red()),
    JobState.CANCELLED: ("🚫 Cancelled", discord.Colour.dark_grey()),
}


def format_duration(seconds: float) -> str:
    """`75.2` → `1m 15s`."""
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _credits_line(job: Job) -> str:
    if job.state is JobState.SUCCEEDED:
        return f"{job.price} spent"
    if job.state in (JobState.FAILED, JobState.CANCELLED):
        return f"{job.price} returned to you"
    return f"{job.price} on hold"


def job_card(job: Job, provider_name: str, now: float) -> discord.Embed:
    """The card that shows a job from the first second to its result."""
    label, colour = _STATE_LOOK[job.state]
    if job.state is JobState.RUNNING and job.provider_status:
        label = f"{label} ({job.provider_status})"
    request = job.request
    embed = discord.Embed(
        title=f"Video job `{job.id}`",
        description=_truncate(request.prompt, 1000),
        colour=colour,
    )
    embed.add_field(name="State", value=label, inline=True)
    embed.add_field(name="Elapsed", value=format_duration(job.elapsed(now)), inline=True)
    if job.estimated_seconds and not job.state.terminal:
        embed.add_field(name="Estimate", value=f"~{format_duration(job.estimated_seconds)}")
    embed.add_field(name="Model", value=f"{provider_name} {request.model}", inline=True)
    size = request.resolution
    if job.width and job.height:
        size = f"{size} ({job.width}x{job.height})"
    embed.add_field(name="Resolution", value=size, inline=True)
    if request.duration:
        embed.add_field(name="Duration", value=f"{request.duration} s", inline=True)
    if request.seed is not None:
        embed.add_field(name="Seed", value=str(request.seed), inline=True)
    embed.add_field(name="Credits", value=_credits_line(job), inline=True)
    if job.state is JobState.FAILED and job.failure_message:
        embed.add_field(
            name="What happened",
            value=_truncate(f"{job.failure_message} Your credits were returned.", 1024),
            inline=False,
        )
    embed.set_footer(text=f"/video status job:{job.id}")
    return embed


def balance_embed(standing: Standing, member_name: str) -> discord.Embed:
    """A member's credits at a glance: balance, held, tier, allowance and next refill."""
    balance = standing.balance
    embed = discord.Embed(title=f"Credits of {member_name}", colour=discord.Colour.gold())
    embed.add_field(name="Available", value=str(balance.available), inline=True)
    embed.add_field(name="On hold", value=str(balance.held), inline=True)
    embed.add_field(name="Balance", value=str(balance.balance), inline=True)
    terms = standing.terms
    lines = [f"**Tier:** {_tier_line(terms)}", f"**Allowance:** {_allowance_line(terms)}"]
    if standing.next_refill_at is not None:
        lines.append(f"**Next refill:** <t:{standing.next_refill_at}:R>")
    if standing.refilled:
        lines.append(f"Your allowance just added **+{standing.refilled}** credits.")
    limit = terms.max_concurrent_jobs
    lines.append(
        f"**Videos in progress:** {standing.open_jobs}"
        + (f" of {limit} at once" if limit else " (no limit)")
    )
    embed.description = "\n".join(lines)
    return embed


def ledger_embed(page: LedgerPage) -> discord.Embed:
    """A page of the ledger, newest first."""
    embed = discord.Embed(title="Your credit history", colour=discord.Colour.gold())
    if not page.entries:
        embed.description = "No credit movements yet."
        return embed
    lines = [
        f"<t:{int(entry.created_at)}:R> **{_entry_label(entry)}** · {entry.reason}"
        + (f" · job `{entry.job_id}`" if entry.job_id else "")
        for entry in page.entries
    ]
    embed.description = _truncate("\n".join(lines), 4000)
    embed.set_footer(text=f"Page {page.page} of {page.pages} · {page.total} movements")
    return embed


def _entry_label(entry: LedgerEntry) -> str:
    """How a ledger row changes what the member can spend."""
    match entry.kind:
        case "grant":
            return f"+{entry.balance_delta} granted"
        case "take":
            return f"{entry.balance_delta} taken"
        case "hold":
            return f"-{entry.held_delta} held"
        case "capture" if entry.balance_delta != entry.held_delta:
            spent, returned = -entry.balance_delta, entry.balance_delta - entry.held_delta
            return f"{spent} spent, +{returned} returned"
        case "capture":
            return f"{-entry.balance_delta} spent"
        case "release":
            return f"+{-entry.held_delta} returned"
        case _:
            return entry.kind


def history_embed(jobs: list[Job]) -> discord.Embed:
    """A member's recent jobs."""
    embed = discord.Embed(title="Your recent videos", colour=discord.Colour.blurple())
    if not jobs:
        embed.description = "No videos yet. Try `/video text`."
        return embed
    lines = []
    for job in jobs:
        label, _ = _STATE_LOOK[job.state]
        # Only web links: a local render's file:// path means nothing to a member.
        web = job.result_url and job.result_url.startswith(("https://", "http://"))
        link = f" · [video]({job.result_url})" if web else ""
        prompt = _truncate(job.request.prompt.replace("\n", " "), 60)
        lines.append(
            f"`{job.id}` {label} · {job.provider} {job.request.model} · {job.price} cr"
            f" · <t:{int(job.created_at)}:R>{link}\n  {prompt}"
        )
    embed.description = _truncate("\n".join(lines), 4000)
    return embed


def _price_label(tier: str, duration: int | None, credits: int) -> str:
    """`720p: 15`, `std 5s: 20`, or `pro: 9/s` for per-second prices."""
    if duration == PER_SECOND:
        return f"{tier}: {credits}/s"
    if duration is None:
        return f"{tier}: {credits}"
    return f"{tier} {duration}s: {credits}"


def models_embed(providers: list[Provider], prices: PriceTable) -> discord.Embed:
    """Every provider's models, what they support, and their prices here."""
    embed = discord.Embed(title="Video services on this bot", colour=discord.Colour.blurple())
    if not providers:
        embed.description = "No video service is configured yet."
        return embed
    for provider in providers:
        lines = []
        for spec in provider.models.values():
            priced = prices.for_model(provider.name, spec.name)
            costs = ", ".join(
                _price_label(tier, duration, credits)
                for (tier, duration), credits in sorted(
                    priced.items(), key=lambda item: (item[0][0], item[0][1] or 0)
                )
            )
            kinds = "/".join(spec.kinds)
            lengths = (
                f"{min(spec.durations)}-{max(spec.durations)} s"
                if spec.durations
                else "auto length"
            )
            lines.append(f"**{spec.name}** ({kinds}, {lengths}) · {costs or 'not priced'}")
        embed.add_field(
            name=f"{provider.display_name} (`{provider.name}`)",
            value=_truncate("\n".join(lines), 1024),
            inline=False,
        )
    embed.set_footer(text="Prices are in credits per video. /credits balance shows yours.")
    return embed


def _every(seconds: int) -> str:
    if seconds == DAY:
        return "every day"
    if seconds % DAY == 0:
        return f"every {seconds // DAY} days"
    hours = seconds // HOUR
    return "every hour" if hours == 1 else f"every {hours} hours"


def _tier_line(terms: Terms) -> str:
    names = ", ".join(terms.tiers) if terms.tiers else "standard"
    if terms.discount_percent:
        return f"{names} ({terms.discount_percent}% off every video)"
    return names


def _allowance_line(terms: Terms) -> str:
    if terms.refill_amount <= 0:
        return "no periodic refill on this server"
    return (
        f"+{terms.refill_amount} credits {_every(terms.period_seconds)}, up to {terms.refill_cap}"
    )


def insufficient_message(exc: InsufficientCredits) -> str:
    """Why a video was refused for credits: the price, the balance and the next refill."""
    text = f"This video costs {exc.price} credits and you have {exc.available} available. "
    if exc.next_refill_at is not None and exc.refill_amount > 0:
        text += (
            f"Your allowance adds up to {exc.refill_amount} credits <t:{int(exc.next_refill_at)}:R>"
            f" (it tops you up to {exc.refill_cap}). "
        )
    else:
        text += "This server has no periodic refill. "
    return text + "Pick a cheaper model or resolution, or ask a moderator for credits."


def limit_message(exc: QuotaExceeded) -> str:
    """Which limit refused a video, and when it frees up."""
    if exc.frees_at is None:
        return exc.what
    return f"{exc.what} It resets <t:{int(exc.frees_at)}:R>."


def allowance_embed(allowance: Allowance) -> discord.Embed:
    """A server's credit settings as they apply now."""
    embed = discord.Embed(title="Credit settings of this server", colour=discord.Colour.gold())
    refill = (
        f"+{allowance.refill_amount} {_every(allowance.refill_period_hours * HOUR)}"
        if allowance.refill_amount
        else "off"
    )
    jobs = allowance.max_concurrent_jobs
    cap = allowance.daily_spend_cap
    for name, value in (
        ("Starting grant", str(allowance.starting_credits)),
        ("Refill", refill),
        ("Refill cap", str(allowance.refill_cap)),
        ("Videos at once, per member", str(jobs) if jobs else "no limit"),
        ("Daily spend cap, whole server", str(cap) if cap else "no cap"),
    ):
        embed.add_field(name=name, value=value, inline=True)
    embed.set_footer(
        text="Change with /credits settings; reset:True goes back to the bot's defaults."
    )
    return embed


def tiers_embed(tiers: list[TierInfo]) -> discord.Embed:
    """A server's tiers: what each improves and who has it."""
    embed = discord.Embed(title="Credit tiers", colour=discord.Colour.gold())
    if not tiers:
        embed.description = (
            "No tiers yet. Create one with `/credits tier set`, then give it to a role with "
            "`/credits tier role` or to a member with `/credits tier member`."
        )
        return embed
    for info in tiers[:25]:
        tier = info.tier
        perks = [
            f"refill +{tier.refill_amount}" if tier.refill_amount is not None else "",
            f"cap {tier.refill_cap}" if tier.refill_cap is not None else "",
            f"{tier.discount_percent}% off" if tier.discount_percent is not None else "",
            _jobs_perk(tier.max_concurrent_jobs),
        ]
        who = [f"<@&{role_id}>" for role_id in info.role_ids]
        if info.members:
            who.append(f"{info.members} member{'s' if info.members != 1 else ''} directly")
        value = (
            (", ".join(p for p in perks if p) or "no perks yet")
            + "\n"
            + ("Given to: " + ", ".join(who) if who else "Not given to anyone yet")
        )
        embed.add_field(name=tier.name, value=_truncate(value, 1024), inline=False)
    embed.set_footer(text="A member with several tiers gets the best value of each.")
    return embed


def _jobs_perk(limit: int | None) -> str:
    if limit is None:
        return ""
    return "no job limit" if limit == 0 else f"{limit} videos at once"


def usage_embed(
    report: UsageReport,
    member_name: Callable[[int], str],
    role_name: Callable[[int], str],
) -> discord.Embed:
    """A server's usage over a period; the full table goes in the attached CSV."""
    embed = discord.Embed(
        title=f"Usage over {PERIOD_LABELS[report.period]}", colour=discord.Colour.gold()
    )
    total = report.total
    if not total.jobs:
        embed.description = "No videos were made in this period."
        return embed
    embed.description = _usage_line(total)
    sections = (
        ("By provider", report.providers, str),
        ("Top members", report.members, lambda key: member_name(int(key))),
        ("By role", report.roles, lambda key: role_name(int(key))),
    )
    for title, lines, name_of in sections:
        if lines:
            text = "\n".join(f"**{name_of(line.key)}**: {_usage_line(line)}" for line in lines[:10])
            embed.add_field(name=title, value=_truncate(text, 1024), inline=False)
    embed.set_footer(text="Every provider, member and role is in the attached CSV.")
    return embed


def _usage_line(line: UsageLine) -> str:
    parts = [
        f"{line.jobs} video{'s' if line.jobs != 1 else ''}",
        f"{line.spent} credits spent",
        f"{line.failed} failed",
        f"{line.refunds} refund{'s' if line.refunds != 1 else ''} ({line.refunded} credits)",
    ]
    if line.cancelled:
        parts.insert(3, f"{line.cancelled} cancelled")
    if line.on_hold:
        parts.append(f"{line.on_hold} on hold")
    if line.provider_cost:
        parts.append(f"provider cost {line.provider_cost:g}")
    return " · ".join(parts)
