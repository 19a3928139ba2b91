"""Discord glue shared by the community cogs: who moderates, channel lookup, and removing a
result's messages."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import app_commands

from bot.i18n import tr
from bot.jobs.models import JobState
from bot.ui.dynamic import PersistentButton

if TYPE_CHECKING:
    from bot.community import Community

log = logging.getLogger(__name__)


def community_of(client: discord.Client) -> Community:
    """The running bot's community services (server settings, moderation, showcase, events)."""
    return client.services.community  # type: ignore[attr-defined]


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


class VoteButton(PersistentButton, template=r"(?P<feature>[a-z]+):vote:(?P<item_id>[0-9]{1,18})"):
    """A vote under a post (showcase shares, event entries): its count in the label, what it
    votes for in its custom_id; each feature subclasses it with its own template and `press`."""

    feature: ClassVar[str]
    emoji: ClassVar[str]
    label_key: ClassVar[str]

    numbers = frozenset({"item_id"})

    def __init__(self, item_id: int, votes: int = 0, locale: object = None) -> None:
        super().__init__(
            f"{self.feature}:vote:{item_id}",
            tr(locale, self.label_key, votes=votes),
            discord.ButtonStyle.primary,
            emoji=self.emoji,
        )
        self.item_id = item_id


async def finished_job_choices(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The member's finished videos whose id has what they typed (a `job` option's choices)."""
    if interaction.guild_id is None:
        return []
    jobs = await interaction.client.services.jobs.recent(  # type: ignore[attr-defined]
        interaction.guild_id, interaction.user.id, 25
    )
    return [
        app_commands.Choice(name=f"{j.id} · {j.request.prompt}"[:100], value=j.id)
        for j in jobs
        if j.state is JobState.SUCCEEDED and current.lower() in j.id
    ]


def guild_locale(channel: object) -> object:
    """The language of the bot's own posts in a server: its community locale, if known."""
    return getattr(getattr(channel, "guild", None), "preferred_locale", None)


async def delete_result(client: discord.Client, job_id: str) -> int:
    """Delete a job's result and card messages, and its showcase post; return how many.

    A moderator's Delete on a result, and Delete under a report, both remove all of them.
    """
    showcase = community_of(client).showcase
    job = await showcase.job(job_id)
    targets: list[tuple[int | None, int | None]] = []
    if job is not None:
        targets += [(job.channel_id, job.result_message_id), (job.channel_id, job.card_message_id)]
    share = await showcase.by_job(job_id)
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
