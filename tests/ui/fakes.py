"""A stand-in for a discord.Interaction: who pressed, where, and what the bot answered."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import discord

GUILD_ID = 10
MODERATOR_ID = 20
MEMBER_ID = 30
OWNER_ID = 40


def interaction(
    *,
    user_id: int = MODERATOR_ID,
    moderator: bool = True,
    locale: str = "en-US",
    message: bool = True,
    client: Any = None,
) -> Any:
    """An interaction in GUILD_ID whose responses are recorded by AsyncMocks."""
    permissions = discord.Permissions(manage_messages=moderator)
    response = SimpleNamespace(
        is_done=MagicMock(return_value=False),
        send_message=AsyncMock(),
        send_modal=AsyncMock(),
        edit_message=AsyncMock(),
        defer=AsyncMock(),
    )
    services = SimpleNamespace(settings=SimpleNamespace(bot_owner_ids=frozenset({OWNER_ID})))
    return SimpleNamespace(
        user=SimpleNamespace(id=user_id, mention=f"<@{user_id}>"),
        guild=SimpleNamespace(id=GUILD_ID),
        guild_id=GUILD_ID,
        permissions=permissions,
        locale=locale,
        guild_locale=locale,
        message=object() if message else None,
        response=response,
        followup=SimpleNamespace(send=AsyncMock()),
        client=client if client is not None else SimpleNamespace(services=services),
    )


def sent_text(mock: AsyncMock) -> str:
    """The text of the last call to a send method."""
    args, kwargs = mock.call_args
    return str(kwargs.get("content") or (args[0] if args else ""))
