"""The moderators' side of /server, in the background: requests, expiry, reports, audit log."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.ui.community import log_line_text
from bot.ui.community_views import NO_MENTIONS, find_channel, guild_locale
from cogs.server.approvals import Approvals, post_request, show_decision
from cogs.server.reports import ReportButton, post_report, report_job

if TYPE_CHECKING:
    from bot.app import VideoBot
    from bot.community import Community

log = logging.getLogger(__name__)

IDLE_SECONDS = 5.0
REPORT = ("report",)


class ModerationCog(commands.Cog):
    """Owns the approval subject, the report buttons, and the pass that posts them."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.community: Community = bot.services.community
        self._pass = self.community.background_loop(
            "community moderation",
            self.run_once,
            idle=IDLE_SECONDS,
            next_due=self.community.approvals.next_expiry,
        )
        # Post new requests, reports and log lines now rather than at the next pass.
        self.poke = self._pass.poke
        # Requests decided since then (e.g. withdrawn by a cancel) get their message updated.
        self._refreshed_at = 0.0

    async def cog_load(self) -> None:
        """Register the buttons it owns (background work starts once connected)."""
        self.bot.add_dynamic_items(ReportButton)
        self.bot.decisions.add(Approvals())
        self.bot.job_actions.add(REPORT, self._report_job)
        self.community.approvals.subscribe(self.poke)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Start the background work once connected (once, whatever reconnects follow)."""
        self._pass.start()

    async def cog_unload(self) -> None:
        """Stop the background work and release the buttons."""
        self.bot.remove_dynamic_items(ReportButton)
        self.bot.decisions.remove(Approvals.name)
        self.bot.job_actions.remove(REPORT)
        await self._pass.stop()

    async def _report_job(self, interaction: discord.Interaction, action: str, job_id: str) -> None:
        await report_job(interaction, action, job_id)
        self.poke()

    async def run_once(self) -> None:
        """One pass: expire, post new requests and reports, relay the log."""
        for decision in await self.community.approvals.expire_due():
            await show_decision(self.bot, decision.request)
        since, self._refreshed_at = self._refreshed_at, self.community.now()
        for request in await self.community.approvals.decided_with_message(since):
            if request.state == "withdrawn":  # buttons decide the rest, expiry is above
                await show_decision(self.bot, request)
        for request in await self.community.approvals.unposted():
            await post_request(self.bot, request)
        for report in await self.community.reports.unposted():
            await post_report(self.bot, report)
        await self._relay_log()

    async def _relay_log(self) -> None:
        for line in await self.community.log.unrelayed():
            channel = await find_channel(self.bot, line.audit_channel_id)
            if channel is None:
                await self.community.log.mark_relayed(line.id, "channel not found")
                continue
            try:
                await channel.send(
                    log_line_text(line, guild_locale(channel)), allowed_mentions=NO_MENTIONS
                )
            except discord.HTTPException as exc:
                log.warning("could not relay moderation log line %s: %s", line.id, exc)
                await self.community.log.mark_relayed(line.id, str(exc))
                continue
            await self.community.log.mark_relayed(line.id)
