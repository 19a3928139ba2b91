"""Discord glue shared by the community cogs: who moderates, channel lookup."""

from __future__ import annotations

import logging
from typing import Any

import discord

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
