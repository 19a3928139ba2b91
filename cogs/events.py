"""/event: themed group events with entries, votes, and prizes paid from the server pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.community.events import MAX_PRIZE, MAX_THEME, EventResult, parse_duration
from bot.i18n import Messages, Text, tr
from bot.ui.cogs import BotCog, guild_group
from bot.ui.community import entry_embed, event_embed, event_result_embed, events_embed
from bot.ui.community_views import (
    NO_MENTIONS,
    VoteButton,
    community_of,
    find_channel,
    finished_job_choices,
    guild_locale,
)
from bot.ui.errors import UserError
from bot.ui.permissions import require_manager

if TYPE_CHECKING:
    from bot.app import VideoBot
    from bot.community import Community

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0
WINNERS_ONLY = discord.AllowedMentions(everyone=False, roles=False, users=True)


class EventVoteButton(VoteButton, template=r"event:vote:(?P<item_id>[0-9]{1,18})"):
    """A member's one vote in an event: here, moved here, or taken back."""

    feature = "event"
    emoji = "🗳️"
    label_key = "events.vote"

    async def press(self, interaction: discord.Interaction) -> None:
        """Vote for this entry, moving the member's vote here if they had one elsewhere."""
        events = community_of(interaction.client).events
        entry = await events.entry(self.item_id)
        event = await events.event(entry.event_id) if entry else None
        if entry is None or event is None or event.guild_id != interaction.guild_id:
            raise UserError(Text("events.entry_not_here"))
        outcome = await events.vote(self.item_id, interaction.user.id)
        view = entry_view(self.item_id, outcome.votes, interaction.guild_locale)
        await interaction.response.edit_message(view=view)
        if not outcome.voted:
            key = "events.unvoted"
        elif outcome.moved_from is not None:
            key = "events.vote_moved"
        else:
            key = "events.voted"
        await interaction.followup.send(tr(interaction.locale, key), ephemeral=True)
        if outcome.moved_from is not None:
            await _refresh_entry(interaction.client, outcome.moved_from)


async def _refresh_entry(client: discord.Client, entry_id: int) -> None:
    """Show an entry's new count after a vote moved away from it."""
    entry = await community_of(client).events.entry(entry_id)
    if entry is None or entry.message_id is None:
        return
    channel = await find_channel(client, entry.channel_id)
    if channel is None:
        return
    with contextlib.suppress(discord.HTTPException):
        await channel.get_partial_message(entry.message_id).edit(
            view=entry_view(entry.id, entry.votes, guild_locale(channel))
        )


def entry_view(entry_id: int, votes: int, locale: object = None) -> discord.ui.View:
    """The vote button under an entry."""
    view = discord.ui.View(timeout=None)
    view.add_item(EventVoteButton(entry_id, votes, locale))
    return view


