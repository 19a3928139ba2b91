"""/showcase: share a finished video to the showcase channel, vote on shares, see the top."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.community.showcase import PERIOD_LABELS, Share, ShowcaseError
from bot.i18n import Messages
from bot.jobs.models import JobState
from bot.ui.commands import guild_only
from bot.ui.community import board_embed, share_embed, share_review_embed
from bot.ui.community_views import (
    NO_MENTIONS,
    find_channel,
    is_moderator,
    owner_ids_of,
)
from bot.ui.errors import UserError, reply_error
from bot.ui.forms import FormValues, build_form, form_id
from bot.ui.permissions import require_manager

if TYPE_CHECKING:
    from bot.app import VideoBot
    from bot.community import Community

log = logging.getLogger(__name__)

VOTE_EMOJI = "⭐"
IDLE_SECONDS = 5.0
JOB_ID = app_commands.Range[str, 1, 32]


def _community(client: discord.Client) -> Community:
    return client.services.community  # type: ignore[attr-defined]


def _cog(client: discord.Client) -> ShowcaseCog | None:
    cog = client.get_cog("ShowcaseCog") if isinstance(client, commands.Bot) else None
    return cog if isinstance(cog, ShowcaseCog) else None


class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"showcase:vote:(?P<share_id>[0-9]{1,18})",
):
    """A vote for a shared video; clicking again takes it back."""

    def __init__(self, share_id: int, votes: int = 0) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Vote · {votes}",
                emoji=VOTE_EMOJI,
                style=discord.ButtonStyle.primary,
                custom_id=f"showcase:vote:{share_id}",
            )
        )
        self.share_id = share_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> VoteButton:
        return cls(int(match["share_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._vote(interaction)
        except Exception as error:
            await reply_error(interaction, error)

    async def _vote(self, interaction: discord.Interaction) -> None:
        showcase = _community(interaction.client).showcase
        share = await showcase.get(self.share_id)
        if share is None or share.guild_id != interaction.guild_id:
            raise UserError("That video is not in this server's showcase.")
        outcome = await showcase.vote(self.share_id, interaction.user.id)
        await interaction.response.edit_message(view=share_view(self.share_id, outcome.votes))
        text = "Your vote is counted." if outcome.voted else "Your vote was taken back."
        await interaction.followup.send(text, ephemeral=True)


def share_view(share_id: int, votes: int) -> discord.ui.View:
    """The vote button under a shared video."""
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(share_id, votes))
    return view


class ShareReviewButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"share:(?P<action>approve|deny):(?P<share_id>[0-9]{1,18})",
):
    """A moderator lets a share into the showcase, or keeps it out (with a reason)."""

    def __init__(self, action: str, share_id: int) -> None:
        approve = action == "approve"
        super().__init__(
            discord.ui.Button(
                label="Approve share" if approve else "Deny share",
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                custom_id=f"share:{action}:{share_id}",
            )
        )
        self.action = action
        self.share_id = share_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ShareReviewButton:
        return cls(match["action"], int(match["share_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            share = await _checked_share(interaction, self.share_id)
            if self.action == "deny" and share.state == "pending":
                await interaction.response.send_modal(share_deny_form(self.share_id))
                return
            await _decide_share(interaction, self.share_id, self.action == "approve", None)
        except Exception as error:
            await reply_error(interaction, error)


# The Deny share form names the share it decides; it is routed by this pattern (bot.ui.forms).
SHARE_DENY_FORM = r"share:reason:(?P<share_id>[0-9]{1,18})"


def share_deny_form(share_id: int) -> discord.ui.Modal:
    """The reason a share is denied."""
    reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
        custom_id="reason", style=discord.TextStyle.paragraph, min_length=3, max_length=300
    )
    return build_form(
        form_id("share", "reason", share_id),
        "Keep this video out of the showcase",
        [("Reason (the member will see it)", reason)],
    )


async def on_share_deny_form(
    interaction: discord.Interaction, match: re.Match[str], values: FormValues
) -> None:
    """A Deny share form was submitted: deny the share its id names, if still pending."""
    share_id = int(match["share_id"])

    await _checked_share(interaction, share_id)
    await _decide_share(interaction, share_id, False, values.get("reason", ""))


async def _checked_share(interaction: discord.Interaction, share_id: int) -> Share:
    if not is_moderator(interaction, owner_ids_of(interaction.client)):
        raise UserError("Only moderators (Manage Messages or Manage Server) can decide this.")
    share = await _community(interaction.client).showcase.get(share_id)
    if share is None or share.guild_id != interaction.guild_id:
        raise UserError("That share is not from this server.")
    return share


async def _decide_share(
    interaction: discord.Interaction, share_id: int, approve: bool, reason: str | None
) -> None:
    community = _community(interaction.client)
    share, changed = await community.showcase.decide(
        share_id, approve=approve, actor_id=interaction.user.id, reason=reason
    )
    job = await community.showcase.job(share.job_id)
    assert job is not None
    if share.state == "denied":
        note = f"Denied by <@{share.decided_by}>: {share.decision_reason or 'no reason given'}"
    else:
        note = f"Approved by <@{share.decided_by}>"
    if not changed:
        note = f"Already decided. {note}"
    embed = share_review_embed(share.id, job, share.state, note)
    if interaction.message is not None:
        await interaction.response.edit_message(embed=embed, view=None)
    else:
        await interaction.response.defer(ephemeral=True)
    if not changed:
        # Someone decided first (or the form was stale): the moderator hears so privately.
        m = Messages(interaction.locale)
        await interaction.followup.send(
            m("forms.share_decided", state=m(f"forms.state.{share.state}")), ephemeral=True
        )
    cog = _cog(interaction.client)
    if cog is not None:
        cog.poke()
    if changed and not approve:
        # The member hears why in the channel of their video.
        channel = await find_channel(interaction.client, job.channel_id)
        if channel is not None:
            with contextlib.suppress(discord.HTTPException):
                await channel.send(
                    f"<@{job.user_id}>, a moderator kept your video `{job.id}` out of the "
                    f"showcase: {share.decision_reason}",
                    allowed_mentions=discord.AllowedMentions(users=True),
                )


def review_view(share_id: int) -> discord.ui.View:
    """Approve / Deny under a share waiting for a moderator."""
    view = discord.ui.View(timeout=None)
    view.add_item(ShareReviewButton("approve", share_id))
    view.add_item(ShareReviewButton("deny", share_id))
    return view


class ShowcaseCog(commands.Cog):
    """Thin layer over bot.community.showcase."""

    showcase = app_commands.Group(
        name="showcase", description="Share videos and vote on them", allowed_contexts=guild_only()
    )

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.community: Community = bot.services.community
        self._poke = asyncio.Event()
        self._posting: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        """Register the persistent buttons (posting starts once connected)."""
        self.bot.add_dynamic_items(VoteButton, ShareReviewButton)
        self.bot.forms.add(SHARE_DENY_FORM, on_share_deny_form)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Start the background work once connected (once, whatever reconnects follow)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="community-showcase")

    async def cog_unload(self) -> None:
        """Stop posting."""
        self.bot.remove_dynamic_items(VoteButton, ShareReviewButton)
        self.bot.forms.remove(SHARE_DENY_FORM)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        """Post what is ready now rather than at the next pass."""
        self._poke.set()

    # -- commands --------------------------------------------------------------------------------

    @showcase.command(name="share", description="Post one of your videos to the showcase")
    @app_commands.describe(job="The video's id (shown on its card)")
    async def share(self, interaction: discord.Interaction, job: JOB_ID) -> None:
        """Share a finished video."""
        await self.share_job(interaction, job)

    @share.autocomplete("job")
    async def _complete_job(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        jobs = await self.services.jobs.recent(interaction.guild_id, interaction.user.id, 25)
        return [
            app_commands.Choice(name=f"{j.id} · {j.request.prompt}"[:100], value=j.id)
            for j in jobs
            if j.state is JobState.SUCCEEDED and current.lower() in j.id
        ]

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
            embed=board_embed(lines, chosen), allowed_mentions=NO_MENTIONS
        )

    # -- the seam for result buttons ---------------------------------------------------------------

    async def share_job(self, interaction: discord.Interaction, job_id: str) -> None:
        """Share the member's video (the `/showcase share` command, or a result's Share button).

        Answers privately: a link to the post, or that a moderator reviews it first.
        """
        assert interaction.guild_id is not None
        guild_id = interaction.guild_id
        settings = await self.community.settings.get(guild_id)
        if settings.showcase_channel_id is None:
            raise UserError(
                "This server has no showcase channel yet; an admin sets one with "
                "`/server showcase`."
            )
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
        if share.state == "pending":
            if outcome.created:
                await self._post_review(share)
            text = "A moderator reviews shares first; it is posted once approved."
        elif share.state == "denied":
            text = f"A moderator kept this video out of the showcase: {share.decision_reason}"
        elif share.state == "posted":
            text = f"Already in the showcase: {self._link(share)}"
        else:
            await self._post_share(share)
            fresh = await self.community.showcase.get(share.id)
            text = (
                f"Shared: {self._link(fresh)}"
                if fresh is not None and fresh.state == "posted"
                else "Shared; it will appear in the showcase shortly."
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
                    view=share_view(share.id, outcome.votes)
                )

    # -- posting ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._poke.clear()
            try:
                for share in await self.community.showcase.to_review():
                    await self._post_review(share)
                for share in await self.community.showcase.to_post():
                    await self._post_share(share)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("showcase posting pass failed; continuing")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), timeout=IDLE_SECONDS)

    async def _post_review(self, share: Share) -> None:
        if share.id in self._posting:
            return
        self._posting.add(share.id)
        try:
            settings = await self.community.settings.get(share.guild_id)
            channel = await find_channel(self.bot, settings.moderators_channel_id)
            job = await self.community.showcase.job(share.job_id)
            if channel is None or job is None:
                return
            message = await channel.send(
                embed=share_review_embed(share.id, job, share.state),
                view=review_view(share.id),
                allowed_mentions=NO_MENTIONS,
            )
            await self.community.showcase.mark_review_posted(share.id, channel.id, message.id)
        except discord.HTTPException as exc:
            log.warning("could not post share %s for review: %s", share.id, exc)
        finally:
            self._posting.discard(share.id)

    async def _post_share(self, share: Share) -> None:
        if share.id in self._posting:
            return
        self._posting.add(share.id)
        try:
            settings = await self.community.settings.get(share.guild_id)
            channel = await find_channel(self.bot, settings.showcase_channel_id)
            job = await self.community.showcase.job(share.job_id)
            if channel is None or job is None:
                return
            provider = self.services.providers.get(job.provider)
            embed = share_embed(job, provider.display_name if provider else job.provider)
            view = share_view(share.id, share.votes)
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
        except discord.HTTPException as exc:
            log.warning("could not post share %s to the showcase: %s", share.id, exc)
        finally:
            self._posting.discard(share.id)

    # -- helpers ---------------------------------------------------------------------------------

    def _is_manager(self, interaction: discord.Interaction) -> bool:
        try:
            require_manager(interaction, self.services.settings.bot_owner_ids)
        except UserError:
            return False
        return True

    @staticmethod
    def _link(share: Share | None) -> str:
        if share is None or not share.message_id or not share.channel_id:
            return "(no link yet)"
        return (
            f"https://discord.com/channels/{share.guild_id}/{share.channel_id}/{share.message_id}"
        )


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(ShowcaseCog(bot))
