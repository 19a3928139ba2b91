"""Sustained load on the real bot, on SQLite and on PostgreSQL with one, two and three processes.

Starts `python -m bot` against the loopback fake Discord and fake kvidAI (tests/e2e/load.py),
sends `/video text` at a fixed rate from 1,000 members in 12 guilds (open loop: a slow answer
never slows the sender), lets every job run `--job-seconds` at the provider, waits until every
video is delivered (or `--drain-timeout`) and prints what it measured, for each configuration:

  sqlite  one process over SQLite (the default deployment)
  pg1     one process over PostgreSQL
  pg2     two processes over one PostgreSQL database, SHARD_COUNT=2, one shard each
  pg3     three processes, SHARD_COUNT=3

The guild ids follow Discord's routing, (guild_id >> 22) % SHARD_COUNT, so every process gets
an equal share of the commands. Each PostgreSQL run gets a schema of its own on the server at
TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test), dropped afterwards.

--find-capacity steps the rate up (`--rates`, short runs) for every configuration, the
configurations interleaved at each step so that the machine's drift hits them alike, until
late or duplicate answers appear, and prints the highest clean rate of each and what stopped
the next one (the bot, or the load driver in this process, or the machine's CPU).

Run: .venv/bin/python bench/load.py [--configs sqlite,pg1,pg2,pg3] [--rate 100] [--seconds 60]
     .venv/bin/python bench/load.py --find-capacity [--rates 25,50,100,150,200,...]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.load import LoadPlan, LoadReport, run_load  # noqa: E402
from tests.postgres import SERVER_URL, Schema, reachable  # noqa: E402

# Issue 10's targets, checked on every run whatever its size.
TARGET_RATE = 100.0
TARGET_SECONDS = 60.0
# Issue 11: two processes carry at least this many times what one carries.
TARGET_SCALE = 1.8
# The driver (fakes + sender) shares the machine; past this its own figures become suspect.
DRIVER_BUSY_SHARE = 0.85
DRIVER_LAG_MS = 100.0
# Every core of the machine (anyone's work) busy at least this share of the run.
MACHINE_BUSY_SHARE = 0.85
CAPACITY_RATES = "25,50,100,150,200,250,300,400,500"
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
PROFILE_TOP = 15


@dataclass(frozen=True)
class Config:
    """One way to run the bot: its engine and how many processes share the shards."""

    key: str
    label: str
    postgres: bool
    processes: int


CONFIGS = {
    c.key: c
    for c in (
        Config("sqlite", "1 proc SQLite", False, 1),
        Config("pg1", "1 proc PG", True, 1),
        Config("pg2", "2 procs PG", True, 2),
        Config("pg3", "3 procs PG", True, 3),
    )
}


@dataclass(frozen=True)
class Target:
    """One line of the requirement and how to check a report against it."""

    name: str
    check: Callable[[LoadReport], bool]


TARGETS = (
    # "With up to 5,000 jobs in flight" describes this load; the table shows the peak reached.
    Target(
        f"load: {TARGET_RATE:g} commands/s sustained for {TARGET_SECONDS:g} s",
        lambda r: (
            r.rate >= TARGET_RATE
            and r.seconds >= TARGET_SECONDS
            and r.sent >= round(TARGET_RATE * TARGET_SECONDS)
            and r.send_seconds <= TARGET_SECONDS * 1.02
        ),
    ),
    Target("0 commands answered late", lambda r: r.late == 0),
    Target("0 duplicates", lambda r: r.duplicates == 0),
    Target("0 lost", lambda r: r.lost == 0 and r.drained),
    Target("ack p99 <= 250 ms", lambda r: r.ack_p99_ms is not None and r.ack_p99_ms <= 250),
    Target(
        "bot CPU <= 10 ms per job",
        lambda r: r.cpu_ms_per_job is not None and r.cpu_ms_per_job <= 10,
    ),
    Target("peak RSS <= 300 MB", lambda r: 0 < r.peak_rss_mb <= 300),
)

# Rows of the side-by-side table: (label, LoadReport field).
TABLE = (
    ("bot processes", "processes"),
    ("commands sent", "sent"),
    ("commands the fake could not send", "unsent"),
    ("send time (s)", "send_seconds"),
    ("sender behind schedule, max (ms)", "send_lag_max_ms"),
    ("ack p50 (ms)", "ack_p50_ms"),
    ("ack p95 (ms)", "ack_p95_ms"),
    ("ack p99 (ms)", "ack_p99_ms"),
    ("ack max (ms)", "ack_max_ms"),
    ("late", "late"),
    ("refused", "refused"),
    ("accepted", "accepted"),
    ("delivered", "delivered"),
    ("duplicates (jobs)", "duplicates"),
    ("extra uploads", "extra_uploads"),
    ("MP4 uploads of no job", "other_mp4_uploads"),
    ("lost", "lost"),
    ("  of which the bot marked failed", "failed"),
    ("peak jobs in flight", "peak_in_flight"),
    ("drained before timeout", "drained"),
    ("drain time after last send (s)", "drain_seconds"),
    ("bot CPU during load (s, all procs)", "bot_cpu_seconds"),
    ("bot CPU per delivered job (ms)", "cpu_ms_per_job"),
    ("bot CPU share of one core", "bot_cpu_share"),
    ("PostgreSQL backend CPU per job (ms)", "database_cpu_ms_per_job"),
    ("bot peak RSS, largest proc (MB)", "peak_rss_mb"),
    ("provider requests per job", "provider_requests_per_job"),
    ("Discord REST requests per job", "discord_requests_per_job"),
    ("driver CPU (s)", "driver_cpu_seconds"),
    ("driver CPU share of one core", "driver_cpu_share"),
    ("driver loop lag p99 (ms)", "loop_lag_p99_ms"),
    ("driver loop lag max (ms)", "loop_lag_max_ms"),
    ("machine busy, all cores (share)", "machine_busy_share"),
    ("bot exit code (- = kept running)", "bot_exit_code"),
    ("Traceback/ERROR lines in bot log", "bot_log_errors"),
    ("wall time (s)", "wall_seconds"),
)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _layout(rows: list[list[str]]) -> str:
    """Rows of cells as aligned text, the first row a heading."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        numbers = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(reports: list[LoadReport]) -> str:
    """The figures of every run side by side, then the targets with PASS/FAIL."""
    rows = [["figure", *(r.label for r in reports)]]
    for label, name in TABLE:
        rows.append([label, *(_cell(getattr(r, name)) for r in reports)])
    rows.append([""] * (len(reports) + 1))
    rows.append(["target (issue 10)", *(r.label for r in reports)])
    for target in TARGETS:
        rows.append([target.name, *("PASS" if target.check(r) else "FAIL" for r in reports)])
    return _layout(rows)


