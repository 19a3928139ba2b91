"""/video: make a video from a prompt or an image, continue one, and look at your jobs."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import re
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import discord
from discord import app_commands

from bot.camera import MOVES
from bot.credits.quotas import QuotaExceeded
from bot.i18n import Messages, Text, default_catalogue, text_of, tr
from bot.jobs.lineage import extension_count
from bot.jobs.models import DeliveryState, Job, JobOrder, JobState
from bot.ledger import InsufficientCredits
from bot.media import MAX_IMAGE_BYTES, MAX_SIDE, MIN_SIDE, check_image_async, size_problem
from bot.providers.base import InvalidRequest, ModelSpec, Provider, VideoRequest
from bot.ui.buttons import post_here_view
from bot.ui.cards import (
    history_embed,
    insufficient_message,
    limit_message,
    model_label,
    models_embed,
)
from bot.ui.channels import is_age_restricted
from bot.ui.cogs import BotCog, guild_group
from bot.ui.community_views import delete_result
from bot.ui.errors import UserError
from bot.ui.forms import FormValues, build_form, form_id
from bot.ui.permissions import member_role_ids

if TYPE_CHECKING:
    from bot.app import VideoBot

log = logging.getLogger(__name__)

ASPECT_RATIOS = [app_commands.Choice(name=a, value=a) for a in ("auto", "16:9", "9:16", "1:1")]
CAMERA_MOVES = [
    app_commands.Choice(name=info.label, value=move.value) for move, info in MOVES.items()
]
SEED_MAX = 2**31 - 1
# The job buttons this cog handles (share belongs to /showcase, report to moderation).
JOB_ACTIONS = ("cancel", "retry", "remix", "extend", "post", "delete")
# Forms carry the job they act on (and, for Extend, how often it was extended when opened).
REMIX_FORM = r"video:remix-form:(?P<job_id>[2-9a-z]{8})"
EXTEND_FORM = r"video:extend-form:(?P<job_id>[2-9a-z]{8}):(?P<seen>[0-9]{1,6})"
HISTORY_PAGE = 10
Command = TypeVar("Command", bound=Callable[..., Awaitable[None]])
OPTION_HELP = {
    "prompt": "What should happen; camera moves such as [Pan right] or [Zoom in] are understood",
    "provider": "Which video service to use",
    "model": "Which model of that service",
    "resolution": "Resolution (480p/720p/1080p), or the mode for Kling (std, pro, 4k)",
    "duration": "Clip length in seconds, where the model lets you choose",
    "aspect_ratio": "Frame shape, where the model supports it",
    "camera": "A camera move, understood the same way by every service",
    "negative_prompt": "What to keep out of the video, where supported",
    "seed": "A number to make the result reproducible, where supported",
    "cfg_scale": "How closely to follow the prompt, 0 to 1 (Kling)",
    "steps": "Inference steps: more is slower and finer (kvidAI)",
    "prompt_expansion": "Let the service enrich your prompt (kvidAI)",
    "safety_checker": "Turn the safety filter off (only honoured in age-restricted channels)",
}


@dataclass(frozen=True)
class GenerationOptions:
    """The options of /video text and /video image, as the member gave them."""

    prompt: str
    provider: str | None = None
    model: str | None = None
    resolution: str | None = None
    duration: int | None = None
    aspect_ratio: app_commands.Choice[str] | None = None
    camera: app_commands.Choice[str] | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    cfg_scale: float | None = None
    steps: int | None = None
    prompt_expansion: bool | None = None
    safety_checker: bool | None = None
    image: discord.Attachment | None = None
    end_image: discord.Attachment | None = None

    @property
    def images(self) -> tuple[discord.Attachment, ...]:
        """The attached frames, first one first."""
        return tuple(a for a in (self.image, self.end_image) if a is not None)


async def _shared_options(
    provider: str | None = None,
    model: str | None = None,
    resolution: str | None = None,
    duration: app_commands.Range[int, 1, 60] | None = None,
    aspect_ratio: app_commands.Choice[str] | None = None,
    camera: app_commands.Choice[str] | None = None,
    negative_prompt: app_commands.Range[str, 1, 500] | None = None,
    seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
    cfg_scale: app_commands.Range[float, 0.0, 1.0] | None = None,
    steps: app_commands.Range[int, 1, 100] | None = None,
    prompt_expansion: bool | None = None,
    safety_checker: bool | None = None,
) -> None:
    """The options /video text and /video image share: a signature only, never called."""


def with_shared_options(command: Command) -> Command:
    """Declare the shared options on a command that takes them as `**shared`.

    discord.py reads a command's options from its callback's signature: this one list stands
    in for both commands' options, so the two cannot drift apart.
    """
    own = inspect.signature(command)
    named = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
    shared = inspect.signature(_shared_options).parameters.values()
    command.__signature__ = own.replace(parameters=[*named, *shared])  # type: ignore[attr-defined]
    return command


class VideoCog(BotCog):
    """Thin layer: parse options, call the job service, render the answer."""

    video = guild_group("video", "Make AI videos")

    def __init__(self, bot: VideoBot) -> None:
        super().__init__(bot)
        # Per video, while an Extend form is checked and started (see on_extend_form).
        self._extend_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def cog_load(self) -> None:
        """Take over its job buttons and the Remix and Extend forms."""
        self.bot.job_actions.add(JOB_ACTIONS, self.on_job_button)
        self.bot.forms.add(REMIX_FORM, self.on_remix_form)
        self.bot.forms.add(EXTEND_FORM, self.on_extend_form)

    async def cog_unload(self) -> None:
        """Release its job buttons and the forms."""
        self.bot.job_actions.remove(JOB_ACTIONS)
        self.bot.forms.remove(REMIX_FORM)
        self.bot.forms.remove(EXTEND_FORM)

    # -- generation -------------------------------------------------------------------------

    @video.command(name="text", description="Make a video from a text prompt")
    @app_commands.describe(**OPTION_HELP)
    @app_commands.choices(aspect_ratio=ASPECT_RATIOS, camera=CAMERA_MOVES)
    @with_shared_options
    async def text(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2500],
        **shared: Any,
    ) -> None:
        """Text-to-video."""
        await self._generate(interaction, "text", GenerationOptions(prompt=prompt, **shared))

    @video.command(name="image", description="Animate an image you attach")
    @app_commands.describe(
        image="A PNG, JPEG or WebP photo, 300x300 to 6000x6000 pixels: the first frame",
        end_image="Optional last frame (Kling)",
        **OPTION_HELP,
    )
    @app_commands.choices(aspect_ratio=ASPECT_RATIOS, camera=CAMERA_MOVES)
    @with_shared_options
    async def image(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 2500],
        end_image: discord.Attachment | None = None,
        **shared: Any,
    ) -> None:
        """Image-to-video."""
        options = GenerationOptions(prompt=prompt, image=image, end_image=end_image, **shared)
        for attachment in options.images:
            _precheck_attachment(attachment)
        await self._generate(interaction, "image", options)

    @video.command(name="extend", description="Continue one of your finished videos")
    @app_commands.describe(job="The job id of the video to continue", prompt="What happens next")
    async def extend(
        self,
        interaction: discord.Interaction,
        job: str,
        prompt: app_commands.Range[str, 1, 2500],
    ) -> None:
        """Extend a finished video with the provider that made it."""
        await interaction.response.defer(thinking=True)
        parent = await self._own_job(interaction, job)
        self._require_extendable(parent)
        await self.start_extension(interaction, parent, prompt)

    @video.command(name="cancel", description="Cancel one of your jobs and get its credits back")
    @app_commands.describe(job="The job id shown on the job card")
    async def cancel(self, interaction: discord.Interaction, job: str) -> None:
        """Cancel a job that has not finished."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.edit_original_response(content=await self._cancel(interaction, job))

    # -- buttons on cards and results -------------------------------------------------------

    async def on_job_button(
        self, interaction: discord.Interaction, action: str, job_id: str
    ) -> None:
        """A job button was pressed (possibly on a message from before a restart)."""
        job = await self.services.jobs.get(job_id)
        moderator = interaction.permissions.manage_messages
        if job is None or job.guild_id != interaction.guild_id:
            raise UserError(Text("buttons.job_gone"))
        # Moderators may also cancel or delete someone else's video.
        allowed = job.user_id == interaction.user.id or (
            moderator and action in ("cancel", "delete")
        )
        if not allowed:
            raise UserError(Text("buttons.not_yours"))
        match action:
            case "cancel":
                await interaction.response.defer(ephemeral=True, thinking=True)
                await interaction.edit_original_response(
                    content=await self._cancel(interaction, job.id)
                )
            case "retry":
                await self._retry(interaction, job)
            case "remix":
                await interaction.response.send_modal(remix_form(job, interaction.locale))
            case "extend":
                self._require_extendable(job)
                extensions = await extension_count(
                    self.services.db, job.guild_id, job.user_id, job.id
                )
                await interaction.response.send_modal(
                    extend_form(job, extensions, interaction.locale)
                )
            case "post":
                await interaction.response.defer(ephemeral=True, thinking=True)
                assert interaction.channel_id is not None
                reposted = await self.services.jobs.repost(job.id, interaction.channel_id)
                key = "buttons.posting" if reposted is not None else "buttons.not_kept"
                await interaction.edit_original_response(
                    content=tr(interaction.locale, key, job=job.id)
                )
            case "delete":
                await interaction.response.defer(ephemeral=True, thinking=True)
                if interaction.message is not None:
                    await interaction.message.delete()
                if moderator and job.user_id != interaction.user.id:
                    # A moderator's delete also removes the card and any showcase post.
                    await delete_result(self.bot, job.id)
                await interaction.edit_original_response(
                    content=tr(interaction.locale, "buttons.deleted", job=job.id)
                )

    async def _cancel(self, interaction: discord.Interaction, job_id: str) -> str:
        result = await self.services.jobs.cancel(
            job_id, interaction.user.id, moderator=interaction.permissions.manage_messages
        )
        m = Messages(interaction.locale)
        message = m("cancel.done", job=result.job.id, refunded=result.refunded)
        if result.provider_stopped is False:
            message += " " + m("cancel.may_still_finish")
        return message

    async def _retry(self, interaction: discord.Interaction, job: Job) -> None:
        provider = self._provider(job.provider)
        spec = provider.models.get(job.request.model)
        seed = random.randint(0, SEED_MAX) if spec is not None and spec.supports_seed else None
        await self._start(
            interaction,
            provider,
            replace(job.request, seed=seed),
            images=(),
            parent_job_id=job.parent_job_id,
        )

    # -- forms (routed by custom_id: they work for every member at once, and after a restart) --

    async def on_remix_form(
        self, interaction: discord.Interaction, match: re.Match[str], values: FormValues
    ) -> None:
        """A Remix form was submitted: remix the job its id names, if still the member's."""
        job = await self._form_job(interaction, match["job_id"])
        changes = {
            key: values.get(key, "") for key in ("prompt", "resolution", "duration", "camera")
        }
        await self.remix(interaction, job, changes)

    async def on_extend_form(
        self, interaction: discord.Interaction, match: re.Match[str], values: FormValues
    ) -> None:
        """An Extend form was submitted: extend the job its id names, if nothing changed."""
        job = await self._form_job(interaction, match["job_id"])
        self._require_extendable(job)
        # One check-and-start at a time per video, so two forms opened on the same state
        # cannot both pass the "not extended since" check.
        lock = self._extend_locks.setdefault(job.id, asyncio.Lock())
        async with lock:
            extensions = await extension_count(self.services.db, job.guild_id, job.user_id, job.id)
            if extensions != int(match["seen"]):
                raise UserError(Text("forms.already_extended", job=job.id))
            await self.start_extension(interaction, job, values.get("prompt", ""))

    async def _form_job(self, interaction: discord.Interaction, job_id: str) -> Job:
        """The job a submitted form names, if it still exists and is the submitter's."""
        job = await self.services.jobs.get(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            raise UserError(Text("buttons.job_gone"))
        if job.user_id != interaction.user.id:
            raise UserError(Text("buttons.not_yours"))
        if await self._origin_deleted(interaction):
            raise UserError(Text("forms.video_deleted", job=job.id))
        return job

    async def _origin_deleted(self, interaction: discord.Interaction) -> bool:
        """Whether the result message the form was opened from has been deleted since."""
        origin = interaction.message
        if origin is None or origin.flags.ephemeral:
            return False
        channel = self.bot.get_partial_messageable(origin.channel.id, guild_id=interaction.guild_id)
        try:
            await channel.fetch_message(origin.id)
        except discord.NotFound:
            return True
        except discord.HTTPException as exc:
            # Not knowing is no reason to refuse the member's video.
            log.warning("could not check message %s for a form: %s", origin.id, exc)
        return False

    def _require_extendable(self, job: Job) -> None:
        refusal = extend_refusal(job, self._provider(job.provider))
        if refusal is not None:
            raise UserError(refusal)

    async def remix(
        self, interaction: discord.Interaction, job: Job, changes: Mapping[str, str]
    ) -> None:
        """Start a job from an earlier one with the member's edits from the Remix form."""
        provider = self._provider(job.provider)
        duration = changes["duration"].strip()
        if duration and not duration.isdigit():
            raise UserError(Text("remix.bad_duration"))
        request = replace(
            job.request,
            prompt=changes["prompt"].strip(),
            resolution=changes["resolution"].strip() or job.request.resolution,
            duration=int(duration) if duration else None,
            camera=changes["camera"].strip().lower().replace(" ", "_") or None,
        )
        await self._start(interaction, provider, request, images=())

    async def start_extension(
        self, interaction: discord.Interaction, job: Job, prompt: str
    ) -> None:
        """Start an extension of a finished video (from /video extend or the Extend form)."""
        provider = self._provider(job.provider)
        request = VideoRequest(
            kind="extend",
            prompt=prompt.strip(),
            model=job.request.model,
            resolution=job.request.resolution,
            duration=job.request.duration,
            extend_video_id=job.provider_video_id,
        )
        await self._start(interaction, provider, request, images=(), parent_job_id=job.id)

    # -- autocomplete -----------------------------------------------------------------------

    @text.autocomplete("provider")
    @image.autocomplete("provider")
    async def _complete_provider(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        return [
            app_commands.Choice(name=p.display_name, value=name)
            for name, p in self.services.providers.items()
            if needle in name or needle in p.display_name.lower()
        ][:25]

    @text.autocomplete("model")
    @image.autocomplete("model")
    async def _complete_model(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = self._chosen_provider(interaction)
        candidates = [chosen] if chosen else list(self.services.providers.values())
        m = Messages(interaction.locale)
        return [
            app_commands.Choice(
                name=f"{model_label(p.display_name, spec.name)}: {_describe(m, p, spec)}"[:100],
                value=spec.name,
            )
            for p in candidates
            for spec in p.models.values()
            if current.lower() in spec.name.lower()
        ][:25]

    @text.autocomplete("resolution")
    @image.autocomplete("resolution")
    async def _complete_resolution(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        spec = self._chosen_model(interaction)
        values = spec.resolutions if spec else ("480p", "720p", "1080p")
        return [app_commands.Choice(name=v, value=v) for v in values if current in v][:25]

    @text.autocomplete("duration")
    @image.autocomplete("duration")
    async def _complete_duration(
        self, interaction: discord.Interaction, current: int | str
    ) -> list[app_commands.Choice[int]]:
        spec = self._chosen_model(interaction)
        values = spec.durations if spec else (5, 10)
        return [
            app_commands.Choice(
                name=tr(interaction.locale, "video.duration_choice", seconds=v), value=v
            )
            for v in values
        ][:25]

    @extend.autocomplete("job")
    async def _complete_extendable(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._job_choices(interaction, current, extendable_only=True)

    # -- jobs -------------------------------------------------------------------------------

    @video.command(name="status", description="Where one of your jobs stands")
    @app_commands.describe(job="The job id shown on the job card")
    async def status(self, interaction: discord.Interaction, job: str) -> None:
        """Show a job's card privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self._own_job(interaction, job, moderators_too=True)
        embed, _ = await self.bot.presenter.render(found, str(interaction.locale))
        # An outcome no channel nor DM took is kept: its owner can have it posted here.
        kept = found.delivery_state is DeliveryState.PARKED and found.user_id == interaction.user.id
        view = post_here_view(found, interaction.locale) if kept else discord.utils.MISSING
        await interaction.edit_original_response(embed=embed, view=view)

    @status.autocomplete("job")
    @cancel.autocomplete("job")
    async def _complete_job(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._job_choices(interaction, current, extendable_only=False)

    @video.command(name="history", description="Your recent videos (only you can see this)")
    @app_commands.describe(page="Which page of your videos, newest first (10 a page)")
    async def history(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        """List the member's jobs privately, a page at a time."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        # One more than a page, to know whether an older page exists.
        jobs = await self.services.jobs.recent(
            interaction.guild_id,
            interaction.user.id,
            HISTORY_PAGE + 1,
            offset=(page - 1) * HISTORY_PAGE,
        )
        embed = history_embed(
            jobs[:HISTORY_PAGE], page, interaction.locale, has_older=len(jobs) > HISTORY_PAGE
        )
        await interaction.edit_original_response(embed=embed)

    @video.command(name="models", description="Video services, their models, options and prices")
    async def models(self, interaction: discord.Interaction) -> None:
        """List what can be ordered here and what it costs."""
        providers = list(self.services.providers.values())
        embed = models_embed(providers, self.services.jobs.prices, interaction.locale)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    # -- helpers ----------------------------------------------------------------------------

    def _provider(self, name: str | None) -> Provider:
        providers = self.services.providers
        if not providers:
            raise UserError(Text("video.no_provider"))
        if name is None:
            return next(iter(providers.values()))
        chosen = providers.get(name.strip().lower())
        if chosen is None:
            raise UserError(
                Text("video.unknown_provider", provider=name, choices=", ".join(providers))
            )
        return chosen

    def _chosen_provider(self, interaction: discord.Interaction) -> Provider | None:
        name = getattr(interaction.namespace, "provider", None)
        providers = self.services.providers
        if name in providers:
            return providers[name]
        return next(iter(providers.values()), None)

    def _chosen_model(self, interaction: discord.Interaction) -> ModelSpec | None:
        provider = self._chosen_provider(interaction)
        if provider is None:
            return None
        model = getattr(interaction.namespace, "model", None) or provider.default_model
        return provider.models.get(model)

    async def _own_job(
        self, interaction: discord.Interaction, job_id: str, *, moderators_too: bool = False
    ) -> Job:
        found = await self.services.jobs.get(job_id)
        if found is None or found.guild_id != interaction.guild_id:
            raise UserError(Text("video.no_job", job=job_id))
        allowed = found.user_id == interaction.user.id or (
            moderators_too and interaction.permissions.manage_messages
        )
        if not allowed:
            raise UserError(Text("video.not_yours", job=found.id))
        return found

    async def _job_choices(
        self, interaction: discord.Interaction, current: str, *, extendable_only: bool
    ) -> list[app_commands.Choice[str]]:
        assert interaction.guild_id is not None
        jobs = await self.services.jobs.recent(interaction.guild_id, interaction.user.id, 25)
        return [
            app_commands.Choice(
                name=f"{j.id} · {j.state.value} · {j.request.prompt}"[:100], value=j.id
            )
            for j in jobs
            if current.lower() in j.id and (not extendable_only or self._extendable(j))
        ]

    def _extendable(self, job: Job) -> bool:
        """Whether /video extend would accept this job (its provider is still configured)."""
        provider = self.services.providers.get(job.provider)
        return provider is not None and extend_refusal(job, provider) is None

    async def _generate(
        self,
        interaction: discord.Interaction,
        kind: Literal["text", "image"],
        options: GenerationOptions,
    ) -> None:
        """Build the request from a command's options and start the job."""
        provider = self._provider(options.provider)
        model = (options.model or provider.default_model).strip()
        spec = provider.models.get(model)
        age_restricted = is_age_restricted(interaction.channel)
        request = VideoRequest(
            kind=kind,
            prompt=options.prompt.strip(),
            model=model,
            resolution=options.resolution or (spec.default_resolution if spec else ""),
            duration=options.duration or (spec.default_duration if spec else None),
            aspect_ratio=options.aspect_ratio.value if options.aspect_ratio else None,
            seed=options.seed,
            negative_prompt=options.negative_prompt,
            image_url=options.image.url if options.image else None,
            end_image_url=options.end_image.url if options.end_image else None,
            num_inference_steps=options.steps,
            cfg_scale=options.cfg_scale,
            # Outside age-restricted channels the provider's safety filter always stays on.
            enable_safety_checker=not age_restricted or options.safety_checker is not False,
            enable_prompt_expansion=options.prompt_expansion,
            camera=options.camera.value if options.camera else None,
        )
        await self._start(interaction, provider, request, images=options.images)

    async def _start(
        self,
        interaction: discord.Interaction,
        provider: Provider,
        request: VideoRequest,
        *,
        images: tuple[discord.Attachment, ...],
        parent_job_id: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        assert interaction.channel_id is not None
        order = JobOrder(
            interaction_id=interaction.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            locale=str(interaction.locale),
            provider=provider.name,
            request=request,
            upload_limit=interaction.filesize_limit,
            parent_job_id=parent_job_id,
            **_member_context(interaction, self.services.settings.bot_owner_ids),
        )
        jobs = self.services.jobs
        roles = member_role_ids(interaction)
        # Acknowledge before anything that waits (database, attachments): Discord allows 3 s
        # and a busy bot must never miss it. A refusal below is shown privately all the same.
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True)
        # Local checks first, so a bad request downloads nothing.
        jobs.quote(order)
        for attachment in images:
            try:
                await check_image_async(await attachment.read())
            except InvalidRequest as exc:
                raise UserError(
                    Text("video.attachment_problem", file=attachment.filename, problem=text_of(exc))
                ) from None
        try:
            job = await jobs.start(order, role_ids=roles)
        except InsufficientCredits as exc:
            raise UserError(insufficient_message(exc, interaction.locale)) from None
        except QuotaExceeded as exc:
            raise UserError(limit_message(exc, interaction.locale)) from None
        message_id = await self.bot.presenter.show_card(job, interaction)
        if message_id is not None:
            await jobs.record_card(job.id, message_id)


def _member_context(interaction: discord.Interaction, owner_ids: frozenset[int]) -> dict[str, Any]:
    """What server rules need to know about the member and the channel they asked in."""
    user, channel = interaction.user, interaction.channel
    joined = user.joined_at if isinstance(user, discord.Member) else None
    return {
        "member_joined_at": joined.timestamp() if joined else None,
        "age_restricted": is_age_restricted(channel),
        "is_manager": interaction.user.id in owner_ids or interaction.permissions.manage_guild,
        "parent_channel_id": getattr(channel, "parent_id", None),
    }


def remix_form(job: Job, locale: object = None) -> discord.ui.Modal:
    """A form pre-filled with an earlier job's prompt and settings, in the member's language."""
    m = Messages(locale)
    request = job.request
    inputs: list[tuple[str, discord.ui.TextInput[Any]]] = [
        (
            m("remix.prompt"),
            discord.ui.TextInput(
                style=discord.TextStyle.paragraph,
                default=request.prompt[:2500],
                max_length=2500,
                custom_id="prompt",
            ),
        ),
        (
            m("remix.resolution"),
            discord.ui.TextInput(
                default=request.resolution, required=False, max_length=10, custom_id="resolution"
            ),
        ),
        (
            m("remix.duration"),
            discord.ui.TextInput(
                default=str(request.duration or ""),
                required=False,
                max_length=3,
                custom_id="duration",
            ),
        ),
        (
            m("remix.camera"),
            discord.ui.TextInput(
                default=request.camera or "", required=False, max_length=30, custom_id="camera"
            ),
        ),
    ]
    return build_form(form_id("video", "remix-form", job.id), m("remix.title"), inputs)


def extend_form(job: Job, extensions: int, locale: object = None) -> discord.ui.Modal:
    """Asks what happens next; the id records how often the video was extended when opened."""
    m = Messages(locale)
    prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
        style=discord.TextStyle.paragraph, max_length=2500, custom_id="prompt"
    )
    return build_form(
        form_id("video", "extend-form", job.id, extensions),
        m("extend_form.title"),
        [(m("extend_form.prompt"), prompt)],
    )


def extend_refusal(job: Job, provider: Provider) -> Text | None:
    """Why /video extend cannot continue this job (what to do instead), or None if it can."""
    can_extend = getattr(provider, "can_extend", None)
    if can_extend is None:
        return Text("video.cannot_extend", job=job.id, provider=provider.display_name)
    if not can_extend(job.request.model):
        models = ", ".join(name for name in provider.models if can_extend(name))
        return Text("video.cannot_extend_model", job=job.id, model=job.request.model, models=models)
    if job.state is not JobState.SUCCEEDED or not job.provider_video_id:
        return Text("video.nothing_to_extend", job=job.id)
    return None


def _precheck_attachment(image: discord.Attachment) -> None:
    """Refuse from Discord's own metadata before downloading anything.

    Discord leaves out the size of images it could not measure (a 20000x20000 PNG); those
    are still images, and the content check after download says what is wrong with them."""
    content_type = (image.content_type or "").split(";")[0]
    if not content_type.startswith("image/"):
        raise UserError(Text("video.not_an_image", file=image.filename))
    if image.size > MAX_IMAGE_BYTES:
        raise UserError(
            Text(
                "video.image_too_big",
                file=image.filename,
                size=image.size / 1024 / 1024,
                max=MAX_IMAGE_BYTES // 1024 // 1024,
            )
        )
    if not image.width or not image.height:
        return
    problem = size_problem(image.width, image.height, MIN_SIDE, MAX_SIDE)
    if problem is not None:
        raise UserError(
            Text(
                f"video.image_{problem}",
                file=image.filename,
                width=image.width,
                height=image.height,
                min=MIN_SIDE,
                max=MAX_SIDE,
            )
        )


def _describe(m: Messages, provider: Provider, spec: ModelSpec) -> str:
    """A model's one-line description in the reader's language (the code's own in English)."""
    key = f"models.description.{provider.name}.{spec.name}"
    if m.is_default or not default_catalogue().has(key):
        return spec.description
    return m(key)


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(VideoCog(bot))
