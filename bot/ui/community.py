"""Pure renderers for the community features: settings, requests, shares, boards, events."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.community.approval import ApprovalRequest
from bot.community.events import Entry, Event, EventResult
from bot.community.log import LogLine
from bot.community.moderation import Ban, BlockedRule, Report
from bot.community.pool import PoolReport, PoolStatus
from bot.community.settings import ApprovalMode, CommunitySettings
from bot.community.showcase import PERIOD_LABELS, BoardLine, SharedJob
from bot.ui.cards import model_label
from bot.ui.links import web_url

MAX_FIELD = 1024
_STATE_WORDS = {
    "approved": ("✅ Approved", discord.Colour.green()),
    "denied": ("⛔ Denied", discord.Colour.red()),
    "expired": ("⌛ Expired undecided (credits released)", discord.Colour.dark_grey()),
    "withdrawn": ("🚫 Closed: the video had already ended", discord.Colour.dark_grey()),
}


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    """A link to a message."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def job_link(job: SharedJob) -> str | None:
    """A link back to the video's result (or its card), if the bot knows the message."""
    message_id = job.result_message_id or job.card_message_id
    return jump_url(job.guild_id, job.channel_id, message_id) if message_id else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _join(lines: Sequence[str], empty: str) -> str:
    text = "\n".join(lines) if lines else empty
    return _clip(text, MAX_FIELD)