def driver_warnings(report: LoadReport) -> list[str]:
    """Why a run's figures may describe the driver (or the machine) rather than the bot."""
    notes = []
    if report.driver_cpu_share >= DRIVER_BUSY_SHARE:
        notes.append(
            f"{report.label}: the driver used {report.driver_cpu_share:.0%} of a core; "
            "latencies include its own queueing"
        )
    if report.loop_lag_p99_ms >= DRIVER_LAG_MS:
        notes.append(
            f"{report.label}: the driver's event loop lagged {report.loop_lag_p99_ms:.0f} ms "
            "(p99); acknowledgements were timed late by up to that much"
        )
    if report.sent < round(report.rate * report.seconds) or report.send_lag_max_ms > 1000:
        notes.append(f"{report.label}: the sender could not keep its schedule")
    if report.machine_busy_share >= MACHINE_BUSY_SHARE:
        notes.append(
            f"{report.label}: the machine's cores were {report.machine_busy_share:.0%} busy "
            "(bots, driver, PostgreSQL and anyone else): CPU-bound on this machine"
        )
    return notes


def clean(report: LoadReport) -> bool:
    """Every command answered in time, once, and every video delivered."""
    return (
        report.late == 0
        and report.duplicates == 0
        and report.lost == 0
        and report.unsent == 0
        and report.drained
        and report.bot_exit_code is None
    )


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


async def profile(pids: list[int], seconds: float, out: Path) -> None:
    """py-spy samples the first bot process for `seconds` (raw collapsed stacks into `out`)."""
    command = [PY_SPY, "record", "--pid", str(pids[0]), "--duration", str(max(1, int(seconds)))]
    command += ["--rate", "100", "--format", "raw", "--nonblocking", "--output", str(out)]
    child = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, err = await child.communicate()
    if child.returncode:
        print(f"py-spy failed: {err.decode(errors='replace')[-500:]}", flush=True)


