"""Pure renderers: a job or a balance in, an embed out."""

from __future__ import annotations

import discord

from bot.jobs.models import Job, JobState
from bot.ledger import Balance, LedgerEntry

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


def balance_embed(balance: Balance, member_name: str) -> discord.Embed:
    """A member's credits at a glance."""
    embed = discord.Embed(title=f"Credits of {member_name}", colour=discord.Colour.gold())
    embed.add_field(name="Available", value=str(balance.available), inline=True)
    embed.add_field(name="On hold", value=str(balance.held), inline=True)
    embed.add_field(name="Balance", value=str(balance.balance), inline=True)
    return embed


def ledger_embed(entries: list[LedgerEntry]) -> discord.Embed:
    """A page of the ledger, newest first."""
    embed = discord.Embed(title="Your credit history", colour=discord.Colour.gold())
    if not entries:
        embed.description = "No credit movements yet."
        return embed
    lines = [
        f"<t:{int(entry.created_at)}:R> **{_entry_label(entry)}** · {entry.reason}"
        + (f" · job `{entry.job_id}`" if entry.job_id else "")
        for entry in entries
    ]
    embed.description = _truncate("\n".join(lines), 4000)
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
        link = f" · [video]({job.result_url})" if job.result_url else ""
        prompt = _truncate(job.request.prompt.replace("\n", " "), 60)
        lines.append(
            f"`{job.id}` {label} · {job.provider} {job.request.model} · {job.price} cr"
            f" · <t:{int(job.created_at)}:R>{link}\n  {prompt}"
        )
    embed.description = _truncate("\n".join(lines), 4000)
    return embed
