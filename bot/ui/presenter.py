"""Shows jobs in Discord: edits the job card while the interaction lives, else posts anew."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import discord

from bot.jobs.models import Delivery, Job, JobState
from bot.jobs.runner import ResultFile
from bot.ui.cards import job_card

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
# Stop using an interaction token a minute before Discord invalidates it.
TOKEN_MARGIN = timedelta(minutes=1)
REQUEST_ENTITY_TOO_LARGE = 40005
# The interaction token no longer works (expired, revoked, or the reply was deleted).
TOKEN_GONE_CODES = frozenset({50027, 10015, 10008})


def _token_gone(exc: discord.HTTPException) -> bool:
    return exc.code in TOKEN_GONE_CODES


@dataclass
class _Card:
    """A job card that can still be edited through its interaction."""

    interaction: discord.Interaction
    latest: Job
    # Edits of one card are serialised and always render the newest state, so a slow edit
    # can never overwrite a newer one.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def usable(self) -> bool:
        return discord.utils.utcnow() < self.interaction.expires_at - TOKEN_MARGIN


class DiscordPresenter:
    """Implements the runner's JobPresenter on top of a discord.py client."""

    def __init__(
        self,
        client: discord.Client,
        provider_names: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._provider_names = provider_names
        self._clock = clock
        # Interaction tokens are bearer credentials: kept in memory only, never stored or logged.
        self._cards: dict[str, _Card] = {}

    async def show_card(self, job: Job, interaction: discord.Interaction) -> int | None:
        """Turn the interaction's deferred reply into the job's card; return its message id."""
        card = self._cards.setdefault(job.id, _Card(interaction, job))
        async with card.lock:
            if job.id not in self._cards:
                return None  # already delivered by the runner in the meantime
            message = await interaction.edit_original_response(embed=self.card(card.latest))
        return message.id

    def card(self, job: Job) -> discord.Embed:
        """The job's card as it stands now."""
        return job_card(job, self._provider_names.get(job.provider, job.provider), self._clock())

    async def job_changed(self, job: Job) -> None:
        """Refresh the card if its interaction is still usable."""
        card = self._usable_card(job.id)
        if card is None:
            return
        card.latest = job
        async with card.lock:
            try:
                await card.interaction.edit_original_response(embed=self.card(card.latest))
            except discord.HTTPException as exc:
                if not _token_gone(exc):
                    raise
                log.info("job %s: its card can no longer be edited (%s)", job.id, exc.code)
                self._cards.pop(job.id, None)

    async def deliver(self, job: Job, video: ResultFile | None) -> tuple[Delivery, int | None]:
        """Post the outcome: on the card while it lives, else as a new message to the member."""
        card = self._usable_card(job.id)
        if card is None:
            return await self._deliver_in_channel(job, video)
        card.latest = job
        async with card.lock:
            try:
                return await self._deliver_on_card(card, job, video)
            except discord.HTTPException as exc:
                if not _token_gone(exc):
                    raise
                log.info("job %s: card gone (%s); posting in the channel", job.id, exc.code)
            finally:
                self._cards.pop(job.id, None)
        return await self._deliver_in_channel(job, video)

    def _usable_card(self, job_id: str) -> _Card | None:
        card = self._cards.get(job_id)
        if card is not None and not card.usable():
            self._cards.pop(job_id, None)
            return None
        return card

    async def _deliver_on_card(
        self, card: _Card, job: Job, video: ResultFile | None
    ) -> tuple[Delivery, int | None]:
        kind, content, view = self._outcome(job, video, mention=False)
        attachments = [discord.File(video.path, filename=f"{job.id}.mp4")] if video else []
        try:
            message = await card.interaction.edit_original_response(
                content=content, embed=self.card(job), attachments=attachments, view=view
            )
        except discord.HTTPException as exc:
            if video is None or exc.code != REQUEST_ENTITY_TOO_LARGE:
                raise
            log.info("job %s: Discord refused the upload as too large; posting a link", job.id)
            return await self._deliver_on_card(card, job, None)
        return kind, message.id

    async def _deliver_in_channel(
        self, job: Job, video: ResultFile | None
    ) -> tuple[Delivery, int | None]:
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        guild = self._client.get_guild(job.guild_id)
        limit = guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT
        if video is not None and video.size > limit:
            video = None
        kind, content, view = self._outcome(job, video, mention=True)
        reference = None
        if job.card_message_id:
            reference = discord.MessageReference(
                message_id=job.card_message_id,
                channel_id=job.channel_id,
                fail_if_not_exists=False,
            )
        try:
            message = await channel.send(
                content=content,
                embed=self.card(job),
                file=discord.File(video.path, filename=f"{job.id}.mp4")
                if video
                else discord.utils.MISSING,
                view=view or discord.utils.MISSING,
                reference=reference or discord.utils.MISSING,
                # Same nonce on a re-delivery after a crash: Discord returns the first message.
                nonce=f"job-{job.id}",
                allowed_mentions=discord.AllowedMentions(users=True, replied_user=False),
            )
        except discord.HTTPException as exc:
            if video is None or exc.code != REQUEST_ENTITY_TOO_LARGE:
                raise
            return await self._deliver_in_channel(job, None)
        return kind, message.id

    def _outcome(
        self, job: Job, video: ResultFile | None, *, mention: bool
    ) -> tuple[Delivery, str, discord.ui.View | None]:
        who = f"<@{job.user_id}> " if mention else ""
        if job.state is not JobState.SUCCEEDED:
            reason = job.failure_message or "The video could not be made."
            return (
                Delivery.NOTICE,
                f"{who}Job `{job.id}` did not finish: {reason} "
                f"Your {job.price} credits were returned.",
                None,
            )
        if video is not None:
            return Delivery.ATTACHED, f"{who}Your video is ready.", None
        view = discord.ui.View(timeout=None)
        if job.result_url:
            view.add_item(discord.ui.Button(label="Open video", url=job.result_url))
        return (
            Delivery.LINK,
            f"{who}Your video is ready (too large to attach here): {job.result_url}",
            view,
        )
