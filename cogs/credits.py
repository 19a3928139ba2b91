"""/credits: your balance and history; admins grant, take, set allowances, tiers and limits."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.credits.rules import MAX_TIER_NAME
from bot.credits.usage import NO_ROLE, PERIOD_LABELS, usage_csv
from bot.i18n import Messages, Text
from bot.ledger import Ledger, LedgerError, LedgerPage
from bot.ui.cogs import BotCog, guild_group
from bot.ui.credit_cards import (
    allowance_embed,
    balance_embed,
    ledger_embed,
    tiers_embed,
    usage_embed,
)
from bot.ui.dynamic import PersistentButton
from bot.ui.errors import UserError
from bot.ui.permissions import member_role_ids, require_manager

if TYPE_CHECKING:
    from bot.app import VideoBot

log = logging.getLogger(__name__)

MAX_ADJUSTMENT = 1_000_000
MAX_PAGE = 100_000
# English names here; other languages come from the catalogues (`choices.period.<value>`).
PERIOD_CHOICES = [
    app_commands.Choice(name=label, value=key) for key, label in PERIOD_LABELS.items()
]

Credits = app_commands.Range[int, 0, 1_000_000]
Hours = app_commands.Range[int, 1, 8760]
Jobs = app_commands.Range[int, 0, 100]
Percent = app_commands.Range[int, 0, 100]
TierName = app_commands.Range[str, 1, MAX_TIER_NAME]


class PageButton(
    PersistentButton, template=r"credits:page:(?P<user_id>[0-9]{1,20}):(?P<page>[0-9]{1,6})"
):
    """Turns a member's private ledger to a page; the member and the page are in its id."""

    numbers = frozenset({"user_id", "page"})

    def __init__(self, user_id: int, page: int, label: str = "", *, disabled: bool = False) -> None:
        super().__init__(
            f"credits:page:{user_id}:{page}",
            label or str(page),
            discord.ButtonStyle.secondary,
            disabled=disabled,
        )
        self.user_id = user_id
        self.page = page

    async def press(self, interaction: discord.Interaction) -> None:
        """Show the page, if the history is the presser's own."""
        # Only the member whose history it is may turn its pages.
        if interaction.user.id != self.user_id or interaction.guild_id is None:
            raise UserError(Text("credits.not_your_history"))
        ledger: Ledger = interaction.client.services.ledger  # type: ignore[attr-defined]
        shown = await ledger.page(interaction.guild_id, self.user_id, self.page)
        await interaction.response.edit_message(
            embed=ledger_embed(shown, interaction.locale),
            view=history_view(self.user_id, shown, interaction.locale),
        )


def history_view(user_id: int, page: LedgerPage, locale: object) -> discord.ui.View:
    """Newer/Older under a private page of the ledger."""
    m = Messages(locale)
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(user_id, page.page - 1, m("credits.newer"), disabled=page.page <= 1))
    view.add_item(
        PageButton(user_id, page.page + 1, m("credits.older"), disabled=page.page >= page.pages)
    )
    return view


