"""/server: a community's settings and moderation, split by subject.

- `commands.py`: the `/server` commands (Manage Server, checked in code): channels, roles,
  approval mode, blocked terms, bans, the credit pool.
- `approvals.py`: approval requests in the moderators' channel, decided with the one
  Approve / Deny-with-a-reason component (bot.ui.decide).
- `reports.py`: a result's Report button, and Delete / Dismiss under a report.
- `moderation.py`: the background pass that posts requests and reports, expires requests,
  and relays the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.server.commands import ServerCog
from cogs.server.moderation import ModerationCog

if TYPE_CHECKING:
    from bot.app import VideoBot

__all__ = ["ModerationCog", "ServerCog"]


async def setup(bot: VideoBot) -> None:
    """Register the moderation pass, and the commands that wake it when they change things."""
    moderation = ModerationCog(bot)
    await bot.add_cog(moderation)
    await bot.add_cog(ServerCog(bot, poke=moderation.poke))
