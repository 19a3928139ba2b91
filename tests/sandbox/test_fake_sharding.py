"""The fake Discord shards like Discord: routing by guild, DMs on shard 0, 4010 and 4011."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from simulator.fake_discord import FakeDiscord, FakeSettings
from simulator.fake_discord.constants import INTENT_GUILDS

BOT = {"Authorization": "Bot fake-token"}
PING = {"name": "ping", "description": "ping", "type": 1, "contexts": [0, 1, 2]}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with the default guild and a global /ping anyone can run anywhere."""
    fake = FakeDiscord.with_default_guild()
    await fake.start()
    async with aiohttp.ClientSession(headers=BOT) as session:
        url = f"{fake.api_base}/applications/{fake.application_id}/commands"
        async with session.put(url, json=[PING]) as response:
            assert response.status == 200
    try:
        yield fake
    finally:
        await fake.stop()


class Shard:
    """One raw gateway connection that identified with a `shard` array."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def identify(self, shard: Any) -> dict[str, Any] | None:
        """Send IDENTIFY; return READY's data, or None when the fake closed the connection."""
        assert (await self.ws.receive_json())["op"] == 10
        data: dict[str, Any] = {"token": "t", "intents": INTENT_GUILDS, "properties": {}}
        if shard is not None:
            data["shard"] = shard
        await self.ws.send_json({"op": 2, "d": data})
        frame = await self.ws.receive()
        if frame.type is not aiohttp.WSMsgType.TEXT:
            return None
        ready = frame.json()
        assert ready["t"] == "READY"
        return dict(ready["d"])

    async def drain(self) -> list[tuple[str, str | None]]:
        """(event, guild id) of everything dispatched so far, up to a heartbeat's ACK."""
        await self.ws.send_json({"op": 1, "d": None})
        events = []
        while (frame := await self.ws.receive_json(timeout=5))["op"] != 11:
            data = frame["d"]
            guild = data["id"] if frame["t"] == "GUILD_CREATE" else data.get("guild_id")
            events.append((frame["t"], guild))
        return events


async def test_gateway_bot_recommends_a_shard_count() -> None:
    """GET /gateway/bot answers `shards`: one per 1,000 guilds, or what the test set."""
    for fake, expected in (
        (FakeDiscord.with_default_guild(), 1),
        (FakeDiscord(FakeSettings(recommended_shards=3)), 3),
    ):
        await fake.start()
        try:
            async with (
                aiohttp.ClientSession(headers=BOT) as session,
                session.get(f"{fake.api_base}/gateway/bot") as response,
            ):
                body = await response.json()
        finally:
            await fake.stop()
        assert body["shards"] == expected
        assert body["session_start_limit"]["max_concurrency"] == 1


async def test_each_shard_receives_only_its_guilds_and_dms_go_to_shard_zero(
    fake: FakeDiscord,
) -> None:
    """READY, GUILD_CREATE and INTERACTION_CREATE follow (guild_id >> 22) % count."""
    assert fake.defaults is not None
    home = fake.defaults.guild_id
    home_shard = (home >> 22) % 2
    other = fake.new_id(shard=(1 - home_shard, 2))
    assert (other >> 22) % 2 == 1 - home_shard
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(fake.gateway_url) as ws0,
        session.ws_connect(fake.gateway_url) as ws1,
    ):
        shards = {0: Shard(ws0), 1: Shard(ws1)}
        for shard_id, shard in shards.items():
            ready = await shard.identify([shard_id, 2])
            assert ready is not None
            assert ready["shard"] == [shard_id, 2]
            expected = [str(home)] if shard_id == home_shard else []
            assert [g["id"] for g in ready["guilds"]] == expected
        assert sorted(str(c.shard) for c in fake.connections) == ["(0, 2)", "(1, 2)"]

        fake.add_guild(other, "Other", owner_id=fake.defaults.owner_id)
        fake.add_channel(other, fake.new_id(), "general")
        await fake.invoke("ping", user_id=fake.defaults.user_id, guild_id=home)
        await fake.invoke("ping", user_id=fake.defaults.user_id, dm=True)
        received = {shard_id: await shard.drain() for shard_id, shard in shards.items()}
    home_events = [("GUILD_CREATE", str(home)), ("INTERACTION_CREATE", str(home))]
    other_events = [("GUILD_CREATE", str(other)), ("CHANNEL_CREATE", str(other))]
    dm_events = [("INTERACTION_CREATE", None)]
    assert received[home_shard] == home_events + (dm_events if home_shard == 0 else [])
    assert received[1 - home_shard] == other_events + (dm_events if home_shard == 1 else [])


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [0], "0,1", [0.0, 1]])
async def test_an_invalid_shard_is_closed_with_4010(fake: FakeDiscord, shard: Any) -> None:
    """A shard id outside 0..count-1, or a malformed array, is Discord's 4010 Invalid shard."""
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.gateway_url) as ws:
        assert await Shard(ws).identify(shard) is None
        assert ws.close_code == 4010
    assert fake.connections[-1].session_id is None
    assert fake.connections[-1].close_code == 4010


async def test_a_session_over_the_guild_limit_is_closed_with_4011() -> None:
    """Too many guilds for one session is 4011 Sharding required; splitting them connects."""
    fake = FakeDiscord(FakeSettings(max_guilds_per_shard=1))
    await fake.start()
    try:
        owner = fake.settings.application_owner_id
        for shard_id in (0, 1):
            fake.add_guild(fake.new_id(shard=(shard_id, 2)), f"g{shard_id}", owner_id=owner)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(fake.gateway_url) as ws:
                assert await Shard(ws).identify(None) is None
                assert ws.close_code == 4011
            async with session.ws_connect(fake.gateway_url) as ws:
                ready = await Shard(ws).identify([1, 2])
                assert ready is not None
                assert len(ready["guilds"]) == 1
    finally:
        await fake.stop()
