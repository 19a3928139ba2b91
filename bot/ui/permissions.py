"""Who may run admin commands: checked in code, since Discord's defaults are only hints."""

from __future__ import annotations

import discord

from bot.i18n import Text
from bot.ui.errors import UserError


def require_manager(interaction: discord.Interaction, owner_ids: frozenset[int]) -> None:
    """Allow bot owners and members with Manage Server; refuse everyone else."""
    if interaction.user.id in owner_ids:
        return
    permissions = interaction.permissions
    if interaction.guild is not None and permissions.manage_guild:
        return
    raise UserError(Text("errors.manage_server_only"))


def member_role_ids(interaction: discord.Interaction) -> list[int]:
    """The invoking member's role ids (tiers come from roles); empty outside a server."""
    user = interaction.user
    return [role.id for role in user.roles] if isinstance(user, discord.Member) else []
