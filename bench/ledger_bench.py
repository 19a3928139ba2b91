"""Hold-then-capture cycles per second: the bot's ledger code beside raw sqlite3, in one run.

One cycle is two durable transactions, the shape every video has:
  1. BEGIN IMMEDIATE; insert the job row; Ledger hold (guarded UPDATE of the member, INSERT
     hold, INSERT ledger row); COMMIT
  2. BEGIN IMMEDIATE; Ledger capture (read the open hold, guarded UPDATE of it, INSERT ledger
     row, UPDATE the member); COMMIT

SQLite paths, each on a fresh database file, all in WAL mode with synchronous=FULL:
  raw          sqlite3 on the calling thread, the same statements typed out by hand
  run          the real SqliteDatabase.run + Ledger.hold_in / resolve_in (how the bot's own
               one-transaction operations run: statements on the loop, the COMMIT's fsync on a
               thread; calls that meet share one group commit)
  Transaction  the real Database.transaction() + Ledger.hold_in / capture, as a block
  run x50      the run path with 50 coroutines at once, as a busy server would drive it

Before timing, the statements each bot path sends to SQLite are traced and compared with the raw
path's (savepoints of the group commit aside), so the comparison is like for like.

PostgreSQL (the server at TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test),
in the same run, each on a schema of its own, dropped afterwards:
  bot Ledger   PostgresDatabase.run + Ledger.hold_in / resolve_in, N concurrent workers (one
               member each, so no two wait on one row), a pool of N connections
  pgbench      the server's own simple-update transaction (`pgbench -N -c N`: UPDATE, SELECT,
               INSERT, as many statements as one of the bot's ledger transactions), into a
               scratch schema (`pgbench -i`), the same N and seconds
A cycle is two transactions, so the bot's transactions/s (2 x cycles/s) is what compares with
pgbench's tps.

Run: .venv/bin/python bench/ledger_bench.py [--cycles N] [--rounds R] [--clients 1,10]
     [--pg-seconds S] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bot.db import Database, Transaction  # noqa: E402
from bot.db.postgres import PostgresDatabase  # noqa: E402
from bot.db.sqlite import SqliteDatabase  # noqa: E402
from bot.ledger import CAPTURE_REASON, Ledger  # noqa: E402
from tests.postgres import SERVER_URL, Schema, reachable  # noqa: E402

PGBENCH = shutil.which("pgbench") or "/usr/bin/pgbench"

GUILD, USER = 1, 2
PRICE = 15
FUNDS = 10**12
JOB_SQL = (
    "INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, request_json, price, state, "
    "created_at, upload_limit) VALUES (?, ?, 1, ?, 'kvid', '{}', ?, 'queued', ?, 0)"
)

# The bot's ledger insert returns the new row's id (Transaction.insert).
LEDGER_SQL = (
    "INSERT INTO ledger (guild_id, user_id, kind, balance_delta, held_delta, job_id, "
    "reason, actor_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)


def insert_job(conn: sqlite3.Connection, job_id: str, now: float) -> None:
    """The job row the hold belongs to (holds.job_id references it)."""
    conn.execute(JOB_SQL, (job_id, GUILD, USER, PRICE, now))


# -- raw sqlite3: the same statements as bot/ledger.py, by hand --------------------------------


def raw_connect(path: Path) -> sqlite3.Connection:
    """The bot's connection settings (bot/db.py), on the calling thread."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def raw_cycle(conn: sqlite3.Connection, job_id: str) -> None:
    """One hold then one capture, each its own durable transaction."""
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    insert_job(conn, job_id, now)
    changed = conn.execute(
        "UPDATE members SET held = held + ? "
        "WHERE guild_id = ? AND user_id = ? AND balance - held >= ?",
        (PRICE, GUILD, USER, PRICE),
    ).rowcount
    assert changed == 1
    conn.execute(
        "INSERT INTO holds (job_id, guild_id, user_id, amount, state, created_at) "
        "VALUES (?, ?, ?, ?, 'open', ?)",
        (job_id, GUILD, USER, PRICE, now),
    )
    conn.execute(
        LEDGER_SQL, (GUILD, USER, "hold", 0, PRICE, job_id, "job started", None, now)
    ).fetchone()
    conn.execute("COMMIT")
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute(
        "SELECT guild_id, user_id, amount FROM holds WHERE job_id = ? AND state = 'open'",
        (job_id,),
    ).fetchone()
    changed = conn.execute(
        "UPDATE holds SET state = ?, captured = ?, resolved_at = ? "
        "WHERE job_id = ? AND state = 'open'",
        ("captured", row[2], now, job_id),
    ).rowcount
    assert changed == 1
    conn.execute(
        LEDGER_SQL,
        (row[0], row[1], "capture", -row[2], -row[2], job_id, "video delivered", None, now),
    ).fetchone()
    conn.execute(
        "UPDATE members SET balance = balance + ?, held = held + ? "
        "WHERE guild_id = ? AND user_id = ?",
        (-row[2], -row[2], row[0], row[1]),
    )
    conn.execute("COMMIT")


