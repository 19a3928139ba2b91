"""The /server commands: a community's settings, blocked terms, bans and credit pool.

Manage Server is checked in code (Discord's default permissions are only a hint); a change
wakes the moderation pass (cogs.server.moderation) so the audit log shows it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.community.moderation import MAX_NAME_CHARS, MAX_PATTERN_CHARS
from bot.community.pool import PoolError
from bot.community.settings import ApprovalMode
from bot.credits.usage import PERIOD_LABELS
from bot.i18n import Messages, Text, text_of
from bot.ui.cogs import BotCog, guild_group
from bot.ui.commands import MANAGE_SERVER
from bot.ui.community import approval_line, pool_embed, settings_embed
from bot.ui.community_views import NO_MENTIONS
from bot.ui.errors import UserError
from bot.ui.permissions import require_manager

if TYPE_CHECKING:
    from bot.app import VideoBot
    from bot.community import Community

# The same keys and words as /credits usage (and so the same translations).
POOL_PERIODS = PERIOD_LABELS

GenerationChannel = discord.TextChannel | discord.ForumChannel | discord.VoiceChannel
PostChannel = discord.TextChannel
ShowcaseChannel = discord.TextChannel | discord.ForumChannel


class ServerCog(BotCog):
    """Thin layer over bot.community for admins and moderators."""

    server = guild_group(
        "server",
        "Community settings and moderation (Manage Server)",
        default_permissions=MANAGE_SERVER,
    )

    def __init__(self, bot: VideoBot, poke: Callable[[], None]) -> None:
        super().__init__(bot)
        self.community: Community = bot.services.community
        # Wakes the moderation pass: what changed is logged and posted now.
        self.poke = poke

    # -- settings --------------------------------------------------------------------------------

    @server.command(name="settings", description="Show every community setting (Manage Server)")
    async def settings(self, interaction: discord.Interaction) -> None:
        """Admin: the whole picture."""
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._show_settings(interaction)

    @server.command(name="channels", description="Where videos may be made (Manage Server)")
    @app_commands.describe(
        add="Allow videos in this channel (and its threads)",
        remove="Stop allowing this channel",
        clear="Allow every channel again",
    )
    async def channels(
        self,
        interaction: discord.Interaction,
        add: GenerationChannel | None = None,
        remove: GenerationChannel | None = None,
        clear: bool = False,
    ) -> None:
        """Admin: the channels where generation is allowed (none listed: all)."""
        await self._change_list(interaction, "channels", add, remove, clear)

    @server.command(name="roles", description="Who may make videos (Manage Server)")
    @app_commands.describe(
        add="Allow members with this role", remove="Stop allowing this role", clear="Allow everyone"
    )
    async def roles(
        self,
        interaction: discord.Interaction,
        add: discord.Role | None = None,
        remove: discord.Role | None = None,
        clear: bool = False,
    ) -> None:
        """Admin: the roles allowed to generate (none listed: everyone)."""
        await self._change_list(interaction, "roles", add, remove, clear)

    @server.command(name="moderators", description="Where approval requests and reports go")
    @app_commands.describe(channel="The moderators' channel", clear="Unset it")
    async def moderators(
        self,
        interaction: discord.Interaction,
        channel: PostChannel | None = None,
        clear: bool = False,
    ) -> None:
        """Admin: the moderators' channel."""
        await self._set_channel(interaction, "moderators_channel_id", channel, clear)

    @server.command(name="auditlog", description="Where every moderation action is logged")
    @app_commands.describe(channel="The audit-log channel", clear="Unset it")
    async def auditlog(
        self,
        interaction: discord.Interaction,
        channel: PostChannel | None = None,
        clear: bool = False,
    ) -> None:
        """Admin: the audit-log channel."""
        await self._set_channel(interaction, "audit_channel_id", channel, clear)

    @server.command(name="showcase", description="Where shared videos are posted")
    @app_commands.describe(channel="A text or forum channel", clear="Unset it")
    async def showcase(
        self,
        interaction: discord.Interaction,
        channel: ShowcaseChannel | None = None,
        clear: bool = False,
    ) -> None:
        """Admin: the showcase channel (a forum gets one post per video)."""
        await self._set_channel(interaction, "showcase_channel_id", channel, clear)

    @server.command(name="approval", description="Whose videos a moderator approves first")
    @app_commands.describe(
        mode="off, new members only, or everyone",
        days="New members: those who joined fewer than this many days ago",
        timeout_hours="A request nobody decides is released after this many hours",
    )
    @app_commands.choices(
        mode=[
            app_commands.Choice(name="off", value="off"),
            app_commands.Choice(name="new members", value="new_members"),
            app_commands.Choice(name="everyone", value="everyone"),
        ]
    )
    async def approval(
        self,
        interaction: discord.Interaction,
        mode: app_commands.Choice[str] | None = None,
        days: app_commands.Range[int, 1, 365] | None = None,
        timeout_hours: app_commands.Range[int, 1, 168] | None = None,
    ) -> None:
        """Admin: the approval mode."""
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        saved = await self.community.settings.configure(
            self._guild(interaction),
            interaction.user.id,
            approval_mode=mode.value if mode else None,
            new_member_days=days,
            approval_timeout_hours=timeout_hours,
        )
        m = Messages(interaction.locale)
        text = m("server.approval_set", approval=approval_line(saved, interaction.locale))
        if saved.approval_mode is not ApprovalMode.OFF and saved.moderators_channel_id is None:
            text += "\n" + m("server.no_moderators_channel")
        self.poke()
        await interaction.edit_original_response(content=text)

    @server.command(name="block", description="Refuse prompts with a word or pattern")
    @app_commands.describe(
        term="A word or phrase (whole words, any case), or a regular expression",
        name="What members are told (e.g. Graphic violence); never the term itself",
        kind="word (default) or pattern (a safe subset of regular expressions)",
    )
    @app_commands.choices(
        kind=[
            app_commands.Choice(name="word or phrase", value="word"),
            app_commands.Choice(name="pattern (regular expression)", value="pattern"),
        ]
    )
    async def block(
        self,
        interaction: discord.Interaction,
        term: app_commands.Range[str, 1, MAX_PATTERN_CHARS],
        name: app_commands.Range[str, 1, MAX_NAME_CHARS] | None = None,
        kind: app_commands.Choice[str] | None = None,
    ) -> None:
        """Admin: add a blocked term."""
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        rule = await self.community.terms.add(
            self._guild(interaction),
            interaction.user.id,
            kind.value if kind else "word",
            term,
            name,
        )
        self.poke()
        m = Messages(interaction.locale)
        await interaction.edit_original_response(
            content=m("server.blocked", kind=m(f"choices.kind.{rule.kind}"), rule=rule.name)
        )

    @server.command(name="unblock", description="Remove a blocked-terms rule by its name")
    @app_commands.describe(name="The rule's name (see /server settings)")
    async def unblock(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, MAX_NAME_CHARS]
    ) -> None:
        """Admin: remove a blocked term."""
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.community.terms.remove(
            self._guild(interaction), interaction.user.id, name
        )
        if removed is None:
            raise UserError(Text("server.no_rule", rule=name))
        self.poke()
        await interaction.edit_original_response(
            content=Messages(interaction.locale)("server.unblocked", rule=removed.name)
        )

    @unblock.autocomplete("name")
    async def _complete_rule(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None or not self._is_manager(interaction):
            return []
        rules = await self.community.terms.rules(interaction.guild_id)
        return [
            app_commands.Choice(name=rule.name, value=rule.name)
            for rule in rules
            if current.lower() in rule.name.lower()
        ][:25]

    @server.command(name="ban", description="Stop a member from making videos")
    @app_commands.describe(user="The member", reason="Why (they are told)")
    async def ban(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Admin: ban a member from generating."""
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        new = await self.community.bans.ban(
            self._guild(interaction), interaction.user.id, user.id, reason
        )
        self.poke()
        key = "server.banned" if new else "server.ban_updated"
        await interaction.edit_original_response(
            content=Messages(interaction.locale)(key, user=user.mention),
            allowed_mentions=NO_MENTIONS,
        )

    @server.command(name="unban", description="Let a member make videos again")
    @app_commands.describe(user="The member")
    async def unban(self, interaction: discord.Interaction, user: discord.Member) -> None:
        """Admin: lift a ban."""
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        lifted = await self.community.bans.unban(
            self._guild(interaction), interaction.user.id, user.id
        )
        if not lifted:
            raise UserError(Text("server.not_banned", user=user.mention))
        self.poke()
        await interaction.edit_original_response(
            content=Messages(interaction.locale)("server.unbanned", user=user.mention),
            allowed_mentions=NO_MENTIONS,
        )

    @server.command(name="pool", description="The server credit pool: add, remove, limit, report")
    @app_commands.describe(
        add="Add credits to the pool",
        remove="Take credits out of the pool",
        daily_limit="Credits one member may draw per UTC day (0: no drawing)",
        period="Period of the report",
    )
    @app_commands.choices(
        period=[app_commands.Choice(name=label, value=key) for key, label in POOL_PERIODS.items()]
    )
    async def pool(
        self,
        interaction: discord.Interaction,
        add: app_commands.Range[int, 1, 1_000_000_000] | None = None,
        remove: app_commands.Range[int, 1, 1_000_000_000] | None = None,
        daily_limit: app_commands.Range[int, 0, 1_000_000] | None = None,
        period: app_commands.Choice[str] | None = None,
    ) -> None:
        """Admin: fund the pool and see who spent what."""
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = self._guild(interaction)
        pool = self.community.pool
        m = Messages(interaction.locale)
        notes = []
        try:
            if add is not None:
                await pool.deposit(guild_id, interaction.user.id, add)
                notes.append(m("server.pool_added", amount=add))
            if remove is not None:
                await pool.withdraw(guild_id, interaction.user.id, remove)
                notes.append(m("server.pool_removed", amount=remove))
            if daily_limit is not None:
                await pool.set_daily_limit(guild_id, interaction.user.id, daily_limit)
                notes.append(m("server.pool_limit", amount=daily_limit))
        except PoolError as exc:
            raise UserError(" ".join([*notes, m.render(text_of(exc))])) from None
        if notes:
            self.poke()
        chosen = period.value if period else "30d"
        report = await pool.report(guild_id, chosen)
        await interaction.edit_original_response(
            content=" ".join(notes) or None,
            embed=pool_embed(report, chosen, interaction.locale),
            allowed_mentions=NO_MENTIONS,
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _require(self, interaction: discord.Interaction) -> None:
        require_manager(interaction, self.services.settings.bot_owner_ids)

    def _is_manager(self, interaction: discord.Interaction) -> bool:
        try:
            self._require(interaction)
        except UserError:
            return False
        return True

    @staticmethod
    def _guild(interaction: discord.Interaction) -> int:
        assert interaction.guild_id is not None
        return interaction.guild_id

    async def _show_settings(
        self, interaction: discord.Interaction, note: str | None = None
    ) -> None:
        guild_id = self._guild(interaction)
        community = self.community
        embed = settings_embed(
            await community.settings.get(guild_id),
            await community.terms.rules(guild_id),
            await community.bans.all(guild_id),
            await community.pool.status(guild_id),
            len(await community.approvals.pending(guild_id)),
            interaction.locale,
        )
        # Every caller deferred: the settings are the answer to that deferral.
        await interaction.edit_original_response(
            content=note, embed=embed, allowed_mentions=NO_MENTIONS
        )

    async def _change_list(
        self,
        interaction: discord.Interaction,
        what: str,
        add: Any | None,
        remove: Any | None,
        clear: bool,
    ) -> None:
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if add is not None or remove is not None or clear:
            await self.community.settings.change_list(
                self._guild(interaction),
                interaction.user.id,
                what,
                add=add.id if add is not None else None,
                remove=remove.id if remove is not None else None,
                clear=clear,
            )
            self.poke()
            note = Messages(interaction.locale)("server.saved")
        else:
            note = None
        await self._show_settings(interaction, note)

    async def _set_channel(
        self,
        interaction: discord.Interaction,
        column: str,
        channel: Any | None,
        clear: bool,
    ) -> None:
        self._require(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if channel is not None or clear:
            await self.community.settings.set_channel(
                self._guild(interaction),
                interaction.user.id,
                column,
                None if clear or channel is None else channel.id,
            )
            self.poke()
            note = Messages(interaction.locale)("server.saved")
        else:
            note = None
        await self._show_settings(interaction, note)
