"""A steady-rate load driver: the real bot process against the fake Discord and fake kvidAI.

`run_load` starts both fakes on 127.0.0.1 and `python -m bot` (the working tree's, or another
checkout's), sends `/video text` from many members at a fixed rate without waiting for answers
(an open-loop schedule), waits until every job is delivered or a deadline passes, and returns a
`LoadReport`: acknowledgement latency, late/duplicate/lost answers, jobs in flight, the bot's
CPU and memory, and requests per job. `bench/load.py` and `tests/e2e/test_load.py` use it.

The bot runs on SQLite (one process) or, given a `postgresql://` URL, on PostgreSQL, as one
process or several that split the gateway shards (`SHARD_COUNT` = the number of processes,
`SHARD_IDS` = each one's index); the guilds are spread evenly over the shards.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlencode

from simulator.fake_discord import FakeDiscord, FakeInteraction
from simulator.fake_discord.constants import EPHEMERAL
from tests.e2e.harness import BotDatabase, BotProcess, bot_env
from tests.fakes.kvid import FakeKvid, KvidScenario
from tests.fakes.media import make_mp4

TOKEN = "MTMwMDAwMDAwMDAwMDAwMDEwMA.fake-bot-token.load-secret"
KVID_KEY = "kvid-load-secret-key"
TERMINAL_STATES = ("succeeded", "failed", "cancelled")
DEFER = 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
# 12 guilds: (guild_id >> 22) % 12 == index, so 1, 2, 3, 4 or 6 shards each get an equal share.
GUILDS = 12
MEMBERS = 1_000
FIRST_GUILD = 1_500_000_000_000_000_000
FIRST_MEMBER = 1_510_000_000_000_000_000
CALLBACK_RE = re.compile(r"^/interactions/(\d+)/[^/]+/callback$")
MP4_NAME_RE = re.compile(r"^(.+)\.mp4$")
SAMPLE_EVERY = 1.0
LAG_PROBE_EVERY = 0.1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class LoadPlan:
    """A load run: `rate` commands/s for `seconds`, each job taking `job_seconds` at the fake."""

    rate: float
    seconds: float
    job_seconds: float
    poll_interval: float
    # How long the bot may take to deliver what was sent before the run counts it lost.
    drain_timeout: float
    label: str = "current"
    # How long to keep watching after everything was delivered, so a late duplicate still
    # counts; None: one poll interval plus a second, at most 10 s.
    settle_seconds: float | None = None

    def settle(self) -> float:
        """The settle time in seconds, defaults applied."""
        if self.settle_seconds is not None:
            return self.settle_seconds
        return min(self.poll_interval + 1.0, 10.0)


@dataclass(frozen=True)
class LoadReport:
    """What one load run measured; `format()` prints it."""

    label: str
    rate: float
    seconds: float
    job_seconds: float
    poll_interval: float
    processes: int  # bot processes (each its own gateway shards when more than one)
    sent: int
    unsent: int  # commands the fake could not deliver (the bot's gateway was down too long)
    send_seconds: float  # first to last command actually sent
    send_lag_max_ms: float  # how far behind its schedule the sender fell at worst
    ack_p50_ms: float | None
    ack_p95_ms: float | None
    ack_p99_ms: float | None
    ack_max_ms: float | None
    late: int  # answered with 10062 (after 3 s) or never answered
    refused: int  # answered in time but no job was created (a private refusal)
    accepted: int  # a job row exists for the interaction
    delivered: int  # jobs whose MP4 reached Discord at least once
    duplicates: int  # jobs whose MP4 reached Discord more than once
    extra_uploads: int  # uploads beyond the first, summed over those jobs
    other_mp4_uploads: int  # MP4 uploads whose name is no job's `<job id>.mp4`
    lost: int  # accepted jobs whose MP4 never arrived
    failed: int  # of the lost, those the bot itself marked failed or cancelled
    peak_in_flight: int
    drained: bool  # every job finished and was delivered before the drain timeout
    drain_seconds: float  # from the last command sent to the end of the drain
    bot_cpu_seconds: float | None  # during the load (start-up excluded), every process and child
    cpu_ms_per_job: float | None  # bot_cpu_seconds / delivered
    bot_cpu_share: float | None  # bot CPU / wall time of the load (1.0 = one core)
    database_cpu_ms_per_job: float | None  # this run's PostgreSQL backends; None on SQLite
    machine_busy_share: float  # every core of the machine, anyone's work (1.0 = all cores busy)
    peak_rss_mb: float  # the largest VmHWM of the bot's processes
    provider_requests_per_job: float | None
    discord_requests_per_job: float | None
    driver_cpu_seconds: float  # this process: the fakes and the sender
    driver_cpu_share: float  # driver CPU / wall time of the load (1.0 = one core saturated)
    loop_lag_p99_ms: float  # the driver's event loop lag; high means the driver is the limit
    loop_lag_max_ms: float
    bot_exit_code: int | None  # None: still running when the run ended (good)
    bot_log_errors: int  # "Traceback" and " ERROR " lines in the bot's log
    wall_seconds: float

    def format(self) -> str:
        """A readable multi-line summary."""
        lines = [
            f"{self.label}: {self.sent} commands at {self.rate:g}/s for {self.seconds:g} s "
            f"(jobs {self.job_seconds:g} s, polled every {self.poll_interval:g} s)",
        ]
        for name, value in self.rows():
            lines.append(f"  {name:<28} {value}")
        return "\n".join(lines)

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) pairs of every figure, as text."""
        out = []
        for f in fields(self):
            if f.name in ("label", "rate", "seconds", "job_seconds", "poll_interval"):
                continue
            out.append((f.name, _text(getattr(self, f.name))))
        return out


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


