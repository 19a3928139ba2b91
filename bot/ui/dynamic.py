"""Buttons that keep working after a restart: their whole state is in their custom_id."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import discord

from bot.ui.errors import reply_error


# The base is never registered itself, so its template matches nothing; each button gives its own.
class PersistentButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button rebuilt from its custom_id, which tells the presser why a press failed.

    The template's named groups are the constructor's arguments (those named in `numbers` are
    whole numbers); a subclass acts on a press in `press`.
    """

    numbers: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        custom_id: str,
        label: str,
        style: discord.ButtonStyle,
        *,
        emoji: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=custom_id, disabled=disabled
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        """Rebuild the button from a pressed custom_id (also after a restart)."""
        arguments: dict[str, Any] = {
            name: int(value) if name in cls.numbers else value
            for name, value in match.groupdict().items()
        }
        return cls(**arguments)

    async def callback(self, interaction: discord.Interaction) -> None:
        """Act on the press; a refusal or a failure is answered privately (reply_error)."""
        try:
            await self.press(interaction)
        except Exception as error:
            await reply_error(interaction, error)

    async def press(self, interaction: discord.Interaction) -> None:
        """What a press does."""
        raise NotImplementedError
