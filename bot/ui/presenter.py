"""Shows jobs in Discord: a live card while the interaction lives, else new messages.

Cards, buttons and delivery messages speak the language of the member who made the job
(`job.locale`, recorded from their interaction), whoever else may see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import timedelta

import aiohttp
import discord

from bot.community.service import Community
from bot.i18n import Messages, failure_text, tr
from bot.jobs.models import Delivery, DeliveryState, Job, JobState
from bot.jobs.runner import DeliveryRefused, ResultFile
from bot.jobs.service import JobService
from bot.providers.base import Provider
from bot.ui.buttons import job_view
from bot.ui.cards import CardContext, job_card
from bot.ui.links import web_url

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
# Stop using an interaction token a minute before Discord invalidates it.
TOKEN_MARGIN = timedelta(minutes=1)
# Between state changes a card is refreshed (elapsed time, queue place) at most this often;
# webhook edits share a rate limit per interaction, so a quiet card must stay quiet.
REFRESH_SECONDS = 12.0
# One card is edited at most this often: changes in between are coalesced into the next edit.
MIN_EDIT_GAP_SECONDS = 1.0
# Quiet cards refreshed per second across the bot, oldest first: with thousands of jobs in
# flight the clocks on cards tick slower rather than the bot spending itself on them.
REFRESH_BUDGET_PER_SECOND = 10
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
    phase: str | None = None
    last_edit: float = 0.0
    # A change arrived while an edit was running or too soon after one: edit again soon.
    dirty: bool = False
    # Edits of one card are serialised and always render the newest state, so a slow edit
    # can never overwrite a newer one.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def usable(self) -> bool:
        return discord.utils.utcnow() < self.interaction.expires_at - TOKEN_MARGIN


@dataclass(eq=False, repr=False)
class DiscordPresenter:
    """Implements the runner's JobPresenter on top of a discord.py client."""

    client: discord.Client
    providers: Mapping[str, Provider]
    jobs: JobService
    community: Community
    _: KW_ONLY
    clock: Callable[[], float] = time.time
    refresh_seconds: float = REFRESH_SECONDS
    # Interaction tokens are bearer credentials: kept in memory only, never stored or logged.
    _cards: dict[str, _Card] = field(default_factory=dict, init=False)
    _refresher: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        """Begin refreshing quiet cards (elapsed time, place in queue)."""
        self._refresher = asyncio.create_task(self._refresh_forever(), name="card-refresh")

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher

    async def show_card(self, job: Job, interaction: discord.Interaction) -> int | None:
        """Turn the interaction's deferred reply into the job's card; return its message id."""
        card = self._cards.setdefault(job.id, _Card(interaction, job))
        async with card.lock:
            if job.id not in self._cards:
                return None  # already delivered by the runner in the meantime
            embed, view = await self._render(card.latest, card.phase)
            message = await interaction.edit_original_response(embed=embed, view=view)
            card.last_edit = time.monotonic()
        return message.id

    async def render(
        self, job: Job, locale: str | None = None
    ) -> tuple[discord.Embed, discord.ui.View | None]:
        """The job's card and buttons as they stand now (the card in `locale`, if given)."""
        return await self._render(job, None, locale)

    async def job_changed(self, job: Job, phase: str | None = None) -> None:
        """A state change: refresh the card now if its interaction is still usable."""
        card = self._usable_card(job.id)
        if card is None:
            return
        card.latest, card.phase = job, phase
        if card.lock.locked() or time.monotonic() - card.last_edit < MIN_EDIT_GAP_SECONDS:
            # The running edit, or the refresher within a second, shows this state.
            card.dirty = True
            return
        await self._edit(card)

    async def deliver(
        self, job: Job, video: ResultFile | None, *, may_have_sent: bool
    ) -> tuple[Delivery, int | None]:
        """Post the outcome: on the card while it lives, else as a new message to the member.

        Editing the card is repeatable as it is; a new message carries a nonce made from the
        job (Discord refuses its duplicate for a few minutes), and after an attempt that may
        have got through (in this process or another, which had no card and posted a new
        message), the card and the channel's recent messages are read first.
        """
        card = self._usable_card(job.id)
        channel = self.client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        if may_have_sent and (found := await self._posted_before(channel, job, card)) is not None:
            # Another process (with no card) may have posted it as a new message and died
            # before recording it: putting the outcome on this card too would show it twice.
            log.info("job %s: its outcome was already posted as %s", job.id, found.id)
            self._cards.pop(job.id, None)
            return _kind_of(job, found), found.id
        if card is not None:
            card.latest, card.phase = job, None
            async with card.lock:
                try:
                    return await self._deliver_on_card(card, job, video)
                except discord.HTTPException as exc:
                    if not _token_gone(exc):
                        raise _refused(exc) from None
                    log.info("job %s: card gone (%s); posting in the channel", job.id, exc.code)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise DeliveryRefused(type(exc).__name__) from None
                finally:
                    self._cards.pop(job.id, None)
        with _as_refusal():
            return await self._deliver_in_channel(job, video, channel, mention=True)

    async def deliver_privately(
        self, job: Job, video: ResultFile | None
    ) -> tuple[Delivery, int | None]:
        """Send the outcome to the member directly, when their channel would not take it."""
        with _as_refusal():
            user = self.client.get_user(job.user_id) or await self.client.fetch_user(job.user_id)
            channel = await user.create_dm()
            return await self._deliver_in_channel(job, video, channel, mention=False)

    async def _posted_before(
        self, channel: discord.abc.Messageable, job: Job, card: _Card | None
    ) -> discord.Message | None:
        """What an earlier attempt posted, if anything. Raises DeliveryRefused.

        A card needs no channel permission: when the channel cannot be read, its holder edits
        the card as it always could (its own earlier edit is simply repeated).
        """
        try:
            with _as_refusal():
                return await self._already_posted(channel, job)
        except DeliveryRefused:
            if card is None:
                raise
            log.info("job %s: could not look for an earlier post; editing its card", job.id)
            return None

    async def _already_posted(
        self, channel: discord.abc.Messageable, job: Job
    ) -> discord.Message | None:
        """The bot's outcome for this job: on its card, or among the channel's recent messages.

        The card counts: an edit that put the outcome on it may have landed just before the
        process that sent it died, with nothing recorded, and the card has no nonce to stop a
        second copy posted as a new message.
        """
        if job.card_message_id is not None:
            try:
                card = await channel.fetch_message(job.card_message_id)
            except discord.NotFound:
                card = None
            if card is not None and _shows_outcome(card, job.id):
                return card
        me = self.client.user
        after = discord.Object(job.card_message_id) if job.card_message_id else None
        async for message in channel.history(limit=50, after=after):
            if me is None or message.author.id != me.id or message.id == job.card_message_id:
                continue
            if message.interaction_metadata is None and _names_job(message, job.id):
                return message
        return None

    async def _refresh_forever(self) -> None:
        while True:
            # A pass only reads an in-memory dict; checking each second keeps refreshes on time.
            await asyncio.sleep(1.0)
            await self.refresh_due(time.monotonic())

    async def refresh_due(self, now: float) -> None:
        """Edit the cards whose change or quiet interval is due at monotonic time `now`."""
        for card in self._cards_to_refresh(now):
            try:
                # A quiet card's job may have been moved on by another process.
                await self._edit(card, catch_up=not card.dirty)
            except Exception:
                # One card's trouble must not stop the refreshes of the others.
                log.exception("job %s: periodic card refresh failed", card.latest.id)

    def _cards_to_refresh(self, now: float) -> list[_Card]:
        """Cards with a coalesced change first, then the quietest, within the budget."""
        changed, quiet = [], []
        for job_id, card in list(self._cards.items()):
            if card.lock.locked() or card.latest.state.terminal or not self._usable_card(job_id):
                continue
            since = now - card.last_edit
            if card.dirty and since >= MIN_EDIT_GAP_SECONDS:
                changed.append(card)
            elif since >= self.refresh_seconds:
                quiet.append(card)
        quiet.sort(key=lambda card: card.last_edit)
        return changed + quiet[: max(0, REFRESH_BUDGET_PER_SECOND - len(changed))]

    async def _edit(self, card: _Card, *, catch_up: bool = False) -> None:
        async with card.lock:
            card.dirty = False
            delivered_elsewhere = catch_up and await self._catch_up(card)
            try:
                embed, view = await self._render(card.latest, card.phase)
                await card.interaction.edit_original_response(embed=embed, view=view)
                card.last_edit = time.monotonic()
            except discord.HTTPException as exc:
                if not _token_gone(exc):
                    raise
                log.info("job %s: its card can no longer be edited (%s)", card.latest.id, exc.code)
                self._cards.pop(card.latest.id, None)
            if delivered_elsewhere:
                # Its outcome went out as a message of its own: this was the card's last edit.
                self._cards.pop(card.latest.id, None)

    async def _catch_up(self, card: _Card) -> bool:
        """Show what the database knows of the job, when another process moved it on.

        Only this process's runner tells the card of changes; with several processes the job's
        steps may run in another, which cannot edit this card (the interaction is this one's).
        A finished job is shown finished once its outcome is out (True: the card is done);
        until then the delivery may still come here, to this card.
        """
        fresh = await self.jobs.get(card.latest.id)
        if fresh is None or fresh.version <= card.latest.version:
            return False
        if fresh.state.terminal and fresh.delivery_state not in (
            DeliveryState.DELIVERED,
            DeliveryState.PARKED,
        ):
            return False
        card.latest, card.phase = fresh, None
        return fresh.state.terminal

    async def _render(
        self, job: Job, phase: str | None, locale: str | None = None
    ) -> tuple[discord.Embed, discord.ui.View | None]:
        context = CardContext(
            provider_name=self._provider_name(job),
            now=self.clock(),
            phase=phase,
            place_in_queue=None if job.state.terminal else await self.jobs.queue_position(job),
            # Only wanted when the provider gave no estimate of its own (it is a scan).
            typical_seconds=None
            if job.state.terminal or job.estimated_seconds
            else await self.jobs.typical_seconds(job),
            locale=locale or job.locale,
            left_out=self._left_out(job),
        )
        settings = await self.community.server_settings(job.guild_id)
        view = job_view(
            job,
            can_extend=self._can_extend(job),
            can_share=settings.showcase_channel_id is not None,
            can_report=settings.moderators_channel_id is not None,
        )
        return job_card(job, context), view

    def _provider_name(self, job: Job) -> str:
        provider = self.providers.get(job.provider)
        return provider.display_name if provider else job.provider

    def _left_out(self, job: Job) -> str:
        """What of the prompt the provider could not draw (title-card emoji), if it says."""
        left_out = getattr(self.providers.get(job.provider), "left_out", None)
        return left_out(job.request) if left_out is not None else ""

    def _can_extend(self, job: Job) -> bool:
        provider = self.providers.get(job.provider)
        can_extend = getattr(provider, "can_extend", None)
        return bool(job.provider_video_id and can_extend and can_extend(job.request.model))

    def _usable_card(self, job_id: str) -> _Card | None:
        card = self._cards.get(job_id)
        if card is not None and not card.usable():
            self._cards.pop(job_id, None)
            return None
        return card

    async def _deliver_on_card(
        self, card: _Card, job: Job, video: ResultFile | None
    ) -> tuple[Delivery, int | None]:
        kind, content = self._outcome(job, video, mention=False)
        embed, view = await self._render(job, None)
        _add_link_button(view, job, kind)
        files = _files(job, video)
        try:
            message = await card.interaction.edit_original_response(
                content=content, embed=_with_poster(embed, job, video), attachments=files, view=view
            )
        except discord.HTTPException as exc:
            smaller = _without_largest_file(video) if exc.code == REQUEST_ENTITY_TOO_LARGE else None
            if smaller is None:
                raise
            log.info("job %s: Discord refused the upload as too large; sending less", job.id)
            return await self._deliver_on_card(card, job, smaller[0])
        return kind, message.id

    async def _deliver_in_channel(
        self,
        job: Job,
        video: ResultFile | None,
        channel: discord.abc.Messageable,
        *,
        mention: bool,
    ) -> tuple[Delivery, int | None]:
        guild = self.client.get_guild(job.guild_id)
        limit = guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT
        if video is not None and video.size > limit:
            video = replace(video, attachable=False)
        kind, content = self._outcome(job, video, mention=mention)
        embed, view = await self._render(job, None)
        _add_link_button(view, job, kind)
        reference = None
        if job.card_message_id and mention:
            reference = discord.MessageReference(
                message_id=job.card_message_id,
                channel_id=job.channel_id,
                fail_if_not_exists=False,
            )
        try:
            message = await channel.send(
                content=content,
                embed=_with_poster(embed, job, video),
                files=_files(job, video),
                view=view or discord.utils.MISSING,
                reference=reference,  # type: ignore[arg-type]  # None is allowed at runtime
                # discord.py sends it with enforce_nonce: a repeat within Discord's window
                # returns the first message instead of posting a second one.
                nonce=f"job-{job.id}",
                allowed_mentions=discord.AllowedMentions(users=True, replied_user=False),
            )
        except discord.HTTPException as exc:
            smaller = _without_largest_file(video) if exc.code == REQUEST_ENTITY_TOO_LARGE else None
            if smaller is None:
                raise
            return await self._deliver_in_channel(job, smaller[0], channel, mention=mention)
        return kind, message.id

    def _outcome(
        self, job: Job, video: ResultFile | None, *, mention: bool
    ) -> tuple[Delivery, str]:
        m = Messages(job.locale)
        who = f"<@{job.user_id}> " if mention else ""
        if job.state is JobState.CANCELLED and not job.moderated:
            return Delivery.NOTICE, who + m("delivery.cancelled", job=job.id, count=job.price)
        if job.state is not JobState.SUCCEEDED:
            if job.failure_message:
                reason = failure_text(
                    m.language,
                    job.failure_code or "unknown",
                    provider=self._provider_name(job),
                    fallback=job.failure_message,
                )
            else:
                reason = m("delivery.failed_no_reason")
            return Delivery.NOTICE, who + m(
                "delivery.failed", job=job.id, reason=reason, count=job.price
            )
        if video is not None and video.attachable:
            return Delivery.ATTACHED, who + m("delivery.ready")
        link = web_url(job.result_url)
        if link:
            return Delivery.LINK, who + m("delivery.ready_link", url=link)
        return Delivery.LINK, who + m("delivery.ready_too_large")