def profile_summary(raw: Path, top: int = PROFILE_TOP) -> str:
    """The functions the samples were in (self) and under (total), as shares of all samples."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        # A frame is "function (path:line)"; the line number would split one function in many.
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[_short(frames[-1])] += int(count)
        for frame in set(frames):
            under[_short(frame)] += int(count)
    total = sum(own.values()) or 1
    lines = [f"{total} samples of {raw.name}; where they were (self):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines.append("the bot's own functions they were in or under (total):")
    ours = [(name, n) for name, n in under.most_common() if re.search(r"\((bot|cogs)/", name)]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in ours if "__main__" not in name][:top]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """'fn (/long/path/site-packages/pkg/mod.py)' as 'fn (pkg/mod.py)'."""
    return re.sub(r"\(.*?(?:site-packages/|/hD/|/lib/python3\.\d+/)", "(", frame)


async def run_config(
    config: Config,
    rate: float,
    seconds: float,
    args: argparse.Namespace,
    tmp: Path,
    *,
    label: str | None = None,
) -> LoadReport:
    """One load run of `config`, on a schema of its own when it uses PostgreSQL."""
    schema = await Schema.create("loadbench") if config.postgres else None
    during = None
    if args.profile:
        out = Path(f"{args.profile}-{config.key}.txt").resolve()

        async def during(pids: list[int]) -> None:
            await profile(pids, seconds, out)
            print(profile_summary(out), flush=True)

    try:
        return await run_load(
            None,
            plan_of(args, rate, seconds, label or config.label),
            tmp=tmp,
            database_url=schema.url if schema is not None else None,
            processes=config.processes,
            during=during,
        )
    finally:
        if schema is not None:
            await schema.drop()


def plan_of(args: argparse.Namespace, rate: float, seconds: float, label: str) -> LoadPlan:
    """`rate` commands/s for `seconds`, with the job length and waits given on the command line."""
    return LoadPlan(
        rate,
        seconds,
        job_seconds=args.job_seconds,
        poll_interval=args.poll_interval,
        drain_timeout=args.drain_timeout,
        label=label,
    )


async def run_baseline(args: argparse.Namespace, tmp: Path) -> LoadReport:
    """The bot at `--baseline-ref`, one process over SQLite, from a temporary git worktree."""
    commit = _git("rev-parse", "--short", f"{args.baseline_ref}^{{commit}}")
    checkout = tmp / "baseline-src"
    _git("worktree", "add", "--detach", str(checkout), commit)
    try:
        print(f"baseline {commit}: running...", flush=True)
        plan = plan_of(args, args.rate, args.seconds, f"baseline {commit}")
        return await run_load(checkout, plan, tmp=tmp / "baseline")
    finally:
        _git("worktree", "remove", "--force", str(checkout))


async def sustained(args: argparse.Namespace, configs: list[Config]) -> list[LoadReport]:
    """Each configuration once at `--rate` for `--seconds`, one after the other."""
    reports = []
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.baseline_ref:
            reports.append(await run_baseline(args, tmp))
            print(reports[-1].format(), flush=True)
        for config in configs:
            print(f"{config.label}: running...", flush=True)
            reports.append(
                await run_config(config, args.rate, args.seconds, args, tmp / config.key)
            )
            print(reports[-1].format(), flush=True)
    return reports


@dataclass
class Climb:
    """One configuration's way up the rates."""

    config: Config
    clean: LoadReport | None = None  # the highest rate with no late, duplicate or lost answer
    failed: LoadReport | None = None  # the first rate that had one


async def find_capacity(args: argparse.Namespace, configs: list[Config]) -> list[Climb]:
    """Step every configuration up the rates until it fails; interleaved at each rate."""
    climbs = [Climb(config) for config in configs]
    with tempfile.TemporaryDirectory(prefix="load-capacity-") as tmp_name:
        tmp = Path(tmp_name)
        for rate in args.rates:
            for climb in climbs:
                if climb.failed is not None:
                    continue
                print(f"{climb.config.label} at {rate:g}/s: running...", flush=True)
                report = await run_config(
                    climb.config,
                    rate,
                    args.seconds,
                    args,
                    tmp / f"{climb.config.key}-{rate:g}",
                    label=f"{climb.config.label} @{rate:g}",
                )
                print(_step_line(report), flush=True)
                if clean(report):
                    climb.clean = report
                else:
                    climb.failed = report
            if all(climb.failed is not None for climb in climbs):
                break
    return climbs


def _step_line(r: LoadReport) -> str:
    verdict = "clean" if clean(r) else "NOT CLEAN"
    achieved = r.sent / r.send_seconds if r.send_seconds > 0 else 0.0
    return (
        f"  {verdict}: sent {achieved:.0f}/s, late {r.late}, duplicates {r.duplicates}, "
        f"lost {r.lost}, ack p99 "
        f"{_cell(r.ack_p99_ms)} ms, bot CPU {_cell(r.cpu_ms_per_job)} ms/job "
        f"({_cell(r.bot_cpu_share)} of a core), driver {r.driver_cpu_share:.2f} of a core, "
        f"machine {r.machine_busy_share:.0%} busy"
    )


