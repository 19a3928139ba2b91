"""/showcase: share a finished video to the showcase channel, vote on shares, see the top."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.community.showcase import PERIOD_LABELS, Share, SharedJob, ShowcaseError
from bot.i18n import Messages, Text, tr
from bot.ui.cogs import BotCog, guild_group
from bot.ui.community import board_embed, share_embed, share_review_embed
from bot.ui.community_views import (
    NO_MENTIONS,
    VoteButton,
    community_of,
    find_channel,
    finished_job_choices,
    guild_locale,
)
from bot.ui.decide import Outcome, Subject, decide_view
from bot.ui.errors import UserError
from bot.ui.permissions import require_manager

if TYPE_CHECKING:
    from bot.app import VideoBot
    from bot.community import Community

log = logging.getLogger(__name__)

VOTE_EMOJI = "⭐"
IDLE_SECONDS = 5.0
JOB_ID = app_commands.Range[str, 1, 32]
SUBJECT = "share"
SHARE = ("share",)


class ShareVoteButton(VoteButton, template=r"showcase:vote:(?P<item_id>[0-9]{1,18})"):
    """A vote for a shared video; clicking again takes it back."""

    feature = "showcase"
    emoji = VOTE_EMOJI
    label_key = "showcase.vote"

    async def press(self, interaction: discord.Interaction) -> None:
        """Vote for this share, or take the member's vote back."""
        showcase = community_of(interaction.client).showcase
        share = await showcase.get(self.item_id)
        if share is None or share.guild_id != interaction.guild_id:
            raise UserError(Text("showcase.not_in_showcase"))
        outcome = await showcase.vote(self.item_id, interaction.user.id)
        view = share_view(self.item_id, outcome.votes, interaction.guild_locale)
        await interaction.response.edit_message(view=view)
        key = "showcase.voted" if outcome.voted else "showcase.unvoted"
        await interaction.followup.send(tr(interaction.locale, key), ephemeral=True)


def share_view(share_id: int, votes: int, locale: object = None) -> discord.ui.View:
    """The vote button under a shared video."""
    view = discord.ui.View(timeout=None)
    view.add_item(ShareVoteButton(share_id, votes, locale))
    return view


class Shares(Subject):
    """A share waiting for review: a moderator lets it into the showcase or keeps it out."""

    name = SUBJECT

    def __init__(self, poke: Callable[[], None]) -> None:
        self._poke = poke

    async def current(self, interaction: discord.Interaction, object_id: str) -> Outcome:
        """The share as it stands."""
        share = await _checked_share(interaction, int(object_id))
        return await _outcome(interaction, share, changed=False)

    async def decide(
        self, interaction: discord.Interaction, object_id: str, approve: bool, reason: str | None
    ) -> Outcome:
        """Approve (it is posted) or deny (with a reason), once."""
        share = await _checked_share(interaction, int(object_id))
        share, changed = await community_of(interaction.client).showcase.decide(
            share.id, approve=approve, actor_id=interaction.user.id, reason=reason
        )
        return await _outcome(interaction, share, changed=changed)

    async def decided(self, interaction: discord.Interaction, outcome: Outcome) -> None:
        """Post an approved share now; tell the member why a denied one stays out."""
        self._poke()
        if not outcome.changed or outcome.state != "denied":
            return
        share: Share = outcome.subject
        job = await community_of(interaction.client).showcase.job(share.job_id)
        channel = await find_channel(interaction.client, job.channel_id if job else None)
        if job is None or channel is None:
            return
        with contextlib.suppress(discord.HTTPException):
            await channel.send(
                tr(
                    guild_locale(channel),
                    "showcase.kept_out",
                    user=f"<@{job.user_id}>",
                    job=job.id,
                    reason=share.decision_reason,
                ),
                allowed_mentions=discord.AllowedMentions(users=True),
            )


async def _checked_share(interaction: discord.Interaction, share_id: int) -> Share:
    share = await community_of(interaction.client).showcase.get(share_id)
    if share is None or share.guild_id != interaction.guild_id:
        raise UserError(Text("decide.share.not_here"))
    return share


