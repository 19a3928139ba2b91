"""Reports: a result's Report button files one; moderators Delete the result or Dismiss it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.community.moderation import Report
from bot.i18n import Messages, Text, tr
from bot.ui.community import report_embed
from bot.ui.community_views import (
    NO_MENTIONS,
    community_of,
    delete_result,
    find_channel,
    guild_locale,
    is_moderator,
    owner_ids_of,
)
from bot.ui.dynamic import PersistentButton
from bot.ui.errors import UserError

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class ReportButton(
    PersistentButton, template=r"report:(?P<action>delete|dismiss):(?P<report_id>[0-9]{1,18})"
):
    """Delete a reported result, or dismiss the report."""

    numbers = frozenset({"report_id"})

    def __init__(self, action: str, report_id: int, locale: object = None) -> None:
        delete = action == "delete"
        super().__init__(
            f"report:{action}:{report_id}",
            tr(locale, f"reports.{action}"),
            discord.ButtonStyle.danger if delete else discord.ButtonStyle.secondary,
        )
        self.action = action
        self.report_id = report_id

    async def press(self, interaction: discord.Interaction) -> None:
        """Resolve the report, then show its outcome in place of the buttons."""
        await resolve_report(interaction, self.report_id, self.action)


async def resolve_report(interaction: discord.Interaction, report_id: int, action: str) -> None:
    """A moderator deletes the reported result (every message of it) or dismisses the report."""
    if not is_moderator(interaction, owner_ids_of(interaction.client)):
        raise UserError(Text("decide.moderators_only"))
    community = community_of(interaction.client)
    report = await community.reports.get(report_id)
    if report is None or report.guild_id != interaction.guild_id:
        raise UserError(Text("reports.not_here"))
    outcome = "deleted" if action == "delete" else "dismissed"
    closed = await community.reports.resolve(report_id, interaction.user.id, outcome)
    if not closed:
        raise UserError(Text("reports.already_handled"))
    m = Messages(interaction.guild_locale)
    note = m("reports.dismissed_by", user=interaction.user.mention)
    if outcome == "deleted":
        removed = await delete_result(interaction.client, report.job_id)
        note = m("reports.deleted_by", user=interaction.user.mention, count=removed)
    job = await community.showcase.job(report.job_id)
    resolved = await community.reports.get(report_id)
    assert resolved is not None
    await interaction.response.edit_message(
        embed=report_embed(resolved, job, note, interaction.guild_locale), view=None
    )


def report_view(report_id: int, locale: object = None) -> discord.ui.View:
    """Delete and Dismiss under a report."""
    view = discord.ui.View(timeout=None)
    view.add_item(ReportButton("delete", report_id, locale))
    view.add_item(ReportButton("dismiss", report_id, locale))
    return view


async def report_job(interaction: discord.Interaction, _action: str, job_id: str) -> None:
    """A member pressed Report under a result: the moderators get it, the member is thanked.

    Anyone may report a video; the report reaches the moderators' channel with the job, a
    link, and Delete / Dismiss buttons.
    """
    if interaction.guild_id is None:
        raise UserError(Text("errors.guild_only"))
    community = community_of(interaction.client)
    _, created = await community.reports.report(
        interaction.guild_id, job_id, interaction.user.id, None
    )
    key = "reports.thanks" if created else "reports.already_reported"
    text = tr(interaction.locale, key)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def post_report(client: discord.Client, report: Report) -> None:
    """Post a new report with its buttons in the moderators' channel (once there is one)."""
    community = community_of(client)
    settings = await community.settings.get(report.guild_id)
    channel = await find_channel(client, settings.moderators_channel_id)
    if channel is None:
        return
    job = await community.showcase.job(report.job_id)
    try:
        message = await channel.send(
            embed=report_embed(report, job, locale=guild_locale(channel)),
            view=report_view(report.id, guild_locale(channel)),
            allowed_mentions=NO_MENTIONS,
        )
    except discord.HTTPException as exc:
        log.warning("could not post report %s: %s", report.id, exc)
        return
    await community.reports.mark_posted(report.id, channel.id, message.id)
