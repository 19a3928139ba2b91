"""/help: how to make videos, what credits are, and the camera moves, in the member's language."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.camera import CameraMove
from bot.i18n import DEFAULT_LANGUAGE, Messages

if TYPE_CHECKING:
    from bot.app import VideoBot

# Discord's limit on an embed field's value.
FIELD_LIMIT = 1024


def help_embed(locale: object = DEFAULT_LANGUAGE) -> discord.Embed:
    """The help page: making videos, credits, servers/showcase/events, camera moves (their
    names as the member's menu shows them in the `camera` option)."""
    m = Messages(locale)
    moves = ", ".join(m(f"choices.camera.{move.value}") for move in CameraMove)
    embed = discord.Embed(title=m("help.title"), colour=discord.Colour.blurple())
    for name, value in (
        (m("help.making"), m("help.making_text")),
        (m("help.credits"), m("help.credits_text")),
        (m("help.community"), m("help.community_text")),
        (m("help.camera"), m("help.camera_text", moves=moves)),
    ):
        if len(value) > FIELD_LIMIT:
            value = value[: FIELD_LIMIT - 1] + "…"
        embed.add_field(name=name, value=value, inline=False)
    return embed


class HelpCog(commands.Cog):
    """One private page that explains the bot."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="help", description="How to make videos, what credits are, and the camera moves"
    )
    async def help_command(self, interaction: discord.Interaction) -> None:
        """Explain the commands, credits and camera moves privately."""
        await interaction.response.send_message(
            embed=help_embed(interaction.locale), ephemeral=True
        )


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(HelpCog(bot))