@contextlib.contextmanager
def _as_refusal() -> Iterator[None]:
    """Discord's answers and lost connections, as the runner's DeliveryRefused."""
    try:
        yield
    except discord.HTTPException as exc:
        raise _refused(exc) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryRefused(type(exc).__name__) from None


def _refused(exc: discord.HTTPException) -> DeliveryRefused:
    """Discord's refusal as the runner understands it."""
    return DeliveryRefused(f"HTTP {exc.status}, code {exc.code}", code=exc.code or None)


def _names_job(message: discord.Message, job_id: str) -> bool:
    """Whether a message carries this job's buttons (every outcome message does)."""
    suffix = f":{job_id}"
    for row in message.components:
        for item in getattr(row, "children", ()):
            if (getattr(item, "custom_id", None) or "").endswith(suffix):
                return True
    return False


def _shows_outcome(card: discord.Message, job_id: str) -> bool:
    """Whether a job's card was turned into its outcome.

    Only that edit writes text above the card (every other edit is the embed and buttons) and
    it takes the Cancel button away.
    """
    cancel = f"video:cancel:{job_id}"
    buttons = [
        getattr(item, "custom_id", None)
        for row in card.components
        for item in getattr(row, "children", ())
    ]
    return bool(card.content) and _names_job(card, job_id) and cancel not in buttons


