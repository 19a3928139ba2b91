"""/credits: see your balance and history; admins grant and take."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ledger import LedgerError
from bot.ui.cards import balance_embed, ledger_embed
from bot.ui.errors import UserError
from bot.ui.permissions import require_manager

if TYPE_CHECKING:
    from bot.app import VideoBot

log = logging.getLogger(__name__)

MAX_ADJUSTMENT = 1_000_000


class CreditsCog(commands.Cog):
    """Thin layer over the ledger."""

    credits = app_commands.Group(name="credits", description="Your video credits", guild_only=True)

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.services = bot.services

    @credits.command(name="balance", description="Your credits (only you can see this)")
    async def balance(self, interaction: discord.Interaction) -> None:
        """Show the member's balance privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        balance = await self.services.ledger.balance(interaction.guild_id, interaction.user.id)
        await interaction.followup.send(
            embed=balance_embed(balance, interaction.user.display_name), ephemeral=True
        )

    @credits.command(name="history", description="Your credit movements (only you can see this)")
    async def history(self, interaction: discord.Interaction) -> None:
        """Show the member's ledger privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        entries = await self.services.ledger.history(
            interaction.guild_id, interaction.user.id, limit=15
        )
        await interaction.followup.send(embed=ledger_embed(entries), ephemeral=True)

    @credits.command(name="grant", description="Give a member credits (Manage Server)")
    @app_commands.describe(user="Who receives the credits", amount="How many", reason="Why")
    async def grant(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        amount: app_commands.Range[int, 1, MAX_ADJUSTMENT],
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Admin: add credits to a member."""
        await self._adjust(interaction, user, amount, reason, grant=True)

    @credits.command(name="take", description="Remove a member's credits (Manage Server)")
    @app_commands.describe(user="Whose credits", amount="How many", reason="Why")
    async def take(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        amount: app_commands.Range[int, 1, MAX_ADJUSTMENT],
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Admin: remove credits from a member."""
        await self._adjust(interaction, user, amount, reason, grant=False)

    async def _adjust(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        amount: int,
        reason: str | None,
        *,
        grant: bool,
    ) -> None:
        require_manager(interaction, self.services.settings.bot_owner_ids)
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        ledger = self.services.ledger
        why = reason or ("granted by an admin" if grant else "taken by an admin")
        move = ledger.grant if grant else ledger.take
        try:
            balance = await move(interaction.guild_id, user.id, amount, why, interaction.user.id)
        except LedgerError as exc:
            raise UserError(str(exc)) from None
        verb = "Gave" if grant else "Took"
        preposition = "to" if grant else "from"
        log.info(
            "%s %d credits %s member %s in guild %s (by %s)",
            verb.lower(),
            amount,
            preposition,
            user.id,
            interaction.guild_id,
            interaction.user.id,
        )
        await interaction.followup.send(
            f"{verb} {amount} credits {preposition} {user.mention}. "
            f"They now have {balance.available} available ({balance.held} on hold).",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(CreditsCog(bot))
