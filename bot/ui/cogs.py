"""What the cogs share: the bot and its services, and command groups for servers only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from discord import app_commands
from discord.ext import commands

from bot.ui.commands import guild_only

if TYPE_CHECKING:
    from bot.app import VideoBot


def guild_group(name: str, description: str, **options: Any) -> app_commands.Group:
    """A top-level slash command group that works in servers only (not in DMs)."""
    return app_commands.Group(
        name=name, description=description, allowed_contexts=guild_only(), **options
    )


class BotCog(commands.Cog):
    """A cog of this bot: it keeps the bot and the bot's services."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.services = bot.services
