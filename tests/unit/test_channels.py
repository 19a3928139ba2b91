"""The age-restricted flag, judged one way on discord.py's own channel objects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.ui.channels import is_age_restricted

ROOT = Path(__file__).resolve().parents[2]
ADULT, GENERAL, ADULT_FORUM = 2, 4, 6


def _channel(channel_id: int, name: str, *, nsfw: bool, kind: int = 0) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": kind,
        "name": name,
        "nsfw": nsfw,
        "position": channel_id,
        "permission_overwrites": [],
    }


@pytest.fixture
def guild() -> discord.Guild:
    """A guild (in discord.py's cache) with an age-restricted channel and forum and a normal one."""
    client = discord.Client(intents=discord.Intents.none())
    data: Any = {
        "id": "1",
        "name": "guild",
        "channels": [
            _channel(ADULT, "after-dark", nsfw=True),
            _channel(GENERAL, "general", nsfw=False),
            _channel(ADULT_FORUM, "late-showcase", nsfw=True, kind=15),
        ],
    }
    return discord.Guild(data=data, state=client._connection)


def _thread(guild: discord.Guild, parent_id: int) -> discord.Thread:
    data: Any = {
        "id": str(parent_id * 100),
        "type": 11,
        "name": "a thread",
        "parent_id": str(parent_id),
        "owner_id": "5",
        "message_count": 0,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 60,
            "archive_timestamp": "2024-01-01T00:00:00+00:00",
            "locked": False,
        },
    }
    return discord.Thread(guild=guild, state=guild._state, data=data)


def test_a_channel_is_judged_by_its_own_flag(guild: discord.Guild) -> None:
    assert is_age_restricted(guild.get_channel(ADULT))
    assert is_age_restricted(guild.get_channel(ADULT_FORUM))
    assert not is_age_restricted(guild.get_channel(GENERAL))


def test_a_thread_is_judged_by_its_parent(guild: discord.Guild) -> None:
    # discord.py's Thread has no `nsfw` attribute: reading the channel alone calls it safe.
    thread = _thread(guild, ADULT)
    assert not hasattr(thread, "nsfw")
    assert is_age_restricted(thread)
    assert is_age_restricted(_thread(guild, ADULT_FORUM))  # a forum post
    assert not is_age_restricted(_thread(guild, GENERAL))


def test_an_unknown_channel_is_not_age_restricted(guild: discord.Guild) -> None:
    partial = discord.PartialMessageable(state=guild._state, id=99, guild_id=guild.id)
    assert not is_age_restricted(partial)
    assert not is_age_restricted(None)


def test_only_the_helper_reads_the_flag() -> None:
    # One path per decision: the cogs and the Discord layer ask is_age_restricted.
    readers = [
        str(path.relative_to(ROOT))
        for folder in ("cogs", "bot/ui")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if re.search(r"\bnsfw\b", path.read_text(encoding="utf-8"))
    ]
    assert readers == ["bot/ui/channels.py"]
