"""Three bot processes on one PostgreSQL database; one is SIGKILLed and the others take over.

Three processes run one shard each (SHARD_COUNT=3) against one fake Discord, one fake kvidAI
and one fake Kling, and share the test's PostgreSQL schema. Members in servers on every shard
ask for videos (kvidAI and Kling, successes and failures, a seeded mix). Once a seeded number of
commands was sent, the test waits until a seeded process holds claimed steps (slow kvidAI status
answers keep its polls in flight) and SIGKILLs it. It is not restarted: its shard's servers get
no more commands, the others keep getting them. At the end every job must be final and its
outcome posted exactly once (one outcome message per job, one upload of each success's video),
every hold resolved once and the ledger consistent; each step the dead process held must have
been taken by a survivor after its lease ended, within LEASE_SECONDS of the kill plus a margin
(measured by watching the jobs table), and every job created in the dead process's servers must
have been delivered by the survivors.

Replay a run with `SEVERAL_SEED=<seed>` (printed first): it fixes the mix, the members, the
pacing, which process dies and when; the processes' own timing still varies. More jobs:
`SEVERAL_PROCESSES_LONG=1`, or `SEVERAL_JOBS=<n>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from simulator.fake_discord import FakeDiscord, FakeInteraction, FakeMessage
from simulator.process import BotProcess, bot_env
from tests.e2e.conftest import DISCORD_TOKEN, KLING_TOKEN, KVID_KEY, fakes_env
from tests.e2e.harness import BotDatabase
from tests.e2e.seeded import announced_seed, scenario_chooser
from tests.fakes.acedata import FakeAceData, KlingScenario
from tests.fakes.kvid import FakeKvid, KvidScenario
from tests.fakes.media import make_mp4, pad_mp4
from tests.postgres import Schema

LONG = os.environ.get("SEVERAL_PROCESSES_LONG", "") not in ("", "0")
JOBS = int(os.environ.get("SEVERAL_JOBS", "150" if LONG else "36"))
TIMEOUT = 90 + (2 * JOBS if LONG else 0)
PROCESSES = 3
GUILDS_PER_SHARD = 2
MEMBERS = 4
LEASE = 3.0
# A survivor looks again when the earliest lease ends; the margin covers its pass and our
# 50 ms look at the table on a busy machine.
MARGIN = 1.5
WEIGHTS = {"kvid_ok": 5, "kvid_fail": 1, "kling_ok": 4, "kling_fail": 1}
PROMPT = re.compile(r"^several (\d+) (\w+)$")
ACTIVE = ("queued", "submitting", "running")


@dataclass
class Node:
    """One bot process, the shard it runs and the servers on that shard."""

    shard: int
    name: str
    bot: BotProcess
    guilds: list[tuple[int, int]]  # (guild id, channel id)


@dataclass
class Planned:
    """One /video sent, and what the fakes make of it."""

    index: int
    kind: str
    shard: int
    guild_id: int
    user_id: int
    interaction: FakeInteraction
    after_kill: bool


@dataclass
class Takeover:
    """A step the dead process held, and when a survivor took it."""

    version: int
    delivery: bool
    lease_end: float  # epoch seconds, the bot's clock
    taken_at: float | None = None  # epoch seconds, first seen changed
    taken_by: str | None = None


@dataclass
class Cluster:
    """The fakes, the three processes and the shared database."""

    discord: FakeDiscord
    kvid: FakeKvid
    kling: FakeAceData
    nodes: list[Node]
    schema: Schema
    members: list[int]
    plans: list[Planned] = field(default_factory=list)


@pytest.fixture
async def cluster(tmp_path: Path, postgres: Schema) -> AsyncIterator[Cluster]:
    """Three processes, SHARD_IDS 0, 1 and 2 of 3, on the test's schema; all shards READY."""
    discord = FakeDiscord.with_default_guild()
    await discord.start()
    kvid = await FakeKvid(api_key=KVID_KEY).start()
    kling = await FakeAceData(token=KLING_TOKEN).start()
    owner = discord.settings.application_owner_id
    members = [1300000000000009000 + n for n in range(MEMBERS)]
    nodes: list[Node] = []
    for shard in range(PROCESSES):
        guilds = []
        for n in range(GUILDS_PER_SHARD):
            guild_id = discord.new_id(shard=(shard, PROCESSES))
            discord.add_guild(guild_id, f"Shard {shard} server {n}", owner_id=owner)
            channel_id = discord.add_channel(guild_id, discord.new_id(), "general").id
            for number, user_id in enumerate(members):
                discord.add_member(guild_id, user_id, f"member{number}")
            guilds.append((guild_id, channel_id))
        folder = tmp_path / f"proc{shard}"
        folder.mkdir()
        env = bot_env(
            {
                **fakes_env(discord, kvid, kling),
                "DATABASE_URL": postgres.url,
                "DATA_DIR": str(folder),
                "INSTANCE_NAME": f"proc{shard}",
                "SHARD_COUNT": str(PROCESSES),
                "SHARD_IDS": str(shard),
                "LEASE_SECONDS": str(LEASE),
                "MAX_CONCURRENT_JOBS": "0",
                "STARTING_CREDITS": "1000000",
                "REFILL_CAP": "1000000",
            }
        )
        bot = BotProcess(env, folder / "bot.log", cwd=folder)
        nodes.append(Node(shard, f"proc{shard}", bot, guilds))
    world = Cluster(discord, kvid, kling, nodes, postgres, members)
    try:
        await asyncio.gather(*(node.bot.start() for node in nodes))
        wanted = {(shard, PROCESSES) for shard in range(PROCESSES)}
        try:
            await discord.wait_for(
                lambda: {c.shard for c in discord.connections if c.open and c.session_id} == wanted,
                45,
                description="every shard READY",
            )
            await discord.wait_for_commands(timeout=30, names=("video",))
        except TimeoutError:
            logs = "\n".join(node.bot.log()[-3000:] for node in nodes)
            raise AssertionError(f"the processes did not come up:\n{logs}") from None
        yield world
    finally:
        for node in nodes:
            await node.bot.stop()
        await kling.stop()
        await kvid.stop()
        await discord.stop()
    assert discord.internal_errors == [], discord.internal_errors
    for node in nodes:
        log = node.bot.log()
        for secret in (DISCORD_TOKEN, KVID_KEY, KLING_TOKEN):
            assert secret not in log, f"{node.name} logged a secret"
        assert not re.search(r"Traceback|ERROR", log), f"{node.name}:\n{log[-6000:]}"


