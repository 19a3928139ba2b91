"""/server: a community's settings and moderation (Manage Server, checked in code), plus the
moderators' side of approval requests and reports, and the audit-log relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.community.approval import ApprovalRequest
from bot.community.moderation import MAX_NAME_CHARS, MAX_PATTERN_CHARS
from bot.community.pool import PoolError
from bot.community.settings import ApprovalMode
from bot.credits.usage import PERIOD_LABELS
from bot.i18n import Messages
from bot.ui.commands import MANAGE_SERVER, guild_only
from bot.ui.community import (
    approval_line,
    approval_request_embed,
    log_line_text,
    pool_embed,
    report_embed,
    settings_embed,
)
from bot.ui.community_views import (
    NO_MENTIONS,
    find_channel,
    is_moderator,
    owner_ids_of,
)
from bot.ui.errors import UserError, reply_error
from bot.ui.forms import FormValues, build_form, form_id
from bot.ui.permissions import require_manager

if TYPE_CHECKING:
    from bot.app import VideoBot
    from bot.community import Community

log = logging.getLogger(__name__)

IDLE_SECONDS = 5.0
MODERATORS_ONLY = "Only moderators (Manage Messages or Manage Server) can decide this."
# The same keys and words as /credits usage (and so the same translations).
POOL_PERIODS = PERIOD_LABELS

GenerationChannel = discord.TextChannel | discord.ForumChannel | discord.VoiceChannel
PostChannel = discord.TextChannel
ShowcaseChannel = discord.TextChannel | discord.ForumChannel


def _community(client: discord.Client) -> Community:
    return client.services.community  # type: ignore[attr-defined]


async def _request_embed(client: discord.Client, request: ApprovalRequest) -> discord.Embed:
    job = await client.services.jobs.get(request.job_id)  # type: ignore[attr-defined]
    if job is None:
        return approval_request_embed(request, "(job not found)", "?", "?", 0)
    providers = client.services.providers  # type: ignore[attr-defined]
    provider = providers[job.provider].display_name if job.provider in providers else job.provider
    return approval_request_embed(
        request, job.request.prompt, provider, job.request.model, job.price
    )


# -- approval buttons (persistent: they work after a restart) -----------------------------------


class ApproveButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"approval:approve:(?P<job_id>[0-9a-z]{1,32})",
):
    """Approve a held job: it is submitted."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Approve",
                emoji="✅",
                style=discord.ButtonStyle.success,
                custom_id=f"approval:approve:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ApproveButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._approve(interaction)
        except Exception as error:
            await reply_error(interaction, error)

    async def _approve(self, interaction: discord.Interaction) -> None:
        request = await _checked_request(interaction, self.job_id)
        decision = await _community(interaction.client).approvals.decide(
            request.job_id, approve=True, actor_id=interaction.user.id
        )
        embed = await _request_embed(interaction.client, decision.request)
        await interaction.response.edit_message(embed=embed, view=None)
        if not decision.changed:
            await interaction.followup.send(
                already_decided(interaction, decision.state), ephemeral=True
            )


class DenyButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"approval:deny:(?P<job_id>[0-9a-z]{1,32})",
):
    """Deny a held job: opens a form for the reason the member is told."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Deny",
                emoji="⛔",
                style=discord.ButtonStyle.danger,
                custom_id=f"approval:deny:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DenyButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            request = await _checked_request(interaction, self.job_id)
            if request.state != "pending":
                embed = await _request_embed(interaction.client, request)
                await interaction.response.edit_message(embed=embed, view=None)
                return
            await interaction.response.send_modal(deny_form(self.job_id))
        except Exception as error:
            await reply_error(interaction, error)


# The Deny form names the request it decides; it is routed by this pattern (bot.ui.forms).
DENY_FORM = r"approval:reason:(?P<job_id>[0-9a-z]{1,32})"


def deny_form(job_id: str) -> discord.ui.Modal:
    """The reason for a denial; the member is told it."""
    reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
        custom_id="reason", style=discord.TextStyle.paragraph, min_length=3, max_length=300
    )
    return build_form(
        form_id("approval", "reason", job_id),
        "Deny this video",
        [("Reason (the member will see it)", reason)],
    )


async def on_deny_form(
    interaction: discord.Interaction, match: re.Match[str], values: FormValues
) -> None:
    """A Deny form was submitted: deny the request its id names, if still pending."""
    job_id = match["job_id"]

    request = await _checked_request(interaction, job_id)
    decision = await _community(interaction.client).approvals.decide(
        request.job_id,
        approve=False,
        actor_id=interaction.user.id,
        reason=values.get("reason", ""),
    )
    embed = await _request_embed(interaction.client, decision.request)
    await _show_decided(interaction, embed)
    if not decision.changed:
        await interaction.followup.send(
            already_decided(interaction, decision.state), ephemeral=True
        )


async def _show_decided(interaction: discord.Interaction, embed: discord.Embed) -> None:
    """Replace the request's buttons with its outcome (or just acknowledge, if no message)."""
    if interaction.message is not None:
        await interaction.response.edit_message(embed=embed, view=None)
    else:
        await interaction.response.defer(ephemeral=True)


def already_decided(interaction: discord.Interaction, state: str) -> str:
    """The moderator's private answer when someone decided the request first."""
    m = Messages(interaction.locale)
    return m("forms.request_decided", state=m(f"forms.state.{state}"))


async def _checked_request(interaction: discord.Interaction, job_id: str) -> ApprovalRequest:
    if not is_moderator(interaction, owner_ids_of(interaction.client)):
        raise UserError(MODERATORS_ONLY)
    request = await _community(interaction.client).approvals.get(job_id)
    if request is None or request.guild_id != interaction.guild_id:
        raise UserError(f"Video `{job_id}` is not waiting for approval here.")
    return request


def approval_view(job_id: str) -> discord.ui.View:
    """Approve and Deny under a request."""
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(job_id))
    view.add_item(DenyButton(job_id))
    return view


# -- report buttons ------------------------------------------------------------------------------


class ReportButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"report:(?P<action>delete|dismiss):(?P<report_id>[0-9]{1,18})",
):
    """Delete a reported result, or dismiss the report."""

    def __init__(self, action: str, report_id: int) -> None:
        delete = action == "delete"
        super().__init__(
            discord.ui.Button(
                label="Delete the result" if delete else "Dismiss",
                style=discord.ButtonStyle.danger if delete else discord.ButtonStyle.secondary,
                custom_id=f"report:{action}:{report_id}",
            )
        )
        self.action = action
        self.report_id = report_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ReportButton:
        return cls(match["action"], int(match["report_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._resolve(interaction)
        except Exception as error:
            await reply_error(interaction, error)

    async def _resolve(self, interaction: discord.Interaction) -> None:
        if not is_moderator(interaction, owner_ids_of(interaction.client)):
            raise UserError(MODERATORS_ONLY)
        community = _community(interaction.client)
        report = await community.reports.get(self.report_id)
        if report is None or report.guild_id != interaction.guild_id:
            raise UserError("That report is not from this server.")
        outcome = "deleted" if self.action == "delete" else "dismissed"
        closed = await community.reports.resolve(self.report_id, interaction.user.id, outcome)
        if not closed:
            raise UserError("That report was already handled.")
        note = f"Dismissed by {interaction.user.mention}."
        if outcome == "deleted":
            removed = await delete_result(interaction.client, report.job_id)
            note = f"Result deleted by {interaction.user.mention} ({removed} message(s) removed)."
        job = await community.showcase.job(report.job_id)
        resolved = await community.reports.get(self.report_id)
        assert resolved is not None
        await interaction.response.edit_message(embed=report_embed(resolved, job, note), view=None)


async def delete_result(client: discord.Client, job_id: str) -> int:
    """Delete a job's result and card messages, and its showcase post; return how many."""
    community = _community(client)
    job = await community.showcase.job(job_id)
    targets: list[tuple[int | None, int | None]] = []
    if job is not None:
        targets += [(job.channel_id, job.result_message_id), (job.channel_id, job.card_message_id)]
    share = await community.showcase.by_job(job_id)
    if share is not None:
        targets.append((share.channel_id, share.message_id))
    removed = 0
    for channel_id, message_id in dict.fromkeys(targets):
        if not channel_id or not message_id:
            continue
        channel = await find_channel(client, channel_id)
        if channel is None:
            continue
        try:
            await channel.get_partial_message(message_id).delete()
            removed += 1
        except discord.NotFound:
            pass
        except discord.HTTPException as exc:
            log.warning("could not delete message %s of job %s: %s", message_id, job_id, exc)
    return removed


def report_view(report_id: int) -> discord.ui.View:
    """Delete and Dismiss under a report."""
    view = discord.ui.View(timeout=None)
    view.add_item(ReportButton("delete", report_id))
    view.add_item(ReportButton("dismiss", report_id))
    return view


# -- the cog -------------------------------------------------------------------------------------


class ServerCog(commands.Cog):
    """Thin layer over bot.community for admins and moderators."""

    server = app_commands.Group(
        name="server",
        description="Community settings and moderation (Manage Server)",
        allowed_contexts=guild_only(),
        default_permissions=MANAGE_SERVER,
    )

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.community: Community = bot.services.community
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Requests decided since then (e.g. withdrawn by a cancel) get their message updated.
        self._refreshed_at = 0.0

    async def cog_load(self) -> None:
        """Register the persistent buttons (background work starts once connected)."""
        self.bot.add_dynamic_items(ApproveButton, DenyButton, ReportButton)
        self.bot.forms.add(DENY_FORM, on_deny_form)
        self.community.approvals.subscribe(self._poke.set)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Start the background work once connected (once, whatever reconnects follow)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="community-moderation")

    async def cog_unload(self) -> None:
        """Stop the background work."""
        self.bot.remove_dynamic_items(ApproveButton, DenyButton, ReportButton)
        self.bot.forms.remove(DENY_FORM)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        """Post new requests, reports and log lines now rather than at the next pass."""
        self._poke.set()

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
        text = f"Approval: {approval_line(saved)}."
        if saved.approval_mode is not ApprovalMode.OFF and saved.moderators_channel_id is None:
            text += (
                "\n⚠️ There is no moderators' channel yet: requests wait (and expire) until you "
                "set one with `/server moderators`."
            )
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
        await interaction.edit_original_response(
            content=f"Blocked: prompts matching this {rule.kind} are refused with the rule name "
            f"**{rule.name}**."
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
            raise UserError(f"There is no rule named `{name}`. `/server settings` lists them.")
        self.poke()
        await interaction.edit_original_response(content=f"Rule **{removed.name}** removed.")

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
        text = (
            f"{user.mention} can no longer make videos here."
            if new
            else f"{user.mention} was already banned; the reason was updated."
        )
        await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)

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
            raise UserError(f"{user.mention} is not banned from making videos.")
        self.poke()
        await interaction.edit_original_response(
            content=f"{user.mention} can make videos again.", allowed_mentions=NO_MENTIONS
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
        notes = []
        try:
            if add is not None:
                await pool.deposit(guild_id, interaction.user.id, add)
                notes.append(f"Added {add} credits.")
            if remove is not None:
                await pool.withdraw(guild_id, interaction.user.id, remove)
                notes.append(f"Removed {remove} credits.")
            if daily_limit is not None:
                await pool.set_daily_limit(guild_id, interaction.user.id, daily_limit)
                notes.append(f"Daily limit per member: {daily_limit}.")
        except PoolError as exc:
            raise UserError(" ".join([*notes, str(exc)])) from None
        if notes:
            self.poke()
        chosen = period.value if period else "30d"
        report = await pool.report(guild_id, chosen)
        await interaction.edit_original_response(
            content=" ".join(notes) or None,
            embed=pool_embed(report, POOL_PERIODS[chosen]),
            allowed_mentions=NO_MENTIONS,
        )

    # -- the seam for result buttons ---------------------------------------------------------------

    async def report_job(
        self, interaction: discord.Interaction, job_id: str, reason: str | None = None
    ) -> None:
        """A member reports a result (e.g. from a `video:report:<job_id>` button).

        Answers the member privately; the report reaches the moderators' channel with the job,
        a link, and Delete / Dismiss buttons.
        """
        assert interaction.guild_id is not None
        _, created = await self.community.reports.report(
            interaction.guild_id, job_id, interaction.user.id, reason
        )
        self.poke()
        text = (
            "Thank you: the moderators have been told."
            if created
            else "You already reported this video; the moderators have it."
        )
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    # -- background: requests, expiry, reports, audit log ---------------------------------------

    async def _run(self) -> None:
        while True:
            # Cleared before reading, so a poke during the pass makes the next wait return.
            self._poke.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("community moderation pass failed; continuing")
            timeout = IDLE_SECONDS
            due = await self.community.approvals.next_expiry()
            if due is not None:
                timeout = min(timeout, max(0.05, due - self.community.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), timeout=timeout)

    async def run_once(self) -> None:
        """One pass: expire, post new requests and reports, relay the log."""
        for decision in await self.community.approvals.expire_due():
            await self._show_decision(decision.request)
        since, self._refreshed_at = self._refreshed_at, self.community.now()
        for request in await self.community.approvals.decided_with_message(since):
            if request.state == "withdrawn":  # buttons decide the rest, expiry is above
                await self._show_decision(request)
        for request in await self.community.approvals.unposted():
            await self._post_request(request)
        for report in await self.community.reports.unposted():
            await self._post_report(report)
        await self._relay_log()

    async def _post_request(self, request: ApprovalRequest) -> None:
        settings = await self.community.settings.get(request.guild_id)
        channel = await find_channel(self.bot, settings.moderators_channel_id)
        if channel is None:
            return  # posted once a moderators' channel exists; expires meanwhile
        embed = await _request_embed(self.bot, request)
        try:
            message = await channel.send(
                embed=embed, view=approval_view(request.job_id), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.warning("could not post approval request %s: %s", request.job_id, exc)
            return
        await self.community.approvals.mark_posted(request.job_id, channel.id, message.id)

    async def _show_decision(self, request: ApprovalRequest) -> None:
        if request.message_id is None:
            return
        channel = await find_channel(self.bot, request.message_channel_id)
        if channel is None:
            return
        embed = await _request_embed(self.bot, request)
        try:
            await channel.get_partial_message(request.message_id).edit(embed=embed, view=None)
        except discord.HTTPException as exc:
            log.warning("could not update approval request %s: %s", request.job_id, exc)

    async def _post_report(self, report: Any) -> None:
        settings = await self.community.settings.get(report.guild_id)
        channel = await find_channel(self.bot, settings.moderators_channel_id)
        if channel is None:
            return
        job = await self.community.showcase.job(report.job_id)
        try:
            message = await channel.send(
                embed=report_embed(report, job),
                view=report_view(report.id),
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as exc:
            log.warning("could not post report %s: %s", report.id, exc)
            return
        await self.community.reports.mark_posted(report.id, channel.id, message.id)

    async def _relay_log(self) -> None:
        for line in await self.community.log.unrelayed():
            channel = await find_channel(self.bot, line.audit_channel_id)
            if channel is None:
                await self.community.log.mark_relayed(line.id, "channel not found")
                continue
            try:
                await channel.send(log_line_text(line), allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                log.warning("could not relay moderation log line %s: %s", line.id, exc)
                await self.community.log.mark_relayed(line.id, str(exc))
                continue
            await self.community.log.mark_relayed(line.id)

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
            note = "Saved."
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
            note = "Saved."
        else:
            note = None
        await self._show_settings(interaction, note)


async def setup(bot: VideoBot) -> None:
    """Register the cog."""
    await bot.add_cog(ServerCog(bot))