def limit(climb: Climb) -> str:
    """What stopped the first rate that failed: the driver, the machine, or the bot."""
    failed = climb.failed
    if failed is None:
        return "none: passed every rate tried"
    what = f"late {failed.late}, duplicates {failed.duplicates}, lost {failed.lost}"
    lag = f"driver loop lag p99 {failed.loop_lag_p99_ms:.0f} ms"
    if failed.driver_cpu_share >= DRIVER_BUSY_SHARE:
        return f"{what}; driver-limited (driver {failed.driver_cpu_share:.0%} of a core, {lag})"
    if failed.machine_busy_share >= MACHINE_BUSY_SHARE:
        # A driver that lags while using little CPU is starved, like the bots, not busy.
        return (
            f"{what}; machine CPU-bound ({failed.machine_busy_share:.0%} of all cores busy, "
            f"driver {failed.driver_cpu_share:.0%} of a core, {lag})"
        )
    if failed.loop_lag_p99_ms >= DRIVER_LAG_MS:
        return f"{what}; driver lagging ({lag}, {failed.driver_cpu_share:.0%} of a core)"
    return f"{what}; bot-limited"


def capacity_table(climbs: list[Climb]) -> str:
    """Highest clean rate per configuration, what stopped the next, and the scaling ratios."""
    rows = [
        ["configuration", "clean rate/s", "next rate", "ack p99 ms", "CPU ms/job", "stopped by"]
    ]
    for climb in climbs:
        good, bad = climb.clean, climb.failed
        rows.append(
            [
                climb.config.label,
                _cell(good.rate) if good else "none",
                _cell(bad.rate) if bad else "-",
                _cell(good.ack_p99_ms) if good else "-",
                _cell(good.cpu_ms_per_job) if good else "-",
                limit(climb),
            ]
        )
    lines = [_layout(rows)]
    rates = {c.config.key: (c.clean.rate if c.clean else 0.0) for c in climbs}
    if rates.get("pg1"):
        for key in ("pg2", "pg3"):
            if key in rates:
                ratio = rates[key] / rates["pg1"]
                lines.append(
                    f"{CONFIGS[key].label} / {CONFIGS['pg1'].label}: {ratio:.2f}x "
                    + (f"(target >= {TARGET_SCALE:g}x)" if key == "pg2" else "")
                )
    return "\n".join(lines)


def main() -> None:
    """Parse the options, run, print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Configurations: " + ", ".join(f"{c.key} ({c.label})" for c in CONFIGS.values()),
    )
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, in order")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="commands per second")
    parser.add_argument(
        "--seconds", type=float, help="how long to send (default 60; 15 with --find-capacity)"
    )
    parser.add_argument(
        "--job-seconds", type=float, help="provider time per job (default 45; 5 with capacity)"
    )
    parser.add_argument(
        "--poll-interval", type=float, help="KVID_POLL_INTERVAL (default 10; 1 with capacity)"
    )
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="after the last send")
    parser.add_argument(
        "--find-capacity", action="store_true", help="step up --rates until answers go wrong"
    )
    parser.add_argument("--rates", default=CAPACITY_RATES, help="the capacity steps, per second")
    parser.add_argument("--baseline-ref", help="also run this git ref of the bot (SQLite) first")
    parser.add_argument(
        "--profile", metavar="PREFIX", help="py-spy the first bot process, to PREFIX-<config>.txt"
    )
    args = parser.parse_args()
    short = args.find_capacity
    args.seconds = args.seconds or (15.0 if short else TARGET_SECONDS)
    args.job_seconds = args.job_seconds or (5.0 if short else 45.0)
    args.poll_interval = args.poll_interval or (1.0 if short else 10.0)
    try:
        configs = [CONFIGS[key.strip()] for key in args.configs.split(",") if key.strip()]
        args.rates = sorted(float(r) for r in args.rates.split(",") if r.strip())
    except (KeyError, ValueError) as exc:
        parser.error(f"bad --configs or --rates: {exc}")
    top = max(args.rates) if short else args.rate
    if top <= 0 or args.seconds <= 0 or top * args.seconds > 20_000:
        parser.error("rates and --seconds must be positive, at most 20,000 commands a run")
    if any(c.postgres for c in configs):
        why = asyncio.run(reachable())
        if why is not None:
            parser.error(f"PostgreSQL at {SERVER_URL} is not reachable ({why})")
    if short:
        climbs = asyncio.run(find_capacity(args, configs))
        print()
        print(capacity_table(climbs))
        reports = [r for c in climbs for r in (c.clean, c.failed) if r is not None]
    else:
        reports = asyncio.run(sustained(args, configs))
        print()
        print(table(reports))
    for note in (n for r in reports for n in driver_warnings(r)):
        print(f"note: {note}")


if __name__ == "__main__":
    main()
