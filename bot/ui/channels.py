"""What the bot needs to know about the channel a member asked in."""

from __future__ import annotations


def is_age_restricted(channel: object) -> bool:
    """Whether `channel` is age-restricted; a thread is as age-restricted as its parent."""
    # discord.py's Thread has no `nsfw` of its own (Discord gives threads none), and an
    # uncached channel arrives as a PartialMessageable with neither: both read as not restricted
    # unless the parent says otherwise.
    parent = getattr(channel, "parent", None)
    return bool(getattr(channel, "nsfw", False) or getattr(parent, "nsfw", False))