async def _outcome(interaction: discord.Interaction, share: Share, *, changed: bool) -> Outcome:
    job = await community_of(interaction.client).showcase.job(share.job_id)
    assert job is not None
    m = Messages(interaction.guild_locale)
    if share.state == "pending":
        note = ""
    elif share.state == "denied":
        reason = share.decision_reason or m("showcase.no_reason")
        note = m("showcase.denied_by", user=f"<@{share.decided_by}>", reason=reason)
    else:
        note = m("showcase.approved_by", user=f"<@{share.decided_by}>")
    embed = share_review_embed(share.id, job, share.state, note, interaction.guild_locale)
    pending = share.state == "pending"
    return Outcome(embed, share.state, pending=pending, changed=changed, subject=share)


class ShowcaseCog(BotCog):
    """Thin layer over bot.community.showcase."""

    showcase = guild_group("showcase", "Share videos and vote on them")

    def __init__(self, bot: VideoBot) -> None:
        super().__init__(bot)
        self.community: Community = bot.services.community
        # Shares being posted now, each with the event set when its post is done.
        self._posting: dict[int, asyncio.Event] = {}
        self._poster = self.community.background_loop(
            "showcase posting", self.run_once, idle=IDLE_SECONDS
        )
        self.poke = self._poster.poke

    async def cog_load(self) -> None:
        """Register the buttons it owns (posting starts once connected)."""
        self.bot.add_dynamic_items(ShareVoteButton)
        self.bot.decisions.add(Shares(self.poke))
        self.bot.job_actions.add(SHARE, self._share_button)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Start the background work once connected (once, whatever reconnects follow)."""
        self._poster.start()

    async def cog_unload(self) -> None:
        """Stop posting."""
        self.bot.remove_dynamic_items(ShareVoteButton)
        self.bot.decisions.remove(SUBJECT)
        self.bot.job_actions.remove(SHARE)
        await self._poster.stop()

    # -- commands --------------------------------------------------------------------------------

    @showcase.command(name="share", description="Post one of your videos to the showcase")
    @app_commands.describe(job="The video's id (shown on its card)")
    async def share(self, interaction: discord.Interaction, job: JOB_ID) -> None:
        """Share a finished video."""
        await self.share_job(interaction, job)

    # A free function: discord.py calls it without the cog, as (interaction, current).
    share.autocomplete("job")(finished_job_choices)

    @showcase.command(name="top", description="The most voted shared videos")
    @app_commands.describe(period="Which period")
    @app_commands.choices(
        period=[app_commands.Choice(name=label, value=key) for key, label in PERIOD_LABELS.items()]
    )
    async def top(
        self, interaction: discord.Interaction, period: app_commands.Choice[str] | None = None
    ) -> None:
        """Show the leaderboard in the channel."""
        await interaction.response.defer(thinking=True)
        assert interaction.guild_id is not None
        chosen = period.value if period else "7d"
        lines = await self.community.showcase.top(interaction.guild_id, chosen)
        await interaction.edit_original_response(
            embed=board_embed(lines, chosen, interaction.guild_locale), allowed_mentions=NO_MENTIONS
        )

    # -- a result's Share button -------------------------------------------------------------------

    async def _share_button(
        self, interaction: discord.Interaction, _action: str, job_id: str
    ) -> None:
        await self.share_job(interaction, job_id)

    async def share_job(self, interaction: discord.Interaction, job_id: str) -> None:
        """Share the member's video (the `/showcase share` command, or a result's Share button).

        Answers privately: a link to the post, or that a moderator reviews it first.
        """
        assert interaction.guild_id is not None
        guild_id = interaction.guild_id
        settings = await self.community.settings.get(guild_id)
        if settings.showcase_channel_id is None:
            raise UserError(Text("showcase.no_channel"))
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        joined = getattr(interaction.user, "joined_at", None)
        needs = not self._is_manager(interaction) and (
            settings.approval_needed(joined.timestamp() if joined else None, self.community.now())
            is not None
        )
        outcome = await self.community.showcase.share(
            guild_id, job_id, interaction.user.id, needs_approval=needs
        )
        share = outcome.share
        m = Messages(interaction.locale)
        if share.state == "pending":
            if outcome.created:
                await self._post_review(share)
            text = m("showcase.reviewed_first")
        elif share.state == "denied":
            text = m("showcase.was_kept_out", reason=share.decision_reason)
        elif share.state == "posted":
            text = m("showcase.already_shared", link=self._link(share, m))
        else:
            await self._post_share(share)
            fresh = await self.community.showcase.get(share.id)
            posted = fresh is not None and fresh.state == "posted"
            text = (
                m("showcase.shared", link=self._link(fresh, m))
                if posted
                else m("showcase.shared_soon")
            )
        await interaction.edit_original_response(content=text)

    # -- reactions -------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """⭐ on a showcase post votes for it."""
        await self._react(payload, True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """Removing the ⭐ takes the vote back."""
        await self._react(payload, False)

    async def _react(self, payload: discord.RawReactionActionEvent, want: bool) -> None:
        if str(payload.emoji) != VOTE_EMOJI or payload.guild_id is None:
            return
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return
        share = await self.community.showcase.by_message(payload.message_id)
        if share is None or share.guild_id != payload.guild_id:
            return
        try:
            outcome = await self.community.showcase.vote(share.id, payload.user_id, want)
        except ShowcaseError:
            return  # e.g. the author starring their own post: not a vote
        if not outcome.changed:
            return
        channel = await find_channel(self.bot, payload.channel_id)
        if channel is not None:
            with contextlib.suppress(discord.HTTPException):
                await channel.get_partial_message(payload.message_id).edit(
                    view=share_view(share.id, outcome.votes, guild_locale(channel))
                )

    # -- posting ---------------------------------------------------------------------------------

    async def run_once(self) -> None:
        """Post shares waiting for review, and shares ready for the showcase."""
        for share in await self.community.showcase.to_review():
            await self._post_review(share)
        for share in await self.community.showcase.to_post():
            await self._post_share(share)

    async def _post_review(self, share: Share) -> None:
        await self._post(share, "moderators_channel_id", "for review", self._send_review)

    async def _post_share(self, share: Share) -> None:
        await self._post(share, "showcase_channel_id", "to the showcase", self._send_share)

    async def _post(
        self,
        share: Share,
        channel_setting: str,
        what: str,
        send: Callable[[Share, SharedJob, Any], Awaitable[None]],
    ) -> None:
        """Post a share in the channel a server setting names, once at a time per share.

        A share another task is posting is waited for instead, so `/showcase share` answers
        with the post's link even when the background pass got there first.
        """
        if (posting := self._posting.get(share.id)) is not None:
            await posting.wait()
            return
        self._posting[share.id] = done = asyncio.Event()
        try:
            settings = await self.community.settings.get(share.guild_id)
            channel = await find_channel(self.bot, getattr(settings, channel_setting))
            job = await self.community.showcase.job(share.job_id)
            if channel is not None and job is not None:
                await send(share, job, channel)
        except discord.HTTPException as exc:
            log.warning("could not post share %s %s: %s", share.id, what, exc)
        finally:
            del self._posting[share.id]
            done.set()

    async def _send_review(self, share: Share, job: SharedJob, channel: Any) -> None:
        locale = guild_locale(channel)
        message = await channel.send(
            embed=share_review_embed(share.id, job, share.state, locale=locale),
            view=decide_view(SUBJECT, share.id, locale),
            allowed_mentions=NO_MENTIONS,
        )
        await self.community.showcase.mark_review_posted(share.id, channel.id, message.id)

    async def _send_share(self, share: Share, job: SharedJob, channel: Any) -> None:
        provider = self.services.providers.get(job.provider)
        name = provider.display_name if provider else job.provider
        embed = share_embed(job, name, guild_locale(channel))
        view = share_view(share.id, share.votes, guild_locale(channel))
        message: Any
        if isinstance(channel, discord.ForumChannel):
            title = (job.prompt.splitlines()[0] if job.prompt else "")[:90] or job.id
            tags = [t for t in channel.available_tags if t.name.lower() == "video"][:1]
            created = await channel.create_thread(
                name=f"{title} · {job.id}"[:100],
                embed=embed,
                view=view,
                applied_tags=tags,
                allowed_mentions=NO_MENTIONS,
            )
            message, where = created.message, created.thread.id
        else:
            message = await channel.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
            where = channel.id
        await self.community.showcase.mark_posted(share.id, where, message.id)
        with contextlib.suppress(discord.HTTPException):
            await message.add_reaction(VOTE_EMOJI)

    # -- helpers ---------------------------------------------------------------------------------

    def _is_manager(self, interaction: discord.Interaction) -> bool:
        try:
            require_manager(interaction, self.services.settings.bot_owner_ids)
        except UserError:
            return False
        return True

    @staticmethod
    def _link(share: Share | None, m: Messages) -> str:
        if share is None or not share.message_id or not share.channel_id:
            return m("showcase.no_link")
        return (
            f"https://discord.com/channels/{share.guild_id}/{share.channel_id}/{share.message_id}"
        )


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(ShowcaseCog(bot))