# -- the bot's code ----------------------------------------------------------------------------


async def _hold_in(tx: Transaction, ledger: Ledger, job_id: str, user: int = USER) -> None:
    await tx.execute(JOB_SQL, (job_id, GUILD, user, PRICE, time.time()))
    await ledger.hold_in(tx, GUILD, user, job_id, PRICE)


async def run_cycle(db: Database, ledger: Ledger, job_id: str, user: int = USER) -> None:
    """Hold then capture, each a whole transaction through Database.run."""
    await db.run(_hold_in, ledger, job_id, user)
    assert await db.run(ledger.resolve_in, job_id, "captured", CAPTURE_REASON)


async def transaction_cycle(db: Database, ledger: Ledger, job_id: str, user: int = USER) -> None:
    """Hold then capture, each a Database.transaction() block."""
    async with db.transaction() as tx:
        await _hold_in(tx, ledger, job_id, user)
    async with db.transaction() as tx:
        assert await ledger.capture(tx, job_id)


Cycle = Callable[[Database, Ledger, str, int], Awaitable[None]]


# -- harness -------------------------------------------------------------------------------


async def fund(db: Database, members: int) -> Ledger:
    """One well-funded member per worker (users USER, USER + 1, ...)."""
    ledger = Ledger(db, starting_credits=0, clock=time.time)
    for n in range(members):
        await ledger.grant(GUILD, USER + n, FUNDS, "bench funds", actor_id=None)
    return ledger


async def fresh(folder: Path, name: str, members: int = 1) -> tuple[Database, Ledger]:
    """A new SQLite database with the real migrations and well-funded members."""
    db = await SqliteDatabase.open(folder / f"{name}.sqlite3")
    return db, await fund(db, members)


async def check_books(db: Database, cycles: int, members: int = 1) -> None:
    """The ledger still adds up after the run (I1, I2), and every cycle spent exactly PRICE."""
    row = await db.fetchone(
        "SELECT SUM(m.balance) AS balance, SUM(m.held) AS held, "
        "(SELECT SUM(balance_delta) FROM ledger) AS summed FROM members m"
    )
    assert row is not None
    assert row["balance"] == row["summed"] == FUNDS * members - cycles * PRICE, dict(row)
    assert row["held"] == 0


async def trace(folder: Path) -> None:
    """Refuse to compare unless each bot path sends SQLite the same statements as raw."""
    db, _ = await fresh(folder, "trace-raw")
    await db.close()
    raw = raw_connect(folder / "trace-raw.sqlite3")
    expected: list[str] = []
    raw.set_trace_callback(expected.append)
    raw_cycle(raw, "trace")
    raw.close()
    for name, cycle in (("run", run_cycle), ("transaction", transaction_cycle)):
        db, ledger = await fresh(folder, f"trace-{name}")
        assert isinstance(db, SqliteDatabase)
        seen: list[str] = []
        db._writer.set_trace_callback(seen.append)
        await cycle(db, ledger, "trace", USER)
        db._writer.set_trace_callback(None)
        await db.close()
        got = _shapes(seen)
        if got != _shapes(expected):
            raise SystemExit(f"{name}: statements differ from raw:\n{got}\n{_shapes(expected)}")


