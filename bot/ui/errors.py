"""One user-facing error type and the tree that renders it privately, in the member's language."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.errors import UserError
from bot.i18n import Messages, Text, text_of
from bot.ui.commands import localize_choices

log = logging.getLogger(__name__)

__all__ = ["AppTree", "UserError", "refuse_while_draining", "reply_error", "send_private"]


def refuse_while_draining(interaction: discord.Interaction) -> None:
    """Raise a polite UserError once the bot is shutting down (it restarts in a moment)."""
    # Work started now would be cut short by the shutdown, or answered on a closed session.
    if getattr(interaction.client, "draining", False):
        raise UserError(Text("errors.restarting"))


async def send_private(interaction: discord.Interaction, message: str | Text) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    text = Messages(interaction.locale).render(message)
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True)
        return
    if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
        # The first followup after a defer would edit the (public) deferred reply and ignore
        # the ephemeral flag, so remove that reply first.
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            log.debug("deferred reply of interaction %s was already gone", interaction.id)
    await interaction.followup.send(text, ephemeral=True)


def _check_failure_text(failure: app_commands.CheckFailure) -> str | Text:
    """discord.py's own check failures, in the member's language."""
    if isinstance(failure, app_commands.NoPrivateMessage):
        return Text("errors.guild_only")
    if isinstance(failure, app_commands.MissingPermissions):
        return Text("errors.missing_permissions", permissions=_names(failure.missing_permissions))
    if isinstance(failure, app_commands.BotMissingPermissions):
        return Text(
            "errors.bot_missing_permissions", permissions=_names(failure.missing_permissions)
        )
    if isinstance(failure, app_commands.CommandOnCooldown):
        return Text("errors.cooldown", seconds=failure.retry_after)
    said = text_of(failure)
    return said if isinstance(said, Text) or said else Text("errors.not_allowed")


def _names(permissions: list[str]) -> str:
    return ", ".join(p.replace("_", " ").replace("guild", "server").title() for p in permissions)


class AppTree(app_commands.CommandTree):
    """Routes every command error to one private, human message; commands are translatable."""

    def add_command(self, command: Any, /, **kwargs: Any) -> None:
        """Register a command with its fixed choices made translatable (bot.ui.commands)."""
        localize_choices(command)
        super().add_command(command, **kwargs)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Refuse new commands while the bot drains for a restart (autocomplete: silently)."""
        try:
            refuse_while_draining(interaction)
        except UserError as error:
            if interaction.type is discord.InteractionType.application_command:
                await reply_error(interaction, error)
            return False
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Render the error for the member (see reply_error)."""
        await reply_error(interaction, error)


async def reply_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Show UserErrors and permission failures privately; log anything else without leaking it.

    Commands, buttons and forms all answer their errors through this one function.
    """
    cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    message: str | Text
    if isinstance(cause, UserError):
        message = cause.message
    elif isinstance(cause, app_commands.CheckFailure):
        message = _check_failure_text(cause)
    else:
        log.error(
            "interaction %s (%s) failed",
            interaction.id,
            interaction.command.qualified_name if interaction.command else interaction.type.name,
            exc_info=cause,
        )
        message = Text("errors.internal")
    try:
        await send_private(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell interaction %s about its error", interaction.id)