# -- the bot process as seen from /proc ----------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """Live child processes of `pid`, recursively (Linux /proc)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                for child in map(int, text.split()):
                    found += [child, *_descendants(child)]
    return found


def _own_cpu(pid: int) -> float:
    """utime + stime + reaped children's, in seconds; 0 when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may contain spaces; fields after the closing parenthesis are fixed.
    after = stat.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in after[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds used by `pid` and every child, reaped or alive."""
    return _own_cpu(pid) + sum(_own_cpu(child) for child in _descendants(pid))


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MiB; 0 when gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Jobs:
    """Read-only view of the bot's jobs table; the schema may gain states and columns."""

    def __init__(self, where: Path | str) -> None:
        self.db = BotDatabase(where)
        self._has_delivered_at: bool | None = None

    def _delivered_at(self) -> bool:
        if self._has_delivered_at is None:
            if self.db.url is not None:
                columns = self.db.rows(
                    "SELECT column_name AS name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'jobs'"
                )
            else:
                columns = self.db.rows("PRAGMA table_info(jobs)")
            self._has_delivered_at = any(c["name"] == "delivered_at" for c in columns)
        return self._has_delivered_at

    def in_flight(self) -> int:
        """Jobs not yet finished (any non-terminal state) or finished but not yet delivered."""
        marks = ", ".join("?" * len(TERMINAL_STATES))
        done = f"state IN ({marks})"
        if self._delivered_at():
            done += " AND delivered_at IS NOT NULL"
        rows = self.db.rows(f"SELECT COUNT(*) AS n FROM jobs WHERE NOT ({done})", TERMINAL_STATES)
        return int(rows[0]["n"])  # type: ignore[call-overload]

    def by_interaction(self) -> dict[int, tuple[str, str]]:
        """interaction id -> (job id, state)."""
        rows = self.db.rows("SELECT id, interaction_id, state FROM jobs")
        return {
            int(r["interaction_id"]): (str(r["id"]), str(r["state"]))  # type: ignore[call-overload]
            for r in rows
            if r["interaction_id"] is not None
        }