def _channel(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id else "not set"


def approval_line(settings: CommunitySettings) -> str:
    """The approval mode in words."""
    if settings.approval_mode is ApprovalMode.OFF:
        return "off"
    who = (
        "every video"
        if settings.approval_mode is ApprovalMode.EVERYONE
        else f"videos of members who joined less than {settings.new_member_days} days ago"
    )
    return f"{who}; undecided after {settings.approval_timeout_hours} h: released"


def settings_embed(
    settings: CommunitySettings,
    rules: Sequence[BlockedRule],
    bans: Sequence[Ban],
    pool: PoolStatus,
    pending: int,
) -> discord.Embed:
    """Everything `/server settings` shows."""
    embed = discord.Embed(title="Community settings of this server", colour=discord.Colour.teal())
    channels = ", ".join(f"<#{c}>" for c in sorted(settings.channel_ids)) or "all channels"
    roles = ", ".join(f"<@&{r}>" for r in sorted(settings.role_ids)) or "everyone"
    embed.add_field(name="Where videos can be made", value=_clip(channels, MAX_FIELD), inline=False)
    embed.add_field(name="Who can make videos", value=_clip(roles, MAX_FIELD), inline=False)
    embed.add_field(name="Moderators' channel", value=_channel(settings.moderators_channel_id))
    embed.add_field(name="Audit-log channel", value=_channel(settings.audit_channel_id))
    embed.add_field(name="Showcase channel", value=_channel(settings.showcase_channel_id))
    approval = approval_line(settings)
    if pending:
        approval += f" · {pending} waiting now"
    embed.add_field(name="Approval", value=approval, inline=False)
    embed.add_field(
        name=f"Blocked terms ({len(rules)})",
        value=_join(
            [f"**{r.name}** · {r.kind} `{r.term.replace('`', 'ˋ')}`" for r in rules], "none"
        ),
        inline=False,
    )
    embed.add_field(
        name=f"Banned from generating ({len(bans)})",
        value=_join(
            [f"<@{b.user_id}>" + (f" · {b.reason}" if b.reason else "") for b in bans], "nobody"
        ),
        inline=False,
    )
    limit = f"{pool.daily_limit} per member per day" if pool.daily_limit else "drawing off"
    promised = f" ({pool.committed} promised as prizes)" if pool.committed else ""
    embed.add_field(
        name="Server pool", value=f"{pool.balance} credits{promised} · {limit}", inline=False
    )
    embed.set_footer(text="Members see the rule's name when a prompt is refused, never the term.")
    return embed


def approval_request_embed(
    request: ApprovalRequest, prompt: str, provider: str, model: str, price: int
) -> discord.Embed:
    """A job waiting in the moderators' channel (or, once decided, how it was decided)."""
    embed = discord.Embed(
        title=f"Approval needed · video `{request.job_id}`",
        description=_clip(prompt, 2000),
        colour=discord.Colour.orange(),
    )
    embed.add_field(name="Member", value=f"<@{request.user_id}>")
    embed.add_field(name="Channel", value=f"<#{request.channel_id}>")
    embed.add_field(name="Model", value=model_label(provider, model))
    embed.add_field(name="Credits on hold", value=str(price))
    embed.add_field(name="Why", value=_clip(request.reason, MAX_FIELD), inline=False)
    if request.state == "pending":
        embed.add_field(name="Decide by", value=f"<t:{int(request.expires_at)}:R>", inline=False)
    else:
        words, colour = _STATE_WORDS.get(request.state, (request.state, discord.Colour.default()))
        by = f" by <@{request.decided_by}>" if request.decided_by else ""
        reason = f": {request.decision_reason}" if request.decision_reason else ""
        embed.add_field(name="Decision", value=_clip(words + by + reason, MAX_FIELD), inline=False)
        embed.colour = colour
    return embed


def share_review_embed(share_id: int, job: SharedJob, state: str, note: str = "") -> discord.Embed:
    """A share waiting for a moderator before it goes to the showcase."""
    embed = discord.Embed(
        title=f"Showcase share · video `{job.id}`",
        description=_clip(job.prompt, 2000),
        colour=discord.Colour.orange() if state == "pending" else discord.Colour.green(),
    )
    embed.add_field(name="Member", value=f"<@{job.user_id}>")
    link = job_link(job)
    if link:
        embed.add_field(name="Video", value=f"[open]({link})")
    if note:
        embed.add_field(name="Decision", value=_clip(note, MAX_FIELD), inline=False)
    embed.set_footer(text=f"share {share_id}")
    return embed


def share_embed(job: SharedJob, provider_name: str) -> discord.Embed:
    """A shared video as posted in the showcase: the prompt once (its first line as the title,
    the whole of it below only when it does not fit there)."""
    prompt = job.prompt.strip()
    first = prompt.splitlines()[0] if prompt else ""
    title = _clip(first or f"Video {job.id}", 256)
    embed = discord.Embed(
        title=title,
        description=_clip(prompt, 2000) if prompt and prompt != title else None,
        colour=discord.Colour.gold(),
    )
    embed.add_field(name="By", value=f"<@{job.user_id}>")
    embed.add_field(
        name="Model", value=f"{model_label(provider_name, job.model)} · {job.resolution}"
    )
    link = job_link(job)
    if link:
        embed.add_field(name="Original", value=f"[jump to the result]({link})")
    # Only web addresses: a render on the bot's machine (file://) is the attached result.
    if download := web_url(job.result_url):
        embed.add_field(name="Video file", value=f"[download]({download})")
    embed.set_footer(text=f"video {job.id} · vote with ⭐ or the button")
    return embed


def board_embed(lines: Sequence[BoardLine], period: str) -> discord.Embed:
    """A showcase leaderboard."""
    embed = discord.Embed(
        title=f"Showcase top · {PERIOD_LABELS.get(period, period)}",
        colour=discord.Colour.gold(),
    )
    if not lines:
        embed.description = (
            "Nothing has been shared in this period yet. Share one of your videos with "
            "`/showcase share`."
        )
        return embed
    rows = []
    for line in lines:
        message = line.share.message_id
        channel = line.share.channel_id
        link = (
            f" · [view]({jump_url(line.share.guild_id, channel, message)})"
            if message and channel
            else ""
        )
        votes = line.share.votes
        rows.append(
            f"**{line.rank}.** {_clip(line.job.prompt, 80)} · <@{line.job.user_id}> · "
            f"⭐ {votes}{link}"
        )
    embed.description = _clip("\n".join(rows), 4000)
    return embed


def event_embed(event: Event, *, title: str | None = None) -> discord.Embed:
    """An event's announcement and state."""
    embed = discord.Embed(title=title or f"🎬 Event: {event.theme}", colour=discord.Colour.purple())
    lines = []
    if event.state == "open":
        lines.append(f"Ends <t:{int(event.ends_at)}:R> (<t:{int(event.ends_at)}:f>).")
        lines.append("Make a video for the theme, then enter it with `/event enter`.")
    else:
        lines.append(f"Closed <t:{int(event.closed_at or event.ends_at)}:R>.")
    lines.append(f"Prize: **{event.prize} credits** from the server pool" if event.prize else "")
    lines.append(f"Entries: {event.entries}")
    embed.description = "\n".join(line for line in lines if line)
    embed.set_footer(text=f"event {event.id}")
    return embed


def entry_embed(
    event: Event, entry: Entry, job: SharedJob, provider_name: str | None = None
) -> discord.Embed:
    """An entry posted in the event's channel."""
    embed = discord.Embed(
        title=f'Entry for "{_clip(event.theme, 200)}"',
        description=_clip(job.prompt, 2000),
        colour=discord.Colour.purple(),
    )
    embed.add_field(name="By", value=f"<@{entry.user_id}>")
    embed.add_field(name="Model", value=model_label(provider_name or job.provider, job.model))
    link = job_link(job)
    if link:
        embed.add_field(name="Video", value=f"[jump to the result]({link})")
    embed.set_footer(text=f"one vote per member · event {event.id} · entry {entry.id}")
    return embed


def event_result_embed(result: EventResult) -> discord.Embed:
    """The winners of a closed event."""
    event = result.event
    embed = discord.Embed(title=f"🏆 Results: {event.theme}", colour=discord.Colour.gold())
    if not result.ranking:
        embed.description = "No entries this time."
    elif not result.winners:
        embed.description = "Nobody voted, so there is no winner."
    else:
        winners = ", ".join(f"<@{p.user_id}>" for p in result.winners)
        votes = result.winners[0].votes
        several = len(result.winners) > 1
        paid = ""
        if result.paid:
            who = "Each wins" if several else "The prize is"
            paid = f" {who} **{result.winners[0].amount} credits** from the server pool."
        tie = " (a tie)" if several else ""
        embed.description = (
            f"Winner{'s' if several else ''}: {winners} with {votes} "
            f"vote{'s' if votes != 1 else ''}{tie}.{paid}"
        )
    ranking = [
        f"**{n}.** <@{e.user_id}> · `{e.job_id}` · {e.votes} vote{'s' if e.votes != 1 else ''}"
        for n, e in enumerate(result.ranking[:10], start=1)
    ]
    if ranking:
        embed.add_field(name="Ranking", value=_join(ranking, ""), inline=False)
    embed.set_footer(text=f"event {event.id}")
    return embed


def events_embed(events: Sequence[Event]) -> discord.Embed:
    """`/event list`."""
    embed = discord.Embed(title="Events", colour=discord.Colour.purple())
    if not events:
        embed.description = "No events yet. Admins start one with `/event start`."
        return embed
    for event in events:
        if event.state == "open":
            state = f"open · ends <t:{int(event.ends_at)}:R>"
        else:
            state = f"closed <t:{int(event.closed_at or event.ends_at)}:R>"
        prize = f" · prize {event.prize}" if event.prize else ""
        embed.add_field(
            name=_clip(event.theme, 256),
            value=f"{state}{prize} · {event.entries} entr{'y' if event.entries == 1 else 'ies'} "
            f"· in <#{event.channel_id}>",
            inline=False,
        )
    return embed


def pool_embed(report: PoolReport, period_label: str) -> discord.Embed:
    """`/server pool`: balance, limit, who put credits in, who drew what."""
    status = report.status
    embed = discord.Embed(title="Server credit pool", colour=discord.Colour.gold())
    limit = f"{status.daily_limit} per member per UTC day" if status.daily_limit else "drawing off"
    promised = f" · {status.committed} promised as event prizes" if status.committed else ""
    embed.description = (
        f"**{status.balance} credits**{promised}\nMembers draw on it when their own credits run "
        f"out: {limit}."
    )
    embed.add_field(
        name=f"In and out, {period_label}",
        value=f"added {report.deposited} · removed {report.withdrawn} · drawn {report.drawn} · "
        f"prizes {report.prizes}",
        inline=False,
    )
    embed.add_field(
        name="Who drew or won what",
        value=_join(
            [
                f"<@{m.user_id}> · drew {m.drawn} ({m.draws}×)"
                + (f" · won {m.won}" if m.won else "")
                for m in report.members[:15]
            ],
            "nobody yet",
        ),
        inline=False,
    )
    embed.add_field(
        name="Who added credits",
        value=_join([f"<@{uid}> · {amount}" for uid, amount in report.depositors[:10]], "nobody"),
        inline=False,
    )
    return embed


def report_embed(report: Report, job: SharedJob | None, note: str = "") -> discord.Embed:
    """A member's report in the moderators' channel."""
    embed = discord.Embed(
        title=f"Report · video `{report.job_id}`",
        description=_clip(job.prompt, 1500) if job else "",
        colour=discord.Colour.red() if report.state == "open" else discord.Colour.dark_grey(),
    )
    embed.add_field(name="Reported by", value=f"<@{report.reporter_id}>")
    if job is not None:
        embed.add_field(name="Author", value=f"<@{job.user_id}>")
        link = job_link(job)
        if link:
            embed.add_field(name="Result", value=f"[open]({link})")
    if report.reason:
        embed.add_field(name="Reason", value=_clip(report.reason, MAX_FIELD), inline=False)
    if note:
        embed.add_field(name="Outcome", value=_clip(note, MAX_FIELD), inline=False)
    return embed


def log_line_text(line: LogLine) -> str:
    """One moderation-log line as posted in the audit-log channel."""
    who = f"<@{line.actor_id}>" if line.actor_id else "the bot"
    return _clip(f"**{line.action}** · {who} · {line.detail} · <t:{int(line.created_at)}:f>", 2000)
