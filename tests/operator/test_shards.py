"""Two bot processes split the gateway shards: each answers its own servers, one publishes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator.fake_discord import FakeDiscord
from simulator.process import BotProcess, bot_env
from tests.e2e.harness import BotDatabase
from tests.operator.support import fake_discord_settings

TOKEN = "MTMwMDAwMDAwMDAwMDAwMDEwMA.shards-test.secret-token-value"
SHARD_COUNT = 2


@dataclass
class Cluster:
    """The fake Discord, a server on each shard, and one bot process (and database) per shard."""

    fake: FakeDiscord
    guilds: dict[int, tuple[int, int]]  # shard id -> (guild id, channel id)
    bots: dict[int, BotProcess]
    databases: dict[int, BotDatabase]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Two processes, SHARD_COUNT=2 with SHARD_IDS=0 and 1, started together."""
    fake = FakeDiscord.with_default_guild()
    await fake.start()
    ids = fake.defaults
    assert ids is not None
    home_shard = (ids.guild_id >> 22) % SHARD_COUNT
    other = fake.new_id(shard=(1 - home_shard, SHARD_COUNT))
    fake.add_guild(other, "Second Guild", owner_id=ids.owner_id)
    channel = fake.add_channel(other, fake.new_id(), "general").id
    fake.add_member(other, ids.user_id, "alice")
    guilds = {home_shard: (ids.guild_id, ids.channel_id), 1 - home_shard: (other, channel)}
    bots, databases = {}, {}
    for shard_id in range(SHARD_COUNT):
        folder = tmp_path / f"shard{shard_id}"
        folder.mkdir()
        databases[shard_id] = BotDatabase(folder / "bot.sqlite3")
        env = bot_env(
            {
                **fake_discord_settings(fake, TOKEN),
                # SQLite is one process's database; with PostgreSQL both would share one.
                "DATABASE_PATH": str(databases[shard_id].path),
                "INSTANCE_NAME": f"shard-{shard_id}",
                "SHARD_COUNT": str(SHARD_COUNT),
                "SHARD_IDS": str(shard_id),
            }
        )
        bots[shard_id] = BotProcess(env, folder / "bot.log", cwd=folder)
    try:
        await asyncio.gather(*(bot.start() for bot in bots.values()))
        try:
            await fake.wait_for(
                lambda: (
                    {c.shard for c in fake.connections if c.open and c.session_id}
                    == {(0, SHARD_COUNT), (1, SHARD_COUNT)}
                ),
                30,
                description="both shards connected",
            )
        except TimeoutError:
            raise AssertionError("\n".join(bot.log()[-3000:] for bot in bots.values())) from None
        yield Cluster(fake, guilds, bots, databases)
    finally:
        for bot in bots.values():
            await bot.stop()
        await fake.stop()
    assert fake.internal_errors == []
    for bot in bots.values():
        assert not re.search(r"Traceback|ERROR", bot.log()), bot.log()[-4000:]
        assert TOKEN not in bot.log()


async def test_each_process_answers_only_its_shards_servers(cluster: Cluster) -> None:
    """/credits balance in a server on each shard: only that shard's process knows the member."""
    fake, ids = cluster.fake, cluster.fake.defaults
    assert ids is not None
    await fake.wait_for_commands(30, names=("credits",))
    for guild_id, channel_id in cluster.guilds.values():
        interaction = await fake.invoke(
            "credits balance", user_id=ids.user_id, guild_id=guild_id, channel_id=channel_id
        )
        await interaction.wait_for_original(lambda m: m.embeds and not m.loading, timeout=15)
    for shard_id, database in cluster.databases.items():
        members = database.rows("SELECT DISTINCT guild_id FROM members")
        assert [row["guild_id"] for row in members] == [cluster.guilds[shard_id][0]]


async def test_only_the_process_running_shard_zero_publishes_the_commands(
    cluster: Cluster,
) -> None:
    """Started together, the two processes publish the commands once, not once each."""
    fake = cluster.fake
    await fake.wait_for_commands(30, names=("video", "credits"))
    puts = fake.requests_matching("PUT", r"/applications/\d+/commands$")
    assert len(puts) == 1
    assert "application commands are published by the process running shard 0" in (
        cluster.bots[1].log()
    )
    assert cluster.databases[0].rows("SELECT key FROM meta WHERE key = 'commands_digest'")
    assert not cluster.databases[1].rows("SELECT key FROM meta WHERE key = 'commands_digest'")
