"""What the list embeds share: one full-width field per item, or a line saying there is none."""

from __future__ import annotations

from collections.abc import Iterable

import discord


def field_list_embed(
    title: str,
    colour: discord.Colour,
    fields: Iterable[tuple[str, str]],
    *,
    empty: str,
    footer: str | None = None,
) -> discord.Embed:
    """A field per (name, value); with none, `empty` is the description and there is no footer."""
    embed = discord.Embed(title=title, colour=colour)
    rows = list(fields)
    if not rows:
        embed.description = empty
        return embed
    for name, value in rows:
        embed.add_field(name=name, value=value, inline=False)
    if footer is not None:
        embed.set_footer(text=footer)
    return embed
