"""How fast the real bot acknowledges commands when many arrive at once.

Starts `python -m bot` against the loopback fake Discord and fake kvidAI, sends N `/video text`
commands from N different members in the same instant, and prints the time from sending each
INTERACTION_CREATE to the bot's first response (the defer). Discord's hard limit is 3 s; the
target is p99 well under 1 s with 50 commands.

Run: .venv/bin/python bench/defer_latency.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from simulator.fake_discord import FakeDiscord  # noqa: E402
from tests.e2e.harness import BotProcess, bot_env  # noqa: E402
from tests.fakes.kvid import FakeKvid, KvidScenario  # noqa: E402


async def measure(count: int) -> list[float]:
    """Latencies in seconds from sending each command to its first response."""
    discord = FakeDiscord.with_default_guild()
    await discord.start()
    kvid = FakeKvid(api_key="bench-key")
    kvid.set_default(KvidScenario(processing_polls=10_000))
    await kvid.start()
    ids = discord.defaults
    assert ids is not None
    members = [2_000_000 + n for n in range(count)]
    for user_id in members:
        discord.add_member(ids.guild_id, user_id, f"member{user_id}")
    with tempfile.TemporaryDirectory() as tmp:
        env = bot_env(
            {
                "DISCORD_TOKEN": "bench.token.value",
                "DISCORD_API_BASE": discord.api_base,
                "DISCORD_GATEWAY_URL": discord.gateway_url,
                "DATABASE_PATH": f"{tmp}/bot.sqlite3",
                "KVID_API_KEY": "bench-key",
                "KVID_BASE_URL": kvid.base_url,
                "LOG_LEVEL": "WARNING",
            }
        )
        bot = BotProcess(env, Path(tmp) / "bot.log", cwd=Path(tmp))
        await bot.start()
        try:
            await discord.wait_until_connected(timeout=30)
            await discord.wait_for_commands(timeout=30, names=("video",))
            sent: dict[int, float] = {}

            async def one(user_id: int) -> None:
                started = time.monotonic()
                interaction = await discord.invoke(
                    "video text",
                    {"prompt": f"benchmark clip for {user_id}"},
                    user_id=user_id,
                    guild_id=ids.guild_id,
                    channel_id=ids.channel_id,
                )
                sent[interaction.id] = started

            await asyncio.gather(*(one(u) for u in members))
            await discord.wait_for(
                lambda: all(i.responses for i in discord.interactions if i.id in sent), 30
            )
            latencies = []
            for interaction_id, started in sent.items():
                first = min(
                    r.time
                    for r in discord.requests
                    if r.method == "POST" and f"/interactions/{interaction_id}/" in r.path
                )
                latencies.append(first - started)
            return latencies
        finally:
            await bot.stop()
            await kvid.stop()
            await discord.stop()


def main() -> None:
    """Print the latency distribution."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    latencies = sorted(asyncio.run(measure(count)))
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(f"{count} simultaneous /video text commands, time to first response (defer):")
    worst = latencies[-1]
    print(f"  p50 {p50 * 1000:.0f} ms   p99 {p99 * 1000:.0f} ms   max {worst * 1000:.0f} ms")
    print("  Discord's limit: 3000 ms; target: p99 < 1000 ms")


if __name__ == "__main__":
    main()
