"""Pure renderers: a job, a page of jobs or the models in, an embed out, in the reader's
language (`locale`: `interaction.locale`, or the job's own for its card; default English)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from bot.i18n import DEFAULT_LANGUAGE, Messages, failure_text
from bot.jobs.models import DeliveryState, Job, JobState
from bot.pricing import PER_SECOND, PriceTable
from bot.providers.base import Provider
from bot.ui.credit_cards import insufficient_message as insufficient_message
from bot.ui.credit_cards import limit_message as limit_message
from bot.ui.embeds import field_list_embed
from bot.ui.links import web_url

_STATE_LOOK = {
    JobState.QUEUED: ("card.state.queued", discord.Colour.light_grey()),
    JobState.SUBMITTING: ("card.state.submitting", discord.Colour.light_grey()),
    JobState.RUNNING: ("card.state.running", discord.Colour.blurple()),
    JobState.SUCCEEDED: ("card.state.succeeded", discord.Colour.green()),
    JobState.FAILED: ("card.state.failed", discord.Colour.red()),
    JobState.CANCELLED: ("card.state.cancelled", discord.Colour.dark_grey()),
}


def format_duration(seconds: float, locale: object = DEFAULT_LANGUAGE) -> str:
    """`75.2` → `1m 15s`."""
    m = Messages(locale)
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    if minutes:
        return m("time.minutes_seconds", minutes=minutes, seconds=secs)
    return m("time.seconds", seconds=secs)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _credits_line(m: Messages, job: Job) -> str:
    if job.state is JobState.SUCCEEDED:
        return m("card.credits_spent", price=job.price)
    if job.state in (JobState.FAILED, JobState.CANCELLED):
        return m("card.credits_returned", price=job.price)
    return m("card.credits_held", price=job.price)


@dataclass(frozen=True)
class CardContext:
    """What the card shows beyond the job row: live phase, queue place, estimate, language."""

    provider_name: str
    now: float
    phase: str | None = None
    place_in_queue: int | None = None
    typical_seconds: float | None = None
    # Whose language the card speaks (the job's member: `job.locale`); None: English.
    locale: str | None = None
    # Characters of the prompt a title card could not draw (emoji, with the shipped font).
    left_out: str = ""


def job_card(job: Job, context: CardContext) -> discord.Embed:
    """The card that shows a job from the first second to its result."""
    m = Messages(context.locale)
    key, colour = _STATE_LOOK[job.state]
    label = m(key)
    if context.phase == "downloading":
        # A render on the bot's own machine is copied, not downloaded.
        label = m("card.state.downloading" if web_url(job.result_url) else "card.state.preparing")
    elif job.awaiting_approval:
        label = m("card.state.waiting_approval")
    elif job.state is JobState.RUNNING and job.provider_status:
        label = m("card.state.running_with_status", status=job.provider_status)
    request = job.request
    embed = discord.Embed(
        title=m("card.title", job=job.id),
        description=_truncate(request.prompt, 1000),
        colour=colour,
    )
    embed.add_field(name=m("card.field.state"), value=label, inline=True)
    embed.add_field(
        name=m("card.field.elapsed"),
        value=format_duration(job.elapsed(context.now), m.language),
        inline=True,
    )
    if not job.state.terminal:
        estimate = job.estimated_seconds or context.typical_seconds
        if estimate:
            source = m(
                "card.estimate_from_provider"
                if job.estimated_seconds
                else "card.estimate_from_recent"
            )
            embed.add_field(
                name=m("card.field.estimate"),
                value=m(
                    "card.estimate_value",
                    duration=format_duration(estimate, m.language),
                    source=source,
                ),
            )
        if context.place_in_queue is not None:
            embed.add_field(
                name=m("card.field.place"),
                value=m("card.place_value", place=context.place_in_queue),
            )
    embed.add_field(
        name=m("card.field.model"), value=model_label(context.provider_name, request.model)
    )
    size = request.resolution
    if job.width and job.height:
        size = f"{size} ({job.width}x{job.height})"
    embed.add_field(name=m("card.field.resolution"), value=size, inline=True)
    if request.duration:
        embed.add_field(
            name=m("card.field.duration"),
            value=m("card.duration_value", seconds=request.duration),
            inline=True,
        )
    if request.seed is not None:
        embed.add_field(name=m("card.field.seed"), value=str(request.seed), inline=True)
    embed.add_field(name=m("card.field.credits"), value=_credits_line(m, job), inline=True)
    if (job.state is JobState.FAILED or job.moderated) and job.failure_message:
        # English readers get the provider's own words; others the catalogue's, by code.
        reason = failure_text(
            m.language,
            job.failure_code or "unknown",
            provider=context.provider_name,
            fallback=job.failure_message,
        )
        embed.add_field(
            name=m("card.field.what_happened"),
            value=_truncate(m("card.failure", message=reason), 1024),
            inline=False,
        )
    if context.left_out:
        embed.add_field(
            name=m("card.field.left_out"),
            value=_truncate(m("card.note.left_out", chars=context.left_out), 1024),
            inline=False,
        )
    if (note := job.delivery_note_text) is not None:
        embed.add_field(
            name=m("card.field.delivery"), value=_truncate(m.render(note), 1024), inline=False
        )
    if job.delivery_state is DeliveryState.PARKED:
        # No channel nor direct message took the outcome: say so, and how to get it posted.
        embed.add_field(
            name=m("card.field.delivery"),
            value=m("delivery.parked", channel=job.channel_id),
            inline=False,
        )
    embed.set_footer(text=m("card.footer", job=job.id))
    return embed


def model_label(provider_name: str, model: str) -> str:
    """`kvidAI v2`; a provider whose only model shares its name reads as the provider alone."""
    if model.lower() in provider_name.lower():
        return provider_name
    return f"{provider_name} {model}"


def history_embed(
    jobs: list[Job],
    page: int = 1,
    locale: object = DEFAULT_LANGUAGE,
    *,
    has_older: bool = False,
) -> discord.Embed:
    """A page of a member's jobs; the footer offers the next page only when there is one."""
    m = Messages(locale)
    embed = discord.Embed(title=m("history.title"), colour=discord.Colour.blurple())
    if has_older:
        embed.set_footer(text=m("history.footer", page=page, next=page + 1))
    elif jobs:
        embed.set_footer(text=m("history.footer_last", page=page))
    if not jobs:
        embed.description = m("history.empty") if page == 1 else m("history.no_older")
        return embed
    lines = []
    for job in jobs:
        key, _ = _STATE_LOOK[job.state]
        # Only web links: a local render's file:// path means nothing to a member.
        web = web_url(job.result_url)
        link = " · " + m("history.video_link", url=web) if web else ""
        prompt = _truncate(job.request.prompt.replace("\n", " "), 60)
        lines.append(
            f"`{job.id}` {m(key)} · {job.provider} {job.request.model}"
            f" · {m('history.price', price=job.price)}"
            f" · <t:{int(job.created_at)}:R>{link}\n  {prompt}"
        )
    embed.description = _truncate("\n".join(lines), 4000)
    return embed


