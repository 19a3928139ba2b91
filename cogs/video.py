"""/video: make a video from a prompt or an image, and look at your jobs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs.models import JobOrder
from bot.ledger import InsufficientCredits
from bot.media import MAX_IMAGE_BYTES, MAX_SIDE, MIN_SIDE, check_image_async
from bot.providers.base import InvalidRequest, Provider, VideoRequest
from bot.ui.cards import history_embed
from bot.ui.errors import UserError

if TYPE_CHECKING:
    from bot.app import VideoBot

log = logging.getLogger(__name__)

RESOLUTIONS = [app_commands.Choice(name=r, value=r) for r in ("480p", "720p", "1080p")]
DURATIONS = [app_commands.Choice(name=f"{s} seconds", value=s) for s in (5, 10)]
ASPECT_RATIOS = [app_commands.Choice(name=a, value=a) for a in ("auto", "16:9", "9:16", "1:1")]
SEED_MAX = 2**31 - 1
OPTION_HELP = {
    "prompt": "What should happen; camera moves such as [Pan right] or [Zoom in] are understood",
    "provider": "Which video service to use",
    "model": "Which model of that service",
    "resolution": "Video resolution",
    "duration": "Clip length, where the model lets you choose",
    "aspect_ratio": "Frame shape, where the model supports it",
    "negative_prompt": "What to keep out of the video, where supported",
    "seed": "A number to make the result reproducible",
    "steps": "Inference steps: more is slower and finer (kvidAI)",
    "prompt_expansion": "Let the service enrich your prompt (kvidAI)",
    "safety_checker": "Turn the safety filter off (only honoured in age-restricted channels)",
}


def _insufficient(price: int, available: int) -> str:
    return (
        f"This video costs {price} credits and you have {available} available. "
        "Pick a cheaper model or resolution, or ask a moderator for credits."
    )


class VideoCog(commands.Cog):
    """Thin layer: parse options, call the job service, render the answer."""

    video = app_commands.Group(name="video", description="Make AI videos", guild_only=True)

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.services = bot.services

    # -- generation -------------------------------------------------------------------------

    @video.command(name="text", description="Make a video from a text prompt")
    @app_commands.describe(**OPTION_HELP)
    @app_commands.choices(resolution=RESOLUTIONS, duration=DURATIONS, aspect_ratio=ASPECT_RATIOS)
    async def text(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        provider: str | None = None,
        model: str | None = None,
        resolution: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
        aspect_ratio: app_commands.Choice[str] | None = None,
        negative_prompt: app_commands.Range[str, 1, 500] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        steps: app_commands.Range[int, 1, 100] | None = None,
        prompt_expansion: bool | None = None,
        safety_checker: bool | None = None,
    ) -> None:
        """Text-to-video."""
        chosen = self._provider(provider)
        request = self._request(
            interaction,
            chosen,
            kind="text",
            prompt=prompt,
            model=model,
            resolution=resolution,
            duration=duration,
            aspect_ratio=aspect_ratio,
            negative_prompt=negative_prompt,
            seed=seed,
            steps=steps,
            prompt_expansion=prompt_expansion,
            safety_checker=safety_checker,
        )
        await self._start(interaction, chosen, request, image=None)

    @video.command(name="image", description="Animate an image you attach")
    @app_commands.describe(
        image="A PNG, JPEG or WebP photo, 300x300 to 6000x6000 pixels", **OPTION_HELP
    )
    @app_commands.choices(resolution=RESOLUTIONS, duration=DURATIONS, aspect_ratio=ASPECT_RATIOS)
    async def image(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 2000],
        provider: str | None = None,
        model: str | None = None,
        resolution: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
        aspect_ratio: app_commands.Choice[str] | None = None,
        negative_prompt: app_commands.Range[str, 1, 500] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        steps: app_commands.Range[int, 1, 100] | None = None,
        prompt_expansion: bool | None = None,
        safety_checker: bool | None = None,
    ) -> None:
        """Image-to-video."""
        _precheck_attachment(image)
        chosen = self._provider(provider)
        request = self._request(
            interaction,
            chosen,
            kind="image",
            prompt=prompt,
            model=model,
            resolution=resolution,
            duration=duration,
            aspect_ratio=aspect_ratio,
            negative_prompt=negative_prompt,
            seed=seed,
            steps=steps,
            prompt_expansion=prompt_expansion,
            safety_checker=safety_checker,
            image_url=image.url,
        )
        await self._start(interaction, chosen, request, image=image)

    @text.autocomplete("provider")
    @image.autocomplete("provider")
    async def _complete_provider(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=p.display_name, value=name)
            for name, p in self.services.providers.items()
            if current.lower() in name or current.lower() in p.display_name.lower()
        ][:25]

    @text.autocomplete("model")
    @image.autocomplete("model")
    async def _complete_model(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = getattr(interaction.namespace, "provider", None)
        providers = self.services.providers
        candidates = [providers[chosen]] if chosen in providers else list(providers.values())
        choices = [
            app_commands.Choice(
                name=f"{p.display_name} {spec.name}: {spec.description}"[:100], value=spec.name
            )
            for p in candidates
            for spec in p.models.values()
            if current.lower() in spec.name.lower()
        ]
        return choices[:25]

    # -- jobs -------------------------------------------------------------------------------

    @video.command(name="status", description="Where one of your jobs stands")
    @app_commands.describe(job="The job id shown on the job card")
    async def status(self, interaction: discord.Interaction, job: str) -> None:
        """Show a job's card privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.services.jobs.get(job)
        if found is None or found.guild_id != interaction.guild_id:
            raise UserError(f"There is no job `{job}` here. `/video history` lists yours.")
        if found.user_id != interaction.user.id and not interaction.permissions.manage_messages:
            raise UserError(f"Job `{found.id}` is not yours.")
        await interaction.followup.send(embed=self.bot.presenter.card(found), ephemeral=True)

    @status.autocomplete("job")
    async def _complete_job(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        assert interaction.guild_id is not None
        jobs = await self.services.jobs.recent(interaction.guild_id, interaction.user.id, 25)
        return [
            app_commands.Choice(
                name=f"{j.id} · {j.state.value} · {j.request.prompt}"[:100], value=j.id
            )
            for j in jobs
            if current.lower() in j.id
        ]

    @video.command(name="history", description="Your recent videos (only you can see this)")
    async def history(self, interaction: discord.Interaction) -> None:
        """List the member's recent jobs privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        jobs = await self.services.jobs.recent(interaction.guild_id, interaction.user.id, 10)
        await interaction.followup.send(embed=history_embed(jobs), ephemeral=True)

    # -- helpers ----------------------------------------------------------------------------

    def _provider(self, name: str | None) -> Provider:
        providers = self.services.providers
        if not providers:
            raise UserError(
                "No video service is configured on this bot yet. The operator needs to set "
                "KVID_API_KEY."
            )
        if name is None:
            return next(iter(providers.values()))
        chosen = providers.get(name.strip().lower())
        if chosen is None:
            raise UserError(
                f"`{name}` is not a video service on this bot. Choose one of: "
                f"{', '.join(providers)}."
            )
        return chosen

    def _request(
        self,
        interaction: discord.Interaction,
        provider: Provider,
        *,
        kind: str,
        prompt: str,
        model: str | None,
        resolution: app_commands.Choice[str] | None,
        duration: app_commands.Choice[int] | None,
        aspect_ratio: app_commands.Choice[str] | None,
        negative_prompt: str | None,
        seed: int | None,
        steps: int | None,
        prompt_expansion: bool | None,
        safety_checker: bool | None,
        image_url: str | None = None,
    ) -> VideoRequest:
        model_name = (model or provider.default_model).strip()
        spec = provider.models.get(model_name)
        default_resolution = spec.default_resolution if spec else "720p"
        channel = interaction.channel
        age_restricted = bool(getattr(channel, "nsfw", False))
        return VideoRequest(
            kind="image" if kind == "image" else "text",
            prompt=prompt.strip(),
            model=model_name,
            resolution=resolution.value if resolution else default_resolution,
            duration=duration.value if duration else None,
            aspect_ratio=aspect_ratio.value if aspect_ratio else None,
            seed=seed,
            negative_prompt=negative_prompt,
            image_url=image_url,
            num_inference_steps=steps,
            # Outside age-restricted channels the provider's safety filter always stays on.
            enable_safety_checker=True if not age_restricted else safety_checker is not False,
            enable_prompt_expansion=prompt_expansion,
        )

    async def _start(
        self,
        interaction: discord.Interaction,
        provider: Provider,
        request: VideoRequest,
        *,
        image: discord.Attachment | None,
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
        )
        jobs = self.services.jobs
        # Everything below until defer() is local and takes milliseconds, so a refusal can
        # still be a private first response rather than a public "thinking" message.
        try:
            quote = jobs.quote(order)
        except InvalidRequest as exc:
            raise UserError(str(exc)) from None
        balance = await self.services.ledger.balance(order.guild_id, order.user_id)
        if balance.available < quote.price:
            raise UserError(_insufficient(quote.price, balance.available))
        await interaction.response.defer(thinking=True)
        if image is not None:
            try:
                await check_image_async(await image.read())
            except InvalidRequest as exc:
                raise UserError(str(exc)) from None
        try:
            job = await jobs.start(order)
        except InsufficientCredits as exc:
            raise UserError(_insufficient(exc.price, exc.available)) from None
        except InvalidRequest as exc:
            raise UserError(str(exc)) from None
        message_id = await self.bot.presenter.show_card(job, interaction)
        if message_id is not None:
            await jobs.record_card(job.id, message_id)


def _precheck_attachment(image: discord.Attachment) -> None:
    """Refuse from Discord's own metadata before downloading anything."""
    content_type = (image.content_type or "").split(";")[0]
    if not content_type.startswith("image/") or not image.width or not image.height:
        raise UserError(f"`{image.filename}` is not an image. Attach a PNG, JPEG or WebP photo.")
    if image.size > MAX_IMAGE_BYTES:
        raise UserError(
            f"`{image.filename}` is {image.size / 1024 / 1024:.1f} MiB; attach an image of at "
            f"most {MAX_IMAGE_BYTES // 1024 // 1024} MiB."
        )
    if not (MIN_SIDE <= image.width <= MAX_SIDE and MIN_SIDE <= image.height <= MAX_SIDE):
        raise UserError(
            f"`{image.filename}` is {image.width}x{image.height} pixels; it must be between "
            f"{MIN_SIDE}x{MIN_SIDE} and {MAX_SIDE}x{MAX_SIDE}. Attach a larger or smaller image."
        )


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(VideoCog(bot))
