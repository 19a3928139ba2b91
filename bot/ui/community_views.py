"""Discord glue shared by the community cogs: who moderates, safe callbacks, channel lookup."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.ui.errors import UserError, send_private

log = logging.getLogger(__name__)


def is_moderator(interaction: discord.Interaction, owner_ids: frozenset[int]) -> bool:
    """Bot owners, and members with Manage Server or Manage Messages, moderate."""
    if interaction.user.id in owner_ids:
        return True
    if interaction.guild is None:
        return False
    permissions = interaction.permissions
    return bool(permissions.manage_guild or permissions.manage_messages)


def owner_ids_of(client: discord.Client) -> frozenset[int]:
    """BOT_OWNER_IDS of the running bot."""
    services = getattr(client, "services", None)
    return services.settings.bot_owner_ids if services is not None else frozenset()


async def run_safely(
    interaction: discord.Interaction, action: Callable[[], Awaitable[Any]], what: str
) -> None:
    """Run a component callback; a UserError is told privately, anything else logged once."""
    try:
        await action()
    except UserError as exc:
        # `message` may be a translatable Text (bot.i18n) where the project has it.
        await _tell(interaction, getattr(exc, "message", None) or str(exc))
    except discord.HTTPException as exc:
        log.warning("%s failed on Discord's side (interaction %s): %s", what, interaction.id, exc)
    except Exception:
        log.exception("%s failed (interaction %s)", what, interaction.id)
        await _tell(interaction, "Something went wrong on our side; please try again.")


async def _tell(interaction: discord.Interaction, message: Any) -> None:
    try:
        await send_private(interaction, message)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id)


async def find_channel(client: discord.Client, channel_id: int | None) -> Any | None:
    """A channel (or thread) by id, from the cache or Discord; None if gone or hidden."""
    if channel_id is None:
        return None
    channel = client.get_channel(channel_id)
    if channel is not None:
        return channel
    try:
        return await client.fetch_channel(channel_id)
    except (discord.NotFound, discord.Forbidden):
        return None
    except discord.HTTPException as exc:
        log.warning("could not look up channel %s: %s", channel_id, exc)
        return None


NO_MENTIONS = discord.AllowedMentions.none()
