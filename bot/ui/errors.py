"""One user-facing error type and the tree that renders it privately."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

log = logging.getLogger(__name__)


class UserError(Exception):
    """Something the member can fix; the message says what to change."""


async def send_private(interaction: discord.Interaction, message: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    if not interaction.response.is_done():
        await interaction.response.send_message(message, ephemeral=True)
        return
    if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
        # The first followup after a defer would edit the (public) deferred reply and ignore
        # the ephemeral flag, so remove that reply first.
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            log.debug("deferred reply of interaction %s was already gone", interaction.id)
    await interaction.followup.send(message, ephemeral=True)


class AppTree(app_commands.CommandTree):
    """Routes every command error to one private, human message."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Show UserErrors and permission failures; log anything else without leaking it."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, UserError):
            message = str(cause)
        elif isinstance(cause, app_commands.CheckFailure):
            message = str(cause) or "You are not allowed to use this command here."
        else:
            log.error(
                "command %s failed (interaction %s)",
                interaction.command.qualified_name if interaction.command else "?",
                interaction.id,
                exc_info=cause,
            )
            message = "Something went wrong on our side. Nothing was charged; please try again."
        try:
            await send_private(interaction, message)
        except discord.HTTPException:
            log.warning("could not tell interaction %s about its error", interaction.id)