class _Backends:
    """CPU of the PostgreSQL server processes serving this run's bots (same machine, /proc).

    The bots connect with `application_name` set; a backend seen before the load starts counts
    from there, one that appears later counts whole. A backend that exits between two samples
    loses at most a sample's worth.
    """

    def __init__(self, url: str, application_name: str) -> None:
        self.db = BotDatabase(url)
        self.name = application_name
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.started = False

    def sample(self) -> None:
        rows = self.db.rows(
            "SELECT pid FROM pg_stat_activity WHERE application_name = ?", (self.name,)
        )
        for row in rows:
            pid = int(row["pid"])  # type: ignore[call-overload]
            cpu = _own_cpu(pid)
            if cpu == 0.0:
                continue
            self.last[pid] = cpu
            if not self.started:
                self.start[pid] = cpu

    def begin(self) -> None:
        self.sample()
        self.started = True

    def cpu_seconds(self) -> float:
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.last.items())


def _machine_times() -> tuple[float, float]:
    """(busy, total) clock ticks of every core since boot, from /proc/stat."""
    values = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def shard_of(guild_id: int, shard_count: int) -> int:
    """The gateway shard Discord routes a guild's events to."""
    return (guild_id >> 22) % shard_count


def guild_ids(count: int = GUILDS) -> list[int]:
    """`count` guild ids, the i-th on shard i of `count` (so any divisor spreads them evenly)."""
    base = FIRST_GUILD >> 22
    base -= base % count
    return [(base + i) << 22 for i in range(count)]


# -- the run -------------------------------------------------------------------------------------


def _add_members(discord: FakeDiscord) -> list[tuple[int, int, int]]:
    """A few guilds with one channel and many members each; (guild, channel, user) per member."""
    places = []
    guilds = guild_ids()
    for g, guild_id in enumerate(guilds):
        discord.add_guild(guild_id, f"Load {g}", owner_id=discord.settings.application_owner_id)
        discord.add_channel(guild_id, guild_id + 1, "videos")
    # Member m is in guild m % GUILDS: consecutive commands land in different guilds, channels
    # and (with several processes) shards.
    for m in range(MEMBERS):
        guild_id = guilds[m % GUILDS]
        user_id = FIRST_MEMBER + m
        discord.add_member(guild_id, user_id, f"member{m}")
        places.append((guild_id, guild_id + 1, user_id))
    return places


def _check_source(env: dict[str, str], cwd: Path, source: Path) -> None:
    """Make sure a child started like the bot imports `bot` and `cogs` from `source`."""
    probe = "import bot, cogs; print(bot.__file__); print(cogs.__file__)"
    path = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    child_env = dict(env, PYTHONPATH=path)
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, env=child_env, capture_output=True, text=True
    )
    paths = out.stdout.split()
    if out.returncode or not all(Path(p).resolve().is_relative_to(source.resolve()) for p in paths):
        raise RuntimeError(f"the bot would not run from {source}: {out.stdout}{out.stderr}")


def _with_query(url: str, **params: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode(params)}"