def video_of(base: bytes, index: int) -> bytes:
    """The exact bytes the provider serves for a planned job (unique by their padding).

    Some 200 KiB: served in 64 KiB chunks by a slow CDN, its download keeps a delivery claimed.
    """
    return pad_mp4(base, 200_000 + index)


def uploaded(discord: FakeDiscord, names: list[str]) -> bool:
    """Whether Discord has accepted a file by one of these names."""
    return any(a.filename in names for a in discord.attachments_created)


def outcome_messages(discord: FakeDiscord, job_id: str) -> list[FakeMessage]:
    """Messages showing a job's outcome: its buttons and text above them, no Cancel button.

    The outcome is the only message (or card edit) with text that names the job and cannot
    cancel it, on the card or as a new message in the channel (bot/ui/presenter.py).
    """
    suffix, cancel = f":{job_id}", f"video:cancel:{job_id}"
    return [
        m
        for m in discord.messages
        if not m.deleted
        and m.content
        and any(c.endswith(suffix) for c in m.custom_ids)
        and cancel not in m.custom_ids
    ]


@pytest.mark.timeout(TIMEOUT)
async def test_survivors_take_over_a_killed_process(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = announced_seed("SEVERAL_SEED", capsys, "several processes", f"jobs={JOBS}")
    context = f"SEVERAL_SEED={seed}"
    started = time.monotonic()
    rng = random.Random(seed)
    base = make_mp4(320, 180, seconds=0.25, fps=8)
    discord = cluster.discord

    def kvid_scenario(r: random.Random, index: int, kind: str) -> KvidScenario:
        # Slow status answers: a poll holds its claim for most of a second, so the process
        # that dies is caught holding steps.
        polls, delay = r.randint(1, 3), r.uniform(0.3, 0.9)
        if kind == "kvid_fail":
            return KvidScenario(
                processing_polls=polls, delay_seconds=delay, outcome="failed", error_message="boom"
            )
        return KvidScenario(
            processing_polls=polls,
            delay_seconds=delay,
            estimated_time="1s",
            result_bytes=video_of(base, index),
            chunk_delay=r.uniform(0.0, 0.25),
        )

    def kling_scenario(r: random.Random, index: int, kind: str) -> KlingScenario:
        seconds = r.uniform(0.5, 3.0)
        if kind == "kling_fail":
            return KlingScenario(seconds_until_done=seconds, outcome="failed")
        return KlingScenario(seconds_until_done=seconds, result_bytes=video_of(base, index))

    cluster.kvid.choose = scenario_chooser(seed, PROMPT, kvid_scenario)
    cluster.kling.choose = scenario_chooser(seed, PROMPT, kling_scenario)

    victim = cluster.nodes[rng.randrange(PROCESSES)]
    survivors = [node for node in cluster.nodes if node is not victim]
    kill_after = rng.randint(JOBS // 3, JOBS // 2)
    # What the victim must hold when it dies: steps (submits, polls), a delivery, or either;
    # "upload": a delivery, and it dies the moment Discord took that job's video (sent, not
    # yet recorded: whoever takes it over must find it, not post it again).
    aim = rng.choice(("steps", "delivery", "upload", "any"))
    want_held = 1 if aim in ("delivery", "upload") else rng.randint(1, 3)
    watch = await asyncpg.connect(cluster.schema.url, timeout=5)
    try:

        async def send(shards: list[Node], after_kill: bool) -> None:
            index = len(cluster.plans)
            kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            # The first commands go one to each shard, so every process starts some jobs.
            node = shards[index] if index < len(shards) else rng.choice(shards)
            guild_id, channel_id = rng.choice(node.guilds)
            user_id = rng.choice(cluster.members)
            interaction = await discord.invoke(
                "video text",
                {"prompt": f"several {index} {kind}", "provider": kind.split("_")[0]},
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
            )
            cluster.plans.append(
                Planned(index, kind, node.shard, guild_id, user_id, interaction, after_kill)
            )
            await asyncio.sleep(rng.uniform(0.0, 0.2))

        async def held_by(node: Node) -> dict[str, Takeover]:
            rows = await watch.fetch(
                "SELECT id, version, state, next_poll_at, deliver_at FROM jobs "
                "WHERE lease_owner LIKE $1 AND (state IN ('queued', 'submitting', 'running') "
                "OR delivery_state = 'delivering')",
                f"{node.name}/%",
            )
            return {
                str(r["id"]): Takeover(
                    r["version"],
                    r["state"] not in ACTIVE,
                    r["next_poll_at"] if r["state"] in ACTIVE else r["deliver_at"],
                )
                for r in rows
            }

        # Before the kill: commands to every shard, until the victim is caught holding what
        # the seed aims at (more commands keep work flowing while it is not).
        while len(cluster.plans) < kill_after:
            await send(cluster.nodes, after_kill=False)
        deadline = time.monotonic() + 20
        while True:
            if len(cluster.plans) < JOBS - PROCESSES:
                await send(cluster.nodes, after_kill=False)
            else:
                await asyncio.sleep(0.02)
            holding = [
                f"{job_id}.mp4"
                for job_id, t in (await held_by(victim)).items()
                if aim == "any" or t.delivery == (aim in ("delivery", "upload"))
            ]
            if len(holding) >= want_held:
                if aim != "upload":
                    break
                # (A failure has no video: then the wait ends and another delivery is looked for.)
                with contextlib.suppress(TimeoutError):
                    await discord.wait_for(lambda names=holding: uploaded(discord, names), 2)
                    break
            assert time.monotonic() < deadline, f"{context}: {victim.name} never held {aim}"
        # Taken before the signal: the lease clock starts at the last renewal, never later.
        killed_at = time.time()
        await victim.bot.kill()
        held = await held_by(victim)
        assert held, f"{context}: {victim.name} held no step when it died"

        async def watch_takeovers() -> None:
            while any(t.taken_at is None for t in held.values()):
                rows = await watch.fetch(
                    "SELECT id, version, lease_owner FROM jobs WHERE id = ANY($1::text[])",
                    [job_id for job_id, t in held.items() if t.taken_at is None],
                )
                now = time.time()
                for row in rows:
                    taken = held[str(row["id"])]
                    if row["version"] != taken.version:
                        taken.taken_at, taken.taken_by = now, row["lease_owner"]
                if now - killed_at > LEASE + 20:
                    return
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch_takeovers())
        # After the kill: commands only to the live shards (the dead one has no listener).
        while len(cluster.plans) < JOBS:
            await send(survivors, after_kill=True)
        await watcher

        async def settled() -> bool:
            rows = await watch.fetch(
                "SELECT interaction_id, state, delivery_state FROM jobs",
            )
            made = {int(r["interaction_id"]) for r in rows}
            live_done = all(p.interaction.id in made for p in cluster.plans if p.after_kill)
            return live_done and all(
                r["state"] not in ACTIVE and r["delivery_state"] in ("delivered", "parked")
                for r in rows
            )

        calm_deadline = time.monotonic() + max(30.0, TIMEOUT - 15 - (time.monotonic() - started))
        while not await settled():
            if time.monotonic() > calm_deadline:
                unsettled = await watch.fetch(
                    "SELECT id, state, delivery_state, lease_owner, next_poll_at, deliver_at "
                    "FROM jobs WHERE state IN ('queued', 'submitting', 'running') "
                    "OR delivery_state NOT IN ('delivered', 'parked')"
                )
                raise AssertionError(f"{context}: jobs unsettled: {[dict(r) for r in unsettled]}")
            await asyncio.sleep(0.2)
        rows = {str(r["id"]): dict(r) for r in await watch.fetch("SELECT * FROM jobs")}
        ledger = Counter(
            (str(r["job_id"]), str(r["kind"]))
            for r in await watch.fetch("SELECT job_id, kind FROM ledger WHERE job_id IS NOT NULL")
        )
    finally:
        await watch.close()

    # -- the verdict ----------------------------------------------------------------------------
    problems: list[str] = []
    by_interaction = {int(r["interaction_id"]): job_id for job_id, r in rows.items()}
    uploads = [a for a in discord.attachments_created if a.filename.endswith(".mp4")]
    outcomes: Counter[str] = Counter()
    duplicates = lost = 0
    cut = [p for p in cluster.plans if p.interaction.id not in by_interaction]
    for plan in cut:
        # Only a command the dead process was answering as it died may have made no job.
        if plan.after_kill or plan.shard != victim.shard:
            problems.append(f"command {plan.index} ({plan.kind}) on shard {plan.shard}: no job")
    for plan in cluster.plans:
        job_id = by_interaction.get(plan.interaction.id)
        if job_id is None:
            continue
        row = rows[job_id]
        outcomes[f"{plan.kind}:{row['state']}"] += 1
        posted = outcome_messages(discord, job_id)
        if len(posted) > 1:
            duplicates += len(posted) - 1
            problems.append(f"job {job_id} ({plan.kind}): outcome posted {len(posted)} times")
        if row["delivery_state"] != "delivered" or not posted:
            lost += 1
            problems.append(f"job {job_id} ({plan.kind}): {row['delivery_state']}, posted {posted}")
        carried = [a for a in uploads if a.data == video_of(base, plan.index)]
        # A step taken over while it was submitting is refunded: nobody knows if kvid got it.
        interrupted = row["failure_code"] == "interrupted" and job_id in held
        expected = "failed" if plan.kind.endswith("fail") or interrupted else "succeeded"
        if row["state"] != expected:
            problems.append(f"job {job_id} ({plan.kind}): {row['state']} {row['failure_code']}")
        if len(carried) != (1 if row["state"] == "succeeded" else 0):
            duplicates += max(0, len(carried) - 1)
            problems.append(f"job {job_id} ({plan.kind}): its video uploaded {len(carried)} times")
        captured = row["state"] == "succeeded"
        want = {"hold": 1, "capture": int(captured), "release": int(not captured)}
        got = {kind: ledger[(job_id, kind)] for kind in want}
        if got != want:
            problems.append(f"job {job_id}: ledger rows {got}, expected {want}")
    victims_jobs = [
        p for p in cluster.plans if p.shard == victim.shard and p.interaction.id in by_interaction
    ]
    if not victims_jobs:
        problems.append(f"no job was created in {victim.name}'s servers before it died")
    # Delivered after the kill: by a survivor, through REST (the dead process's cards are gone).
    victims_late = sum(
        1
        for p in victims_jobs
        if float(rows[by_interaction[p.interaction.id]]["delivered_at"] or 0) > killed_at
    )
    seconds = sorted(t.taken_at - killed_at for t in held.values() if t.taken_at is not None)
    for job_id, taken in held.items():
        if taken.taken_at is None:
            problems.append(f"job {job_id}: held by {victim.name}, never taken over")
            continue
        # Seen after the taker's step ended (no owner), or while a survivor holds it.
        owners = tuple(f"{node.name}/" for node in survivors)
        if taken.taken_by is not None and not taken.taken_by.startswith(owners):
            problems.append(f"job {job_id}: taken by {taken.taken_by}")
        if taken.taken_at < taken.lease_end:
            problems.append(f"job {job_id}: taken {taken.lease_end - taken.taken_at:.2f}s early")
        if taken.taken_at - killed_at > LEASE + MARGIN:
            problems.append(f"job {job_id}: taken over {taken.taken_at - killed_at:.2f}s after")
    problems += [f"fake Discord failed: {e[:2000]}" for e in discord.internal_errors]
    summary = (
        f"several processes: seed={seed} processes={PROCESSES} jobs={len(rows)} (of "
        f"{len(cluster.plans)} commands, {len(cut)} cut by the kill) "
        f"outcomes={dict(sorted(outcomes.items()))} kills=1 victim={victim.name} aim={aim} "
        f"victim_jobs={len(victims_jobs)} ({victims_late} delivered by survivors) "
        f"held_at_kill={len(held)} "
        f"({sum(t.delivery for t in held.values())} deliveries) "
        f"takeover_s=min {seconds[0] if seconds else float('nan'):.2f} "
        f"max {seconds[-1] if seconds else float('nan'):.2f} (lease {LEASE:.0f}) "
        f"duplicates={duplicates} lost={lost} wall={time.monotonic() - started:.1f}s"
    )
    with capsys.disabled():
        print(summary, flush=True)
    assert problems == [], f"{summary}\n" + "\n".join(problems)
    BotDatabase(cluster.schema.url).check_invariants()