class CreditsCog(BotCog):
    """Thin layer over the ledger, the quotas and the usage reports."""

    credits = guild_group("credits", "Your video credits")
    tier = app_commands.Group(
        name="tier",
        description="Credit tiers for roles and members (Manage Server)",
        parent=credits,
    )

    async def cog_load(self) -> None:
        """Register the history's page buttons (they work on old messages after a restart)."""
        self.bot.add_dynamic_items(PageButton)

    async def cog_unload(self) -> None:
        """Release the page buttons."""
        self.bot.remove_dynamic_items(PageButton)

    # -- members ---------------------------------------------------------------------------------

    @credits.command(name="balance", description="Your credits (only you can see this)")
    async def balance(self, interaction: discord.Interaction) -> None:
        """Show the member's balance, tier and next refill privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        standing = await self.services.quotas.standing(
            interaction.guild_id, interaction.user.id, member_role_ids(interaction)
        )
        await interaction.edit_original_response(
            embed=balance_embed(standing, interaction.user.display_name, interaction.locale)
        )

    @credits.command(name="history", description="Your credit movements (only you can see this)")
    @app_commands.describe(page="Which page, 1 being the most recent")
    async def history(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, MAX_PAGE] = 1
    ) -> None:
        """Show a page of the member's ledger privately, with buttons to turn pages."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        ledger = self.services.ledger
        shown = await ledger.page(interaction.guild_id, interaction.user.id, page)
        embed = ledger_embed(shown, interaction.locale)
        if shown.pages > 1:
            view = history_view(interaction.user.id, shown, interaction.locale)
            await interaction.edit_original_response(embed=embed, view=view)
        else:
            await interaction.edit_original_response(embed=embed)

    # -- admins: credits -------------------------------------------------------------------------

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

    @credits.command(
        name="settings", description="This server's allowance and limits (Manage Server)"
    )
    @app_commands.describe(
        starting="Credits a new member starts with",
        refill="Credits added every refill period",
        cap="A refill never takes a balance above this",
        period_hours="Hours between refills (24: daily, at 00:00 UTC)",
        max_jobs="Videos one member may have in progress at once (0: no limit)",
        daily_cap="Credits the whole server may spend per UTC day (0: no cap)",
        reset="Go back to the bot's defaults first",
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        starting: Credits | None = None,
        refill: Credits | None = None,
        cap: Credits | None = None,
        period_hours: Hours | None = None,
        max_jobs: Jobs | None = None,
        daily_cap: app_commands.Range[int, 0, 1_000_000_000] | None = None,
        reset: bool = False,
    ) -> None:
        """Admin: show or change the server's allowance and limits."""
        guild_id = await self._admin(interaction)
        rules = self.services.quotas.rules
        changes = {
            "starting_credits": starting,
            "refill_amount": refill,
            "refill_cap": cap,
            "refill_period_hours": period_hours,
            "max_concurrent_jobs": max_jobs,
            "daily_spend_cap": daily_cap,
        }
        if reset or any(v is not None for v in changes.values()):
            allowance = await rules.configure(guild_id, interaction.user.id, reset=reset, **changes)
            await self._audit(interaction, "credit settings", _described(changes, reset=reset))
            note = Messages(interaction.locale)("credits.settings_saved")
        else:
            allowance = await rules.allowance(guild_id)
            note = None
        await interaction.edit_original_response(
            content=note, embed=allowance_embed(allowance, interaction.locale)
        )

    @credits.command(name="usage", description="What this server spent (Manage Server)")
    @app_commands.describe(period="Which period to report on")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def usage(
        self, interaction: discord.Interaction, period: app_commands.Choice[str] | None = None
    ) -> None:
        """Admin: spend per provider, member and role, with failures and refunds, plus a CSV."""
        guild_id = await self._admin(interaction)
        chosen = period.value if period else "7d"
        report = await self.services.usage.report(guild_id, chosen)
        guild = interaction.guild
        members = {
            int(line.key): member.display_name
            for line in report.members
            if guild and (member := guild.get_member(int(line.key)))
        }
        roles = {
            int(line.key): role.name
            for line in report.roles
            if guild and (role := guild.get_role(int(line.key)))
        }
        m = Messages(interaction.locale)
        roles[NO_ROLE] = m("credits.no_role")
        table = usage_csv(report, members, roles)
        embed = usage_embed(
            report,
            member_name=lambda user_id: f"<@{user_id}>",
            role_name=lambda role_id: (
                m("credits.no_role") if role_id == NO_ROLE else f"<@&{role_id}>"
            ),
            locale=interaction.locale,
        )
        await interaction.edit_original_response(
            embed=embed,
            attachments=[discord.File(io.BytesIO(table.encode()), filename=f"usage-{chosen}.csv")],
        )

    # -- admins: tiers ---------------------------------------------------------------------------

    @tier.command(name="set", description="Create or change a tier (Manage Server)")
    @app_commands.describe(
        name="The tier's name, e.g. Booster",
        refill="Credits per refill for members of this tier",
        cap="Refill cap for members of this tier",
        discount="Percent off every video",
        max_jobs="Videos at once for members of this tier (0: no limit)",
        role="Also give this tier to everyone with this role",
    )
    async def tier_set(
        self,
        interaction: discord.Interaction,
        name: TierName,
        refill: Credits | None = None,
        cap: Credits | None = None,
        discount: Percent | None = None,
        max_jobs: Jobs | None = None,
        role: discord.Role | None = None,
    ) -> None:
        """Admin: define a tier (values only ever improve on the server's)."""
        guild_id = await self._admin(interaction)
        rules = self.services.quotas.rules
        changes = {
            "refill_amount": refill,
            "refill_cap": cap,
            "discount_percent": discount,
            "max_concurrent_jobs": max_jobs,
        }
        saved = await rules.set_tier(guild_id, interaction.user.id, name, **changes)
        if role is not None:
            await rules.link_role(guild_id, role.id, saved.name)
        linked = f" and role {role.id}" if role else ""
        await self._audit(interaction, "credit tier", f"{saved}{linked}")
        m = Messages(interaction.locale)
        await interaction.edit_original_response(
            content=m("credits.tier_saved_for_role", tier=saved.name, role=role.mention)
            if role
            else m("credits.tier_saved", tier=saved.name),
            embed=tiers_embed(await rules.tiers(guild_id), interaction.locale),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @tier.command(name="role", description="Give a tier to everyone with a role (Manage Server)")
    @app_commands.describe(role="The role", tier="The tier it gives; leave empty to stop")
    async def tier_role(
        self, interaction: discord.Interaction, role: discord.Role, tier: TierName | None = None
    ) -> None:
        """Admin: link a role to a tier, or unlink it."""
        guild_id = await self._admin(interaction)
        linked = await self.services.quotas.rules.link_role(guild_id, role.id, tier)
        await self._audit(interaction, "credit tier role", f"role {role.id} -> {tier}")
        await self._say(
            interaction,
            Text("credits.tier_role_linked", role=role.mention, tier=linked.name)
            if linked
            else Text("credits.tier_role_unlinked", role=role.mention),
        )

    @tier.command(name="member", description="Give one member a tier (Manage Server)")
    @app_commands.describe(user="The member", tier="The tier; leave empty to take it away")
    async def tier_member(
        self, interaction: discord.Interaction, user: discord.Member, tier: TierName | None = None
    ) -> None:
        """Admin: set a member's own tier, or clear it."""
        guild_id = await self._admin(interaction)
        given = await self.services.quotas.rules.assign(guild_id, user.id, tier)
        await self._audit(interaction, "credit tier member", f"member {user.id} -> {tier}")
        await self._say(
            interaction,
            Text("credits.tier_member_given", member=user.mention, tier=given.name)
            if given
            else Text("credits.tier_member_cleared", member=user.mention),
        )

    @tier.command(name="remove", description="Delete a tier (Manage Server)")
    @app_commands.describe(name="The tier to delete")
    async def tier_remove(self, interaction: discord.Interaction, name: TierName) -> None:
        """Admin: delete a tier with its role links and member assignments."""
        guild_id = await self._admin(interaction)
        removed = await self.services.quotas.rules.remove_tier(guild_id, name)
        if not removed:
            raise UserError(Text("credits.no_tier", tier=name))
        await self._audit(interaction, "credit tier removed", name)
        await interaction.edit_original_response(
            content=Messages(interaction.locale)("credits.tier_deleted", tier=name)
        )

    @tier.command(name="list", description="This server's tiers (Manage Server)")
    async def tier_list(self, interaction: discord.Interaction) -> None:
        """Admin: every tier, what it improves and who has it."""
        tiers = await self.services.quotas.rules.tiers(await self._admin(interaction))
        await interaction.edit_original_response(
            embed=tiers_embed(tiers, interaction.locale),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @tier_set.autocomplete("name")
    @tier_role.autocomplete("tier")
    @tier_member.autocomplete("tier")
    @tier_remove.autocomplete("name")
    async def _complete_tier(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        tiers = await self.services.quotas.rules.tiers(interaction.guild_id)
        return [
            app_commands.Choice(name=info.tier.name, value=info.tier.name)
            for info in tiers
            if current.lower() in info.tier.name.lower()
        ][:25]

    # -- helpers ---------------------------------------------------------------------------------

    async def _admin(self, interaction: discord.Interaction) -> int:
        """Refuse non-managers, acknowledge privately, and return the server's id."""
        require_manager(interaction, self.services.settings.bot_owner_ids)
        await interaction.response.defer(ephemeral=True, thinking=True)
        return self._guild(interaction)

    @staticmethod
    async def _say(interaction: discord.Interaction, text: Text) -> None:
        """Answer with `text` in the reader's language, pinging nobody it names."""
        await interaction.edit_original_response(
            content=Messages(interaction.locale).render(text),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _adjust(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        amount: int,
        reason: str | None,
        *,
        grant: bool,
    ) -> None:
        guild_id = await self._admin(interaction)
        ledger = self.services.ledger
        why = reason or ("granted by an admin" if grant else "taken by an admin")
        move = ledger.grant if grant else ledger.take
        try:
            balance = await move(guild_id, user.id, amount, why, interaction.user.id)
        except LedgerError as exc:
            if grant:
                raise UserError(str(exc)) from None
            raise UserError(await self._take_refusal(guild_id, user.id, amount, exc)) from None
        log.info(
            "%s %d credits %s member %s in guild %s (by %s)",
            "gave" if grant else "took",
            amount,
            "to" if grant else "from",
            user.id,
            guild_id,
            interaction.user.id,
        )
        await interaction.edit_original_response(
            content=Messages(interaction.locale)(
                "credits.gave" if grant else "credits.took",
                amount=amount,
                member=user.mention,
                available=balance.available,
                held=balance.held,
            ),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _take_refusal(
        self, guild_id: int, user_id: int, amount: int, exc: LedgerError
    ) -> str | Text:
        # The ledger words its refusals in English; the one an admin meets here (taking more
        # than the member has available) is reworded from the balance it refers to.
        available = (await self.services.ledger.balance(guild_id, user_id)).available
        if amount > available:
            return Text("credits.take_too_much", available=available)
        return str(exc)

    async def _audit(self, interaction: discord.Interaction, action: str, detail: str) -> None:
        # The community's log: kept in the database and relayed to the audit-log channel.
        await self.services.community.log.record(
            self._guild(interaction), interaction.user.id, action, detail
        )

    @staticmethod
    def _guild(interaction: discord.Interaction) -> int:
        assert interaction.guild_id is not None
        return interaction.guild_id


def _described(changes: dict[str, int | None], *, reset: bool) -> str:
    parts = [f"{name}={value}" for name, value in changes.items() if value is not None]
    return ("reset; " if reset else "") + (", ".join(parts) or "no changes")


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(CreditsCog(bot))