def _shapes(statements: list[str]) -> list[str]:
    """Statements with their values blanked (timestamps differ), group-commit savepoints out."""
    kept = [s for s in statements if not re.match(r"(SAVEPOINT|RELEASE|ROLLBACK TO) ", s)]
    return [re.sub(r"'[^']*'|-?\b\d+(\.\d+)?\b", "?", s) for s in kept]


async def timed_cycles(
    db: Database, ledger: Ledger, cycles: int, cycle: Cycle, workers: int
) -> float:
    """`cycles` cycles by `workers` coroutines (worker n on member USER + n); cycles/s."""
    ids = iter(range(cycles))

    async def worker(user: int) -> None:
        for n in ids:
            await cycle(db, ledger, f"j{n}", user)

    started = time.perf_counter()
    await asyncio.gather(*(worker(USER + n) for n in range(workers)))
    elapsed = time.perf_counter() - started
    await check_books(db, cycles, workers)
    return cycles / elapsed


async def timed_bot(
    folder: Path, name: str, cycles: int, cycle: Cycle, concurrency: int = 1
) -> float:
    db, ledger = await fresh(folder, name, concurrency)
    try:
        return await timed_cycles(db, ledger, cycles, cycle, concurrency)
    finally:
        await db.close()


async def timed_raw(folder: Path, name: str, cycles: int) -> float:
    db, _ = await fresh(folder, name)  # same migrations and funding as the bot's paths
    await db.close()
    conn = raw_connect(folder / f"{name}.sqlite3")
    started = time.perf_counter()
    for n in range(cycles):
        raw_cycle(conn, f"j{n}")
    elapsed = time.perf_counter() - started
    conn.close()
    db = await SqliteDatabase.open(folder / f"{name}.sqlite3")
    await check_books(db, cycles)
    await db.close()
    return cycles / elapsed


async def sqlite_figures(cycles: int, rounds: int) -> None:
    results: dict[str, list[float]] = {
        "raw": [],
        "run": [],
        "Transaction": [],
        "run x50": [],
    }
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        folder = Path(tmp)
        await trace(folder)
        # Rounds interleave the paths so drift in the machine's speed hits them alike.
        for r in range(rounds):
            results["raw"].append(await timed_raw(folder, f"raw{r}", cycles))
            results["run"].append(await timed_bot(folder, f"run{r}", cycles, run_cycle))
            results["Transaction"].append(
                await timed_bot(folder, f"tx{r}", cycles, transaction_cycle)
            )
            results["run x50"].append(
                await timed_bot(folder, f"c{r}", cycles, run_cycle, concurrency=50)
            )
    median = {name: statistics.median(rates) for name, rates in results.items()}
    raw = median["raw"]
    print(
        f"SQLite: {cycles} hold+capture cycles (2 durable transactions each) per run, "
        f"median of {rounds} interleaved rounds; WAL, synchronous=FULL; SQLite "
        f"{sqlite3.sqlite_version}, Python {platform.python_version()}, {platform.machine()}"
    )
    labels = {
        "raw": "raw sqlite3, same statements",
        "run": "bot Ledger, Database.run",
        "Transaction": "bot Ledger, Database.transaction()",
        "run x50": "bot Ledger, Database.run, 50 concurrent",
    }
    for name, rate in median.items():
        ratio = "" if name == "raw" else f"   ratio {rate / raw:.2f}"
        spread = ", ".join(f"{r:.0f}" for r in results[name])
        print(f"  {labels[name]:<42} {rate:7.0f} cycles/s{ratio}   (runs: {spread})")
    verdict = "meets" if median["run"] / raw >= 0.5 else "MISSES"
    print(f"  target ledger/raw >= 0.5: {verdict} ({median['run'] / raw:.2f})")


# -- PostgreSQL --------------------------------------------------------------------------------


