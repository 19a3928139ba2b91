"""Pure renderers for the community features: settings, requests, shares, boards, events.

Each takes the reader's locale (`interaction.locale` for a private answer, the server's
`guild_locale` for what the bot posts in a channel) and reads in English or Korean.
"""

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
from bot.i18n import Messages
from bot.ui.cards import model_label
from bot.ui.embeds import field_list_embed
from bot.ui.links import web_url

MAX_FIELD = 1024
_STATE_LOOK = {
    "approved": ("✅", discord.Colour.green()),
    "denied": ("⛔", discord.Colour.red()),
    "expired": ("⌛", discord.Colour.dark_grey()),
    "withdrawn": ("🚫", discord.Colour.dark_grey()),
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


def _channel(m: Messages, channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id else m("embed.settings.not_set")


def approval_line(settings: CommunitySettings, locale: object = None) -> str:
    """The approval mode in words."""
    m = Messages(locale)
    if settings.approval_mode is ApprovalMode.OFF:
        return m("embed.approval.off")
    who = (
        m("embed.approval.everyone")
        if settings.approval_mode is ApprovalMode.EVERYONE
        else m("embed.approval.new_members", days=settings.new_member_days)
    )
    return m("embed.approval.line", who=who, hours=settings.approval_timeout_hours)


def settings_embed(
    settings: CommunitySettings,
    rules: Sequence[BlockedRule],
    bans: Sequence[Ban],
    pool: PoolStatus,
    pending: int,
    locale: object = None,
) -> discord.Embed:
    """Everything `/server settings` shows."""
    m = Messages(locale)
    embed = discord.Embed(title=m("embed.settings.title"), colour=discord.Colour.teal())
    channels = ", ".join(f"<#{c}>" for c in sorted(settings.channel_ids))
    roles = ", ".join(f"<@&{r}>" for r in sorted(settings.role_ids))
    embed.add_field(
        name=m("embed.settings.where"),
        value=_clip(channels or m("embed.settings.all_channels"), MAX_FIELD),
        inline=False,
    )
    embed.add_field(
        name=m("embed.settings.who"),
        value=_clip(roles or m("embed.settings.everyone"), MAX_FIELD),
        inline=False,
    )
    embed.add_field(
        name=m("embed.settings.moderators"), value=_channel(m, settings.moderators_channel_id)
    )
    embed.add_field(name=m("embed.settings.audit"), value=_channel(m, settings.audit_channel_id))
    embed.add_field(
        name=m("embed.settings.showcase"), value=_channel(m, settings.showcase_channel_id)
    )
    approval = approval_line(settings, locale)
    if pending:
        approval += m("embed.settings.waiting", count=pending)
    embed.add_field(name=m("embed.settings.approval"), value=approval, inline=False)
    embed.add_field(
        name=m("embed.settings.rules", count=len(rules)),
        value=_join(
            [f"**{r.name}** · {r.kind} `{r.term.replace('`', 'ˋ')}`" for r in rules],
            m("embed.settings.none"),
        ),
        inline=False,
    )
    embed.add_field(
        name=m("embed.settings.bans", count=len(bans)),
        value=_join(
            [f"<@{b.user_id}>" + (f" · {b.reason}" if b.reason else "") for b in bans],
            m("embed.settings.nobody"),
        ),
        inline=False,
    )
    limit = (
        m("embed.settings.pool_limit", amount=pool.daily_limit)
        if pool.daily_limit
        else m("embed.pool.drawing_off")
    )
    promised = " " + m("embed.settings.promised", amount=pool.committed) if pool.committed else ""
    embed.add_field(
        name=m("embed.settings.pool"),
        value=m("embed.settings.pool_line", balance=pool.balance, promised=promised, limit=limit),
        inline=False,
    )
    embed.set_footer(text=m("embed.settings.footer"))
    return embed


def approval_request_embed(
    request: ApprovalRequest,
    prompt: str,
    provider: str,
    model: str,
    price: int,
    locale: object = None,
) -> discord.Embed:
    """A job waiting in the moderators' channel (or, once decided, how it was decided)."""
    m = Messages(locale)
    embed = discord.Embed(
        title=m("embed.request.title", job=request.job_id),
        description=_clip(prompt, 2000),
        colour=discord.Colour.orange(),
    )
    embed.add_field(name=m("embed.member"), value=f"<@{request.user_id}>")
    embed.add_field(name=m("embed.request.channel"), value=f"<#{request.channel_id}>")
    embed.add_field(name=m("embed.model"), value=model_label(provider, model))
    embed.add_field(name=m("embed.request.held"), value=str(price))
    embed.add_field(
        name=m("embed.request.why"), value=_clip(request.reason, MAX_FIELD), inline=False
    )
    if request.state == "pending":
        embed.add_field(
            name=m("embed.request.decide_by"),
            value=f"<t:{int(request.expires_at)}:R>",
            inline=False,
        )
    else:
        emoji, colour = _STATE_LOOK.get(request.state, ("", discord.Colour.default()))
        key = f"embed.state.{request.state}"
        words = f"{emoji} {m(key)}".strip() if emoji else request.state
        by = (
            " " + m("embed.request.by", user=f"<@{request.decided_by}>")
            if request.decided_by
            else ""
        )
        reason = f": {request.decision_reason}" if request.decision_reason else ""
        embed.add_field(
            name=m("embed.decision"), value=_clip(words + by + reason, MAX_FIELD), inline=False
        )
        embed.colour = colour
    return embed


def share_review_embed(
    share_id: int, job: SharedJob, state: str, note: str = "", locale: object = None
) -> discord.Embed:
    """A share waiting for a moderator before it goes to the showcase."""
    m = Messages(locale)
    embed = discord.Embed(
        title=m("embed.share.review_title", job=job.id),
        description=_clip(job.prompt, 2000),
        colour=discord.Colour.orange() if state == "pending" else discord.Colour.green(),
    )
    embed.add_field(name=m("embed.member"), value=f"<@{job.user_id}>")
    link = job_link(job)
    if link:
        embed.add_field(name=m("embed.video"), value=m("embed.open", url=link))
    if note:
        embed.add_field(name=m("embed.decision"), value=_clip(note, MAX_FIELD), inline=False)
    embed.set_footer(text=m("embed.share.review_footer", share=share_id))
    return embed


def share_embed(job: SharedJob, provider_name: str, locale: object = None) -> discord.Embed:
    """A shared video as posted in the showcase: the prompt once (its first line as the title,
    the whole of it below only when it does not fit there)."""
    m = Messages(locale)
    prompt = job.prompt.strip()
    first = prompt.splitlines()[0] if prompt else ""
    title = _clip(first or m("embed.share.untitled", job=job.id), 256)
    embed = discord.Embed(
        title=title,
        description=_clip(prompt, 2000) if prompt and prompt != title else None,
        colour=discord.Colour.gold(),
    )
    embed.add_field(name=m("embed.by"), value=f"<@{job.user_id}>")
    embed.add_field(
        name=m("embed.model"), value=f"{model_label(provider_name, job.model)} · {job.resolution}"
    )
    link = job_link(job)
    if link:
        embed.add_field(name=m("embed.share.original"), value=m("embed.jump", url=link))
    # Only web addresses: a render on the bot's machine (file://) is the attached result.
    if download := web_url(job.result_url):
        embed.add_field(name=m("embed.share.file"), value=m("embed.share.download", url=download))
    embed.set_footer(text=m("embed.share.footer", job=job.id))
    return embed


def board_embed(lines: Sequence[BoardLine], period: str, locale: object = None) -> discord.Embed:
    """A showcase leaderboard."""
    m = Messages(locale)
    label = m(f"choices.period.{period}") if period in PERIOD_LABELS else period
    embed = discord.Embed(title=m("embed.board.title", period=label), colour=discord.Colour.gold())
    if not lines:
        embed.description = m("embed.board.empty")
        return embed
    rows = []
    for line in lines:
        message = line.share.message_id
        channel = line.share.channel_id
        link = (
            " · " + m("embed.view", url=jump_url(line.share.guild_id, channel, message))
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


def event_embed(event: Event, *, title: str | None = None, locale: object = None) -> discord.Embed:
    """An event's announcement and state."""
    m = Messages(locale)
    embed = discord.Embed(
        title=title or m("embed.event.title", theme=event.theme), colour=discord.Colour.purple()
    )
    lines = []
    if event.state == "open":
        lines.append(m("embed.event.ends", at=int(event.ends_at)))
        lines.append(m("embed.event.how_to_enter"))
    else:
        lines.append(m("embed.event.closed", at=int(event.closed_at or event.ends_at)))
    lines.append(m("embed.event.prize", prize=event.prize) if event.prize else "")
    lines.append(m("embed.event.entries", count=event.entries))
    embed.description = "\n".join(line for line in lines if line)
    embed.set_footer(text=m("embed.event.footer", event=event.id))
    return embed


def entry_embed(
    event: Event,
    entry: Entry,
    job: SharedJob,
    provider_name: str | None = None,
    locale: object = None,
) -> discord.Embed:
    """An entry posted in the event's channel."""
    m = Messages(locale)
    embed = discord.Embed(
        title=m("embed.entry.title", theme=_clip(event.theme, 200)),
        description=_clip(job.prompt, 2000),
        colour=discord.Colour.purple(),
    )
    embed.add_field(name=m("embed.by"), value=f"<@{entry.user_id}>")
    embed.add_field(
        name=m("embed.model"), value=model_label(provider_name or job.provider, job.model)
    )
    link = job_link(job)
    if link:
        embed.add_field(name=m("embed.video"), value=m("embed.jump", url=link))
    embed.set_footer(text=m("embed.entry.footer", event=event.id, entry=entry.id))
    return embed


def event_result_embed(result: EventResult, locale: object = None) -> discord.Embed:
    """The winners of a closed event."""
    m = Messages(locale)
    event = result.event
    embed = discord.Embed(
        title=m("embed.result.title", theme=event.theme), colour=discord.Colour.gold()
    )
    if not result.ranking:
        embed.description = m("embed.result.no_entries")
    elif not result.winners:
        embed.description = m("embed.result.no_votes")
    else:
        winners = ", ".join(f"<@{p.user_id}>" for p in result.winners)
        votes = result.winners[0].votes
        several = len(result.winners) > 1
        paid = ""
        if result.paid:
            key = "embed.result.each_wins" if several else "embed.result.prize_is"
            paid = " " + m(key, amount=result.winners[0].amount)
        key = "embed.result.winners_tie" if several else "embed.result.winner"
        embed.description = m(key, winners=winners, count=votes) + paid
    ranking = [
        f"**{n}.** <@{e.user_id}> · `{e.job_id}` · " + m("embed.votes", count=e.votes)
        for n, e in enumerate(result.ranking[:10], start=1)
    ]
    if ranking:
        embed.add_field(name=m("embed.result.ranking"), value=_join(ranking, ""), inline=False)
    embed.set_footer(text=m("embed.event.footer", event=event.id))
    return embed


def events_embed(events: Sequence[Event], locale: object = None) -> discord.Embed:
    """`/event list`."""
    m = Messages(locale)
    return field_list_embed(
        m("embed.events.title"),
        discord.Colour.purple(),
        (_event_field(m, event) for event in events),
        empty=m("embed.events.empty"),
    )


def _event_field(m: Messages, event: Event) -> tuple[str, str]:
    if event.state == "open":
        state = m("embed.events.open", at=int(event.ends_at))
    else:
        state = m("embed.events.closed", at=int(event.closed_at or event.ends_at))
    prize = " · " + m("embed.events.prize", prize=event.prize) if event.prize else ""
    entries = m("embed.events.entries", count=event.entries)
    in_channel = m("embed.events.in", channel=f"<#{event.channel_id}>")
    return _clip(event.theme, 256), f"{state}{prize} · {entries} · {in_channel}"


def pool_embed(report: PoolReport, period: str, locale: object = None) -> discord.Embed:
    """`/server pool`: balance, limit, who put credits in, who drew what."""
    m = Messages(locale)
    status = report.status
    embed = discord.Embed(title=m("embed.pool.title"), colour=discord.Colour.gold())
    limit = (
        m("embed.pool.limit", amount=status.daily_limit)
        if status.daily_limit
        else m("embed.pool.drawing_off")
    )
    promised = m("embed.pool.promised", amount=status.committed) if status.committed else ""
    embed.description = m(
        "embed.pool.balance", balance=status.balance, promised=promised, limit=limit
    )
    embed.add_field(
        name=m("embed.pool.moves", period=m(f"choices.period.{period}")),
        value=m(
            "embed.pool.moves_line",
            added=report.deposited,
            removed=report.withdrawn,
            drawn=report.drawn,
            prizes=report.prizes,
        ),
        inline=False,
    )
    embed.add_field(
        name=m("embed.pool.drew"),
        value=_join(
            [
                m("embed.pool.drew_line", user=f"<@{p.user_id}>", drawn=p.drawn, draws=p.draws)
                + (" · " + m("embed.pool.won", amount=p.won) if p.won else "")
                for p in report.members[:15]
            ],
            m("embed.pool.nobody_yet"),
        ),
        inline=False,
    )
    embed.add_field(
        name=m("embed.pool.added"),
        value=_join(
            [f"<@{uid}> · {amount}" for uid, amount in report.depositors[:10]],
            m("embed.settings.nobody"),
        ),
        inline=False,
    )
    return embed


def report_embed(
    report: Report, job: SharedJob | None, note: str = "", locale: object = None
) -> discord.Embed:
    """A member's report in the moderators' channel."""
    m = Messages(locale)
    embed = discord.Embed(
        title=m("embed.report.title", job=report.job_id),
        description=_clip(job.prompt, 1500) if job else "",
        colour=discord.Colour.red() if report.state == "open" else discord.Colour.dark_grey(),
    )
    embed.add_field(name=m("embed.report.by"), value=f"<@{report.reporter_id}>")
    if job is not None:
        embed.add_field(name=m("embed.report.author"), value=f"<@{job.user_id}>")
        link = job_link(job)
        if link:
            embed.add_field(name=m("embed.report.result"), value=m("embed.open", url=link))
    if report.reason:
        embed.add_field(
            name=m("embed.report.reason"), value=_clip(report.reason, MAX_FIELD), inline=False
        )
    if note:
        embed.add_field(name=m("embed.report.outcome"), value=_clip(note, MAX_FIELD), inline=False)
    return embed


def log_line_text(line: LogLine, locale: object = None) -> str:
    """One moderation-log line as posted in the audit-log channel."""
    who = f"<@{line.actor_id}>" if line.actor_id else Messages(locale)("embed.log.the_bot")
    return _clip(f"**{line.action}** · {who} · {line.detail} · <t:{int(line.created_at)}:f>", 2000)