class EventsCog(BotCog):
    """Thin layer over bot.community.events, plus the end-of-event announcer."""

    event = guild_group("event", "Themed video events")

    def __init__(self, bot: VideoBot) -> None:
        super().__init__(bot)
        self.community: Community = bot.services.community
        self._announcing = asyncio.Lock()
        self._announcer = self.community.background_loop(
            "event announcer",
            self.run_once,
            idle=IDLE_SECONDS,
            next_due=self.community.events.next_end,
        )

    def _provider_name(self, provider: str) -> str:
        """A provider's display name (its id if it is no longer configured)."""
        found = self.services.providers.get(provider)
        return found.display_name if found is not None else provider

    async def cog_load(self) -> None:
        """Register the persistent vote buttons (the announcer starts once connected)."""
        self.bot.add_dynamic_items(EventVoteButton)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Start the background work once connected (once, whatever reconnects follow)."""
        self._announcer.start()

    async def cog_unload(self) -> None:
        """Stop the announcer."""
        self.bot.remove_dynamic_items(EventVoteButton)
        await self._announcer.stop()

    # -- commands --------------------------------------------------------------------------------

    @event.command(name="start", description="Open a themed event (Manage Server)")
    @app_commands.describe(
        theme="What the videos are about",
        ends_in="How long it runs: 3d, 12h, 1d 12h, 90m",
        prize="Credits for the winner, paid from the server pool",
        channel="Where entries and the result are posted (default: here)",
    )
    async def start(
        self,
        interaction: discord.Interaction,
        theme: app_commands.Range[str, 1, MAX_THEME],
        ends_in: app_commands.Range[str, 1, 40],
        prize: app_commands.Range[int, 0, MAX_PRIZE] = 0,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Admin: start an event; it is announced in the channel."""
        require_manager(interaction, self.services.settings.bot_owner_ids)
        assert interaction.guild_id is not None
        assert interaction.channel_id is not None
        seconds = parse_duration(ends_in)
        target = channel.id if channel is not None else interaction.channel_id
        event = await self.community.events.start(
            interaction.guild_id, target, interaction.user.id, theme, seconds, prize
        )
        self._announcer.poke()
        embed = event_embed(event, locale=interaction.guild_locale)
        if target == interaction.channel_id:
            await interaction.response.send_message(embed=embed, allowed_mentions=NO_MENTIONS)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        posted = await find_channel(self.bot, target)
        if posted is not None:
            await posted.send(embed=embed, allowed_mentions=NO_MENTIONS)
        await interaction.edit_original_response(
            content=tr(interaction.locale, "events.started_in", channel=f"<#{target}>")
        )

    @event.command(name="enter", description="Enter one of your videos in the open event")
    @app_commands.describe(job="Your video's id (made since the event started)")
    async def enter(
        self, interaction: discord.Interaction, job: app_commands.Range[str, 1, 32]
    ) -> None:
        """Enter a video: it is posted in the event's channel with a vote button."""
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        events = self.community.events
        entry = await events.enter(interaction.guild_id, interaction.user.id, job)
        event = await events.event(entry.event_id)
        shown = await self.community.showcase.job(entry.job_id)
        assert event is not None
        assert shown is not None
        channel = await find_channel(self.bot, event.channel_id)
        link = ""
        if channel is not None:
            try:
                message = await channel.send(
                    embed=entry_embed(
                        event,
                        entry,
                        shown,
                        self._provider_name(shown.provider),
                        guild_locale(channel),
                    ),
                    view=entry_view(entry.id, 0, guild_locale(channel)),
                    allowed_mentions=NO_MENTIONS,
                )
                await events.mark_entry_posted(entry.id, channel.id, message.id)
                link = f" {message.jump_url}"
            except discord.HTTPException as exc:
                log.warning("could not post entry %s: %s", entry.id, exc)
        await interaction.edit_original_response(
            content=tr(interaction.locale, "events.entered", job=entry.job_id, theme=event.theme)
            + link
        )

    # A free function: discord.py calls it without the cog, as (interaction, current).
    enter.autocomplete("job")(finished_job_choices)

    @event.command(name="list", description="The open event and recent results")
    async def list_events(self, interaction: discord.Interaction) -> None:
        """Show events privately."""
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        events = await self.community.events.recent(interaction.guild_id)
        await interaction.edit_original_response(embed=events_embed(events, interaction.locale))

    @event.command(
        name="close", description="Close the open event now and pay the prize (Manage Server)"
    )
    async def close(self, interaction: discord.Interaction) -> None:
        """Admin: end the event early; the result is announced at once."""
        require_manager(interaction, self.services.settings.bot_owner_ids)
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.community.events.close(interaction.guild_id, interaction.user.id)
        await self._announce(result)
        m = Messages(interaction.locale)
        closed = {"theme": result.event.theme, "channel": f"<#{result.event.channel_id}>"}
        text = (
            m("events.closed_paid", paid=result.paid, **closed)
            if result.paid
            else m("events.closed", **closed)
        )
        await interaction.edit_original_response(content=text)

    # -- the announcer ---------------------------------------------------------------------------

    async def run_once(self) -> None:
        """Close events whose time is up (paying prizes) and post unannounced results."""
        await self.community.events.close_due()
        for result in await self.community.events.to_announce():
            await self._announce(result)

    async def _announce(self, result: EventResult) -> None:
        # One lock: `/event close` and the announcer may both hold the same result.
        async with self._announcing:
            fresh = await self.community.events.event(result.event.id)
            if fresh is None or fresh.announced_at is not None:
                return
            await self._post_result(result)

    async def _post_result(self, result: EventResult) -> None:
        event = result.event
        channel = await find_channel(self.bot, event.channel_id)
        message_id = None
        if channel is not None:
            winners = " ".join(f"<@{p.user_id}>" for p in result.winners)
            ended = tr(guild_locale(channel), "events.ended", theme=event.theme)
            try:
                message = await channel.send(
                    f"{ended} {winners}".strip(),
                    embed=event_result_embed(result, guild_locale(channel)),
                    allowed_mentions=WINNERS_ONLY,
                )
                message_id = message.id
            except discord.HTTPException as exc:
                log.warning("could not announce event %s: %s", event.id, exc)
        await self.community.events.mark_announced(event.id, message_id)


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(EventsCog(bot))
