"""Pure renderers: a job or a balance in, an embed out."""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.jobs.models import Job, JobState
from bot.pricing import PER_SECOND, PriceTable
from bot.providers.base import Provider
from bot.ui.credit_cards import insufficient_message as insufficient_message
from bot.ui.credit_cards import limit_message as limit_message

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


@dataclass(frozen=True)
class CardContext:
    """What the card shows beyond the job row: live phase, queue place, estimate."""

    provider_name: str
    now: float
    phase: str | None = None
    place_in_queue: int | None = None
    typical_seconds: float | None = None


def job_card(job: Job, context: CardContext) -> discord.Embed:
    """The card that shows a job from the first second to its result."""
    label, colour = _STATE_LOOK[job.state]
    if context.phase == "downloading":
        label = "⬇️ Downloading the video"
    elif job.state is JobState.RUNNING and job.provider_status:
        label = f"{label} ({job.provider_status})"
    request = job.request
    embed = discord.Embed(
        title=f"Video job `{job.id}`",
        description=_truncate(request.prompt, 1000),
        colour=colour,
    )
    embed.add_field(name="State", value=label, inline=True)
    embed.add_field(name="Elapsed", value=format_duration(job.elapsed(context.now)), inline=True)
    if not job.state.terminal:
        estimate = job.estimated_seconds or context.typical_seconds
        if estimate:
            source = "the service's estimate" if job.estimated_seconds else "recent jobs"
            embed.add_field(name="Estimate", value=f"~{format_duration(estimate)} ({source})")
        if context.place_in_queue is not None:
            embed.add_field(name="Place in queue", value=f"#{context.place_in_queue}")
    embed.add_field(name="Model", value=_model_label(context.provider_name, request.model))
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
    if job.delivery_note:
        embed.add_field(name="Delivery", value=_truncate(job.delivery_note, 1024), inline=False)
    embed.set_footer(text=f"/video status job:{job.id}")
    return embed


def _model_label(provider_name: str, model: str) -> str:
    """`kvidAI v2`; a provider whose only model shares its name reads as the provider alone."""
    if model.lower() in provider_name.lower():
        return provider_name
    return f"{provider_name} {model}"


def history_embed(jobs: list[Job], page: int = 1) -> discord.Embed:
    """A page of a member's jobs."""
    embed = discord.Embed(title="Your recent videos", colour=discord.Colour.blurple())
    embed.set_footer(text=f"Page {page} · /video history page:{page + 1} for older ones")
    if not jobs:
        embed.description = "No videos yet. Try `/video text`." if page == 1 else "No older videos."
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