def tier_rank(tier: str) -> tuple[int, str]:
    """Sort key for resolutions and modes: 480p < 720p < 1080p < 4k, std < pro < 4k."""
    if match := re.fullmatch(r"(\d+)p", tier.lower()):
        return int(match.group(1)), tier
    if match := re.fullmatch(r"(\d+)k", tier.lower()):
        return int(match.group(1)) * 540, tier  # 4k is 2160 lines
    return {"std": 0, "pro": 1}.get(tier.lower(), 2), tier


def _price_label(m: Messages, tier: str, duration: int | None, credits: int) -> str:
    """`720p: 15`, `std 5s: 20`, or `pro: 9/s` for per-second prices."""
    if duration == PER_SECOND:
        return m("models.per_second", tier=tier, credits=credits)
    if duration is None:
        return f"{tier}: {credits}"
    return f"{tier} {m('time.seconds', seconds=duration)}: {credits}"


def models_embed(
    providers: list[Provider], prices: PriceTable, locale: object = DEFAULT_LANGUAGE
) -> discord.Embed:
    """Every provider's models, what they support, and their prices here."""
    m = Messages(locale)
    return field_list_embed(
        m("models.title"),
        discord.Colour.blurple(),
        (_provider_field(m, provider, prices) for provider in providers),
        empty=m("models.none"),
        footer=m("models.footer"),
    )


def _provider_field(m: Messages, provider: Provider, prices: PriceTable) -> tuple[str, str]:
    lines = []
    for spec in provider.models.values():
        priced = prices.for_model(provider.name, spec.name)
        costs = ", ".join(
            _price_label(m, tier, duration, credits)
            for (tier, duration), credits in sorted(
                priced.items(), key=lambda item: (tier_rank(item[0][0]), item[0][1] or 0)
            )
        )
        kinds = "/".join(spec.kinds)
        lengths = (
            m("models.lengths", shortest=min(spec.durations), longest=max(spec.durations))
            if spec.durations
            else m("models.auto_length")
        )
        lines.append(f"**{spec.name}** ({kinds}, {lengths}) · {costs or m('models.not_priced')}")
    name = f"{provider.display_name} (`{provider.name}`)"
    return name, _truncate("\n".join(lines), 1024)
