"""Approval requests: posted in the moderators' channel, decided with Approve / Deny-with-a-
reason (bot.ui.decide), and updated when they expire or their video ends first."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.community.approval import ApprovalRequest
from bot.i18n import Text
from bot.ui.community import approval_request_embed
from bot.ui.community_views import NO_MENTIONS, community_of, find_channel, guild_locale
from bot.ui.decide import Outcome, Subject, decide_view
from bot.ui.errors import UserError

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

SUBJECT = "approval"


async def request_embed(
    client: discord.Client, request: ApprovalRequest, locale: object
) -> discord.Embed:
    """A request as the moderators see it, with the job's prompt, model and price."""
    job = await client.services.jobs.get(request.job_id)  # type: ignore[attr-defined]
    if job is None:
        return approval_request_embed(request, "?", "?", "?", 0, locale)
    providers = client.services.providers  # type: ignore[attr-defined]
    provider = providers[job.provider].display_name if job.provider in providers else job.provider
    return approval_request_embed(
        request, job.request.prompt, provider, job.request.model, job.price, locale
    )


class Approvals(Subject):
    """A held job a moderator approves (it is submitted) or denies (the member is told why)."""

    name = SUBJECT

    async def current(self, interaction: discord.Interaction, object_id: str) -> Outcome:
        """The request as it stands."""
        request = await self._request(interaction, object_id)
        embed = await request_embed(interaction.client, request, interaction.guild_locale)
        return Outcome(embed, request.state, pending=request.state == "pending", changed=False)

    async def decide(
        self, interaction: discord.Interaction, object_id: str, approve: bool, reason: str | None
    ) -> Outcome:
        """Approve or deny the request, once."""
        request = await self._request(interaction, object_id)
        decision = await community_of(interaction.client).approvals.decide(
            request.job_id, approve=approve, actor_id=interaction.user.id, reason=reason
        )
        embed = await request_embed(interaction.client, decision.request, interaction.guild_locale)
        return Outcome(embed, decision.state, changed=decision.changed)

    @staticmethod
    async def _request(interaction: discord.Interaction, job_id: str) -> ApprovalRequest:
        request = await community_of(interaction.client).approvals.get(job_id)
        if request is None or request.guild_id != interaction.guild_id:
            raise UserError(Text("decide.approval.not_here", job=job_id))
        return request


async def post_request(client: discord.Client, request: ApprovalRequest) -> None:
    """Post a new request with its buttons (once a moderators' channel exists)."""
    community = community_of(client)
    settings = await community.settings.get(request.guild_id)
    channel = await find_channel(client, settings.moderators_channel_id)
    if channel is None:
        return  # posted once a moderators' channel exists; expires meanwhile
    embed = await request_embed(client, request, guild_locale(channel))
    view = decide_view(SUBJECT, request.job_id, guild_locale(channel))
    try:
        message = await channel.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        log.warning("could not post approval request %s: %s", request.job_id, exc)
        return
    await community.approvals.mark_posted(request.job_id, channel.id, message.id)


async def show_decision(client: discord.Client, request: ApprovalRequest) -> None:
    """Replace a decided request's buttons with its outcome (expired, withdrawn...)."""
    if request.message_id is None:
        return
    channel = await find_channel(client, request.message_channel_id)
    if channel is None:
        return
    embed = await request_embed(client, request, guild_locale(channel))
    try:
        await channel.get_partial_message(request.message_id).edit(embed=embed, view=None)
    except discord.HTTPException as exc:
        log.warning("could not update approval request %s: %s", request.job_id, exc)