async def run_load(
    bot_source: Path | None,
    plan: LoadPlan,
    *,
    tmp: Path,
    database_url: str | None = None,
    processes: int = 1,
    during: Callable[[list[int]], Awaitable[object]] | None = None,
) -> LoadReport:
    """Drive the plan's commands through the real bot and measure what happened.

    bot_source: None runs the working tree's bot; a path runs the `bot` package of that checkout.
    database_url: a `postgresql://` URL (an empty database or schema) instead of a SQLite file.
    processes: bot processes sharing the database, each with its own gateway shard (more than
    one needs `database_url`).
    during: started with the bot processes' ids when the sending starts (a profiler, say);
    awaited before the report is made.
    """
    if processes > 1 and database_url is None:
        raise ValueError("several bot processes share a PostgreSQL database, not a SQLite file")
    tmp.mkdir(parents=True, exist_ok=True)
    discord = FakeDiscord()
    places = _add_members(discord)
    await discord.start()
    kvid = FakeKvid(api_key=KVID_KEY)
    # One small real clip, encoded once and served for every job.
    kvid.set_default(
        KvidScenario(
            processing_seconds=plan.job_seconds,
            estimated_time=f"{plan.job_seconds:g}s",
            result_bytes=make_mp4(),
        )
    )
    await kvid.start()
    common = {
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "KVID_API_KEY": KVID_KEY,
        "KVID_BASE_URL": kvid.base_url,
        "KVID_POLL_INTERVAL": f"{plan.poll_interval:g}",
        "LOG_LEVEL": "WARNING",
        # Members have enough credits and no per-member cap: nothing should be refused.
        "STARTING_CREDITS": "1000000",
        "MAX_CONCURRENT_JOBS": "0",
    }
    backends = None
    if database_url is None:
        where: Path | str = tmp / "bot.sqlite3"
        common["DATABASE_PATH"] = str(where)
    else:
        where = database_url
        application_name = f"loadbench-{os.getpid()}-{id(tmp) % 10_000}"
        common["DATABASE_URL"] = _with_query(database_url, application_name=application_name)
        backends = _Backends(database_url, application_name)
    bots = []
    for n in range(processes):
        env = dict(common)
        if processes > 1:
            env.update(INSTANCE_NAME=f"load-{n}", SHARD_COUNT=str(processes), SHARD_IDS=str(n))
        workdir = tmp / f"cwd{n}"
        workdir.mkdir(exist_ok=True)
        env = bot_env(env)
        if bot_source is not None:
            _check_source(env, workdir, bot_source)
        log_name = "bot.log" if processes == 1 else f"bot{n}.log"
        bots.append(BotProcess(env, tmp / log_name, cwd=workdir, source=bot_source))
    try:
        await asyncio.gather(*(bot.start() for bot in bots))
        await _wait_until_up(bots, discord)
        return await _drive(discord, kvid, bots, _Jobs(where), backends, places, plan, during)
    finally:
        await asyncio.gather(*(bot.stop() for bot in bots))
        await kvid.stop()
        await discord.stop()


async def _wait_until_up(bots: list[BotProcess], discord: FakeDiscord) -> None:
    """Every process connected (each its shard) with the commands registered, or raise."""
    count = len(bots)
    wanted = {(n, count) for n in range(count)}

    async def ready() -> None:
        if count == 1:
            await discord.wait_until_connected(timeout=60)
        else:
            await discord.wait_for(
                lambda: {c.shard for c in discord.connections if c.open and c.session_id} >= wanted,
                60,
                description=f"{count} bot processes connected, one shard each",
            )
        await discord.wait_for_commands(timeout=60, names=("video",))

    came_up = asyncio.create_task(ready())
    died = [asyncio.create_task(bot.exited()) for bot in bots]
    await asyncio.wait({came_up, *died}, return_when=asyncio.FIRST_COMPLETED)
    for task in died:
        task.cancel()
    if not came_up.done() or came_up.exception() is not None:
        came_up.cancel()
        logs = "\n".join(bot.log()[-3000:] for bot in bots)
        raise RuntimeError(f"the bot did not come up:\n{logs}")


