"""End-to-end fixtures: the real bot process, a fake Discord and a fake kvidAI on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from simulator.fake_discord import DefaultGuild, FakeDiscord, FakeInteraction, FakeMessage
from tests.e2e.harness import BotDatabase, BotProcess, bot_env
from tests.fakes.acedata import FakeAceData
from tests.fakes.kvid import FakeKvid

DISCORD_TOKEN = "MTMwMDAwMDAwMDAwMDAwMDEwMA.fake-bot-token.e2e-secret-value"
KVID_KEY = "kvid-e2e-secret-key-7c1f"
KLING_TOKEN = "acedata-e2e-secret-token-91b2"


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fakes_env(discord: FakeDiscord, kvid: FakeKvid, kling: FakeAceData) -> dict[str, str]:
    """The bot settings that point it at the fakes (providers polled every 0.2 s)."""
    return {
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "DISCORD_API_BASE": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "KVID_API_KEY": KVID_KEY,
        "KVID_BASE_URL": kvid.base_url,
        "KVID_POLL_INTERVAL": "0.2",
        "KLING_API_KEY": KLING_TOKEN,
        "KLING_BASE_URL": kling.base_url,
        "KLING_POLL_INTERVAL": "0.2",
    }


@dataclass
class Stack:
    """Everything one end-to-end test talks to."""

    discord: FakeDiscord
    kvid: FakeKvid
    kling: FakeAceData
    bot: BotProcess
    db: BotDatabase
    ids: DefaultGuild
    env: dict[str, str] = field(default_factory=dict)

    async def start_bot(self) -> None:
        """Start (or restart) the bot and wait until it is connected and its commands exist."""
        connections = len(self.discord.connections) + 1
        await self.bot.start()

        async def ready() -> None:
            await self.discord.wait_until_connected(timeout=30, connections=connections)
            await self.discord.wait_for_commands(timeout=30, names=("video", "credits"))

        came_up = asyncio.create_task(ready())
        died = asyncio.create_task(self.bot.exited())
        await asyncio.wait({came_up, died}, return_when=asyncio.FIRST_COMPLETED)
        died.cancel()
        if not came_up.done() or came_up.exception() is not None:
            came_up.cancel()
            raise AssertionError(f"bot did not come up:\n{self.bot.log()[-4000:]}")

    async def invoke(
        self, command: str, options: dict[str, Any] | None = None, **kwargs: Any
    ) -> FakeInteraction:
        """Run a slash command as alice in #general unless told otherwise."""
        kwargs.setdefault("user_id", self.ids.user_id)
        kwargs.setdefault("channel_id", self.ids.channel_id)
        kwargs.setdefault("guild_id", self.ids.guild_id)
        return await self.discord.invoke(command, options, **kwargs)

    async def private_reply(self, interaction: FakeInteraction, timeout: float = 10) -> str:
        """The text of the private (ephemeral) answer an interaction got."""

        def find() -> str | None:
            for message in [interaction.original, *interaction.followups]:
                if message is not None and message.ephemeral and not message.loading:
                    return message.content or (message.embed or {}).get("description", "")
            return None

        return await self.discord.wait_for(find, timeout, description="a private reply")

    async def card(
        self, interaction: FakeInteraction, predicate: Callable[[FakeMessage], Any], timeout=30
    ) -> FakeMessage:
        """Wait for the interaction's public reply (the job card) to satisfy `predicate`."""
        return await interaction.wait_for_original(predicate, timeout=timeout)

    def job_rows(self) -> list[dict[str, object]]:
        """Every job the bot stored."""
        return self.db.rows("SELECT * FROM jobs ORDER BY created_at")

    async def settled_job(self, timeout: float = 30) -> dict[str, object]:
        """Wait until the only job is finished and its outcome delivered; return its row."""

        def find() -> dict[str, object] | None:
            rows = self.job_rows()
            return rows[0] if len(rows) == 1 and rows[0]["delivered_at"] else None

        return await self.discord.wait_for(find, timeout, description="the job to be delivered")


def field_value(message: FakeMessage, name: str) -> str | None:
    """A field of the message's first embed, by name."""
    for embed_field in (message.embed or {}).get("fields", []):
        if embed_field["name"] == name:
            return embed_field["value"]
    return None


# `pytestmark = ENGINES` runs a module's tests on both engines.
ENGINES = pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
async def stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """A running bot wired to fresh fakes; extra bot settings come from the `bot_env` marker.

    Its database is a SQLite file, or this run's PostgreSQL schema when the test is
    parametrised with `stack` = "postgresql" (see ENGINES) or E2E_DATABASE=postgresql is set.
    """
    discord = FakeDiscord.with_default_guild()
    await discord.start()
    kvid = FakeKvid(api_key=KVID_KEY)
    await kvid.start()
    kling = FakeAceData(token=KLING_TOKEN)
    await kling.start()
    overrides: dict[str, str] = {}
    if request.node.get_closest_marker("callbacks"):
        port = free_port()
        overrides.update(
            PUBLIC_URL=f"http://127.0.0.1:{port}", HTTP_HOST="127.0.0.1", HTTP_PORT=str(port)
        )
    for marker in request.node.iter_markers("bot_env"):
        overrides.update(marker.kwargs)
    sqlite_file = tmp_path / "bot.sqlite3"
    database: Path | str = sqlite_file
    engine = getattr(request, "param", os.environ.get("E2E_DATABASE", "sqlite"))
    if engine == "postgresql":
        database = request.getfixturevalue("postgres").url
        overrides["DATABASE_URL"] = database
    env = bot_env(
        {
            **fakes_env(discord, kvid, kling),
            "DATABASE_PATH": str(sqlite_file),
            "LOG_LEVEL": "DEBUG",
            **overrides,
        }
    )
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    bot = BotProcess(env, tmp_path / "bot.log", cwd=workdir)
    assert discord.defaults is not None
    world = Stack(discord, kvid, kling, bot, BotDatabase(database), discord.defaults, env)
    try:
        await world.start_bot()
        yield world
    finally:
        await bot.stop()
        await kling.stop()
        await kvid.stop()
        await discord.stop()
    log = bot.log()
    tokens = [i.token for i in discord.interactions]
    tokens += [row["callback_token"] for row in world.job_rows() if row["callback_token"]]
    _assert_no_secrets(log, [DISCORD_TOKEN, KVID_KEY, KLING_TOKEN, *tokens])
    assert discord.internal_errors == [], discord.internal_errors
    assert not re.search(r"Traceback|ERROR", log), log[-6000:]
    world.db.check_invariants()


def _assert_no_secrets(log: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in log, "a secret or interaction token appeared in the bot's log"