async def postgres_ledger(cycles: int, workers: int) -> tuple[float, float]:
    """(cycles/s, this process's CPU share of one core) through the bot's Ledger on PG."""
    schema = await Schema.create("ledgerbench")
    try:
        db = await PostgresDatabase.open(schema.url, max_connections=workers)
        try:
            ledger = await fund(db, workers)
            cpu = time.process_time()
            wall = time.perf_counter()
            rate = await timed_cycles(db, ledger, cycles, run_cycle, workers)
            share = (time.process_time() - cpu) / (time.perf_counter() - wall)
            return rate, share
        finally:
            await db.close()
    finally:
        await schema.drop()


async def pgbench(clients: int, seconds: float) -> float:
    """pgbench's simple-update tps with `clients` connections, in a scratch schema."""
    name = f"pgbench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(SERVER_URL, timeout=5)
    await admin.execute(f"CREATE SCHEMA {name}")
    env = dict(os.environ, PGOPTIONS=f"-c search_path={name}")
    try:
        init = [PGBENCH, "-i", "-q", "-s", "1", SERVER_URL]
        done = await asyncio.to_thread(subprocess.run, init, env=env, capture_output=True)
        if done.returncode:
            raise SystemExit(f"pgbench -i failed: {done.stderr.decode()}")
        threads = str(min(clients, os.cpu_count() or 1))
        command = [PGBENCH, "-N", "-c", str(clients), "-j", threads, "-T", f"{seconds:g}"]
        command.append(SERVER_URL)
        done = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True
        )
        match = re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE)
        if done.returncode or match is None:
            raise SystemExit(f"pgbench failed: {done.stdout}{done.stderr}")
        return float(match.group(1))
    finally:
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.close()


async def postgres_figures(cycles: int, rounds: int, clients: list[int], seconds: float) -> None:
    conn = await asyncpg.connect(SERVER_URL, timeout=5)
    try:
        version = await conn.fetchval("SHOW server_version")
        settings = [
            f"{name}={await conn.fetchval(f'SHOW {name}')}"
            for name in ("fsync", "synchronous_commit", "shared_buffers")
        ]
    finally:
        await conn.close()
    ledger: dict[int, list[float]] = {n: [] for n in clients}
    shares: dict[int, list[float]] = {n: [] for n in clients}
    tps: dict[int, list[float]] = {n: [] for n in clients}
    for _ in range(rounds):
        for n in clients:
            rate, share = await postgres_ledger(cycles, n)
            ledger[n].append(rate)
            shares[n].append(share)
            tps[n].append(await pgbench(n, seconds))
    print(
        f"PostgreSQL {version} ({', '.join(settings)}), same machine: {cycles} hold+capture "
        f"cycles per bot run, pgbench -N for {seconds:g} s; median of {rounds} interleaved rounds"
    )
    for n in clients:
        cycles_s = statistics.median(ledger[n])
        bench_tps = statistics.median(tps[n])
        print(
            f"  {n:>3} worker(s): bot Ledger {cycles_s:6.0f} cycles/s = {2 * cycles_s:6.0f} tx/s "
            f"(bench process {statistics.median(shares[n]):.0%} of a core)   pgbench -N "
            f"{bench_tps:6.0f} tps   ratio {2 * cycles_s / bench_tps:.2f}"
            f"   (runs: {', '.join(f'{r:.0f}' for r in ledger[n])} / "
            f"{', '.join(f'{r:.0f}' for r in tps[n])})"
        )


async def main(args: argparse.Namespace) -> None:
    await sqlite_figures(args.cycles, args.rounds)
    if args.no_postgres:
        return
    why = await reachable()
    if why is not None:
        print(f"PostgreSQL: not measured, {SERVER_URL} is not reachable ({why})")
        return
    clients = [int(n) for n in args.clients.split(",") if n.strip()]
    await postgres_figures(args.cycles, args.rounds, clients, args.pg_seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000, help="cycles per run (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--clients", default="1,10", help="PostgreSQL workers = pgbench clients (default 1,10)"
    )
    parser.add_argument(
        "--pg-seconds", type=float, default=10.0, help="pgbench -T per run (default 10)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite figures only")
    asyncio.run(main(parser.parse_args()))