class _LagProbe:
    """Measures how late the driver's event loop wakes up (its own saturation)."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + LAG_PROBE_EVERY
            await asyncio.sleep(LAG_PROBE_EVERY)
            self.lags.append(max(0.0, loop.time() - expected))


async def _drive(
    discord: FakeDiscord,
    kvid: FakeKvid,
    bots: list[BotProcess],
    jobs: _Jobs,
    backends: _Backends | None,
    places: list[tuple[int, int, int]],
    plan: LoadPlan,
    during: Callable[[list[int]], Awaitable[object]] | None,
) -> LoadReport:
    loop = asyncio.get_running_loop()
    rate = plan.rate
    total = max(1, round(rate * plan.seconds))
    first_request = len(discord.requests)
    first_interaction = len(discord.interactions)
    pids = [bot.pid for bot in bots if bot.pid is not None]
    bot_cpu_before = sum(process_cpu_seconds(pid) for pid in pids)
    driver_cpu_before = time.process_time()
    machine_before = _machine_times()
    if backends is not None:
        await asyncio.to_thread(backends.begin)
    probe = _LagProbe()
    probe_task = asyncio.create_task(probe.run())
    sent: list[FakeInteraction] = []
    peak = 0
    send_lag = 0.0
    unsent = 0

    async def sample() -> int:
        nonlocal peak
        current = await asyncio.to_thread(jobs.in_flight)
        peak = max(peak, current)
        if backends is not None:
            await asyncio.to_thread(backends.sample)
        return current

    async def sampler() -> None:
        while True:
            await sample()
            await asyncio.sleep(SAMPLE_EVERY)

    sampling = asyncio.create_task(sampler())
    beside = asyncio.ensure_future(during(pids)) if during is not None else None
    t0 = loop.time()
    try:
        for i in range(total):
            # Open loop: command i goes at t0 + i/rate whatever happened to earlier ones.
            delay = t0 + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            send_lag = max(send_lag, -delay)
            guild_id, channel_id, user_id = places[i % len(places)]
            if not all(bot.running for bot in bots):
                break
            try:
                interaction = await discord.invoke(
                    "video text",
                    {"prompt": f"load clip {i}"},
                    user_id=user_id,
                    guild_id=guild_id,
                    channel_id=channel_id,
                )
            except TimeoutError:
                # invoke() waits for a gateway connection first; a bot that stays away this
                # long has dropped the command, which the report must show, not crash on.
                unsent += 1
                continue
            sent.append(interaction)
        sent_done = loop.time()
        drained = await _drain(discord, bots, sample, sent, loop.time() + plan.drain_timeout)
        drain_end = loop.time()
        if drained:
            # Keep watching a little: a second delivery of a finished job must still count.
            await asyncio.sleep(plan.settle())
        await sample()
        # /proc of an exited bot is gone: no figure rather than a wrong one.
        running = all(bot.running for bot in bots)
        bot_cpu = sum(process_cpu_seconds(pid) for pid in pids) - bot_cpu_before
        rss = max(peak_rss_mb(pid) for pid in pids)
    finally:
        sampling.cancel()
        if beside is not None:
            await beside
        probe_task.cancel()
    wall = loop.time() - t0
    driver_cpu = time.process_time() - driver_cpu_before
    machine_after = _machine_times()
    machine_total = machine_after[1] - machine_before[1]
    machine_busy = (machine_after[0] - machine_before[0]) / machine_total if machine_total else 0.0
    database_cpu = backends.cpu_seconds() if backends is not None else None

    latencies = _ack_latencies(discord, first_request, sent)
    late = sum(1 for i in sent if i.missed_deadline or not i.acknowledged)
    by_interaction = jobs.by_interaction()
    ours = {i.id for i in sent}
    accepted = {iid: job for iid, job in by_interaction.items() if iid in ours}
    refused = sum(
        1 for i in sent if i.acknowledged and not i.missed_deadline and i.id not in accepted
    )
    uploads, other_mp4 = _uploads_per_job(discord, {job_id for job_id, _ in accepted.values()})
    delivered = sum(1 for job_id, _ in accepted.values() if uploads[job_id] >= 1)
    duplicated = [n for n in uploads.values() if n > 1]
    missing = [(job_id, state) for job_id, state in accepted.values() if uploads[job_id] == 0]
    per_job = max(delivered, 1)
    log = "\n".join(bot.log() for bot in bots)
    exits = [bot.returncode for bot in bots if bot.returncode is not None]
    assert len(discord.interactions) - first_interaction == len(sent)
    return LoadReport(
        label=plan.label,
        rate=rate,
        seconds=plan.seconds,
        job_seconds=plan.job_seconds,
        poll_interval=plan.poll_interval,
        processes=len(bots),
        sent=len(sent),
        unsent=unsent,
        send_seconds=(sent_done - t0),
        send_lag_max_ms=send_lag * 1000,
        ack_p50_ms=_ms(percentile(latencies, 0.50)),
        ack_p95_ms=_ms(percentile(latencies, 0.95)),
        ack_p99_ms=_ms(percentile(latencies, 0.99)),
        ack_max_ms=_ms(max(latencies, default=None)),
        late=late,
        refused=refused,
        accepted=len(accepted),
        delivered=delivered,
        duplicates=len(duplicated),
        extra_uploads=sum(n - 1 for n in duplicated),
        other_mp4_uploads=other_mp4,
        lost=len(missing),
        failed=sum(1 for _, state in missing if state in ("failed", "cancelled")),
        peak_in_flight=peak,
        drained=drained,
        drain_seconds=drain_end - sent_done,
        bot_cpu_seconds=bot_cpu if running else None,
        cpu_ms_per_job=bot_cpu * 1000 / delivered if delivered and running else None,
        bot_cpu_share=bot_cpu / wall if running and wall > 0 else None,
        database_cpu_ms_per_job=(
            database_cpu * 1000 / delivered if delivered and database_cpu is not None else None
        ),
        machine_busy_share=machine_busy,
        peak_rss_mb=rss,
        provider_requests_per_job=len(kvid.requests) / per_job if delivered else None,
        discord_requests_per_job=(
            (len(discord.requests) - first_request) / per_job if delivered else None
        ),
        driver_cpu_seconds=driver_cpu,
        driver_cpu_share=driver_cpu / wall if wall > 0 else 0.0,
        loop_lag_p99_ms=(percentile(probe.lags, 0.99) or 0.0) * 1000,
        loop_lag_max_ms=max(probe.lags, default=0.0) * 1000,
        bot_exit_code=exits[0] if exits else None,
        bot_log_errors=len(re.findall(r"Traceback|\bERROR\b", log)),
        wall_seconds=wall,
    )


async def _drain(
    discord: FakeDiscord,
    bots: list[BotProcess],
    sample: Callable[[], Awaitable[int]],
    sent: list[FakeInteraction],
    deadline: float,
) -> bool:
    """Wait until every command is answered and every job delivered; False on the deadline."""
    loop = asyncio.get_running_loop()
    limit = discord.settings.initial_response_timeout or 3.0
    while loop.time() < deadline and all(bot.running for bot in bots):
        now = time.monotonic()
        answered = all(i.acknowledged or now - i.created > limit for i in sent)
        in_flight = await sample()
        if answered and in_flight == 0 and not _still_thinking(sent):
            return True
        await asyncio.sleep(SAMPLE_EVERY)
    return False


def _still_thinking(sent: list[FakeInteraction]) -> bool:
    """A public "thinking" reply that was never filled in (a job about to be written, or stuck)."""
    for interaction in sent:
        response = interaction.response
        if response is None or response.type != DEFER:
            continue
        if int((response.data or {}).get("flags") or 0) & EPHEMERAL:
            continue
        original = interaction.original
        if original is not None and original.loading and not original.deleted:
            return True
    return False


def _ack_latencies(
    discord: FakeDiscord, first_request: int, sent: list[FakeInteraction]
) -> list[float]:
    """Seconds from sending each interaction to the bot's first callback reaching the fake."""
    first: dict[int, float] = {}
    for request in discord.requests[first_request:]:
        if request.method != "POST":
            continue
        match = CALLBACK_RE.match(request.path)
        if match is not None:
            first.setdefault(int(match.group(1)), request.time)
    return [first[i.id] - i.created for i in sent if i.id in first]


def _uploads_per_job(discord: FakeDiscord, job_ids: set[str]) -> tuple[Counter[str], int]:
    """How often each job's MP4 was uploaded (messages, edits, followups); MP4s of no job."""
    counts: Counter[str] = Counter({job_id: 0 for job_id in job_ids})
    others = 0
    for attachment in discord.attachments_created:
        match = MP4_NAME_RE.match(attachment.filename)
        if match is not None and match.group(1) in job_ids:
            counts[match.group(1)] += 1
        elif match is not None:
            others += 1
    return counts, others


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def _exit_code(bot: BotProcess) -> int | None:
    process = bot._process
    return None if process is None else process.returncode