def _kind_of(job: Job, message: discord.Message) -> Delivery:
    """How an already-posted outcome reached the member."""
    if job.state is not JobState.SUCCEEDED:
        return Delivery.NOTICE
    videos = [a for a in message.attachments if a.filename.endswith(".mp4")]
    return Delivery.ATTACHED if videos else Delivery.LINK


def _add_link_button(view: discord.ui.View | None, job: Job, kind: Delivery) -> None:
    """A link delivery gets an "Open video" button beside the job buttons."""
    url = web_url(job.result_url)
    if view is not None and kind is Delivery.LINK and url:
        label = tr(job.locale, "delivery.open_video")
        view.add_item(discord.ui.Button(label=label, emoji="🎬", url=url))


def _without_largest_file(video: ResultFile | None) -> tuple[ResultFile | None] | None:
    """After a 40005: the video becomes a link; then the poster is dropped; then give up."""
    if video is None:
        return None
    if video.attachable:
        return (replace(video, attachable=False),)
    if video.poster is not None:
        return (None,)
    return None


def _files(job: Job, video: ResultFile | None) -> list[discord.File]:
    """The video when it can be attached; otherwise its poster frame, if there is one."""
    if video is None:
        return []
    if video.attachable:
        return [discord.File(video.path, filename=f"{job.id}.mp4")]
    if video.poster is not None:
        return [discord.File(video.poster, filename=f"{job.id}-poster.jpg")]
    return []


def _with_poster(embed: discord.Embed, job: Job, video: ResultFile | None) -> discord.Embed:
    """Show the poster frame in the card when the video itself could not be attached."""
    if video is not None and not video.attachable and video.poster is not None:
        embed.set_image(url=f"attachment://{job.id}-poster.jpg")
    return embed
