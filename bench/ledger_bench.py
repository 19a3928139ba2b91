"""Hold-then-capture cycles per second: the bot's ledger code beside raw sqlite3, in one run.

One cycle is two durable transactions, the shape every video has:
  1. BEGIN IMMEDIATE; insert the job row; Ledger hold (guarded UPDATE of the member, INSERT
     hold, INSERT ledger row); COMMIT
  2. BEGIN IMMEDIATE; Ledger capture (read the open hold, guarded UPDATE of it, INSERT ledger
     row, UPDATE the member); COMMIT

Paths measured on their own fresh database file each, all in WAL mode with synchronous=FULL:
  raw          sqlite3 on the calling thread, the same statements typed out by hand
  one hop      the real Database.run + Ledger.hold_in / resolve_in (how the bot's own
               one-transaction operations run: a whole transaction in one thread hop)
  Transaction  the real Database.transaction() + Ledger.hold / capture, as JobService.start and
               the runner call them (BEGIN, the job insert, the ledger step and COMMIT: 4 hops)
  one hop x50  the one-hop path with 50 coroutines at once, as a busy server would drive it

Before timing, the statements each bot path sends to SQLite are traced and compared with the raw
path's, so the comparison is like for like. The target is ledger/raw >= 0.5.

Run: .venv/bin/python bench/ledger_bench.py [--cycles N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.db import Database  # noqa: E402
from bot.ledger import Ledger  # noqa: E402

GUILD, USER = 1, 2
PRICE = 15
FUNDS = 10**12
JOB_SQL = (
    "INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, request_json, price, state, "
    "created_at, upload_limit) VALUES (?, ?, 1, ?, 'kvid', '{}', ?, 'queued', ?, 0)"
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
        "INSERT INTO ledger (guild_id, user_id, kind, balance_delta, held_delta, job_id, "
        "reason, actor_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (GUILD, USER, "hold", 0, PRICE, job_id, "job started", None, now),
    )
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
        "INSERT INTO ledger (guild_id, user_id, kind, balance_delta, held_delta, job_id, "
        "reason, actor_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row[0], row[1], "capture", -row[2], -row[2], job_id, "video delivered", None, now),
    )
    conn.execute(
        "UPDATE members SET balance = balance + ?, held = held + ? "
        "WHERE guild_id = ? AND user_id = ?",
        (-row[2], -row[2], row[0], row[1]),
    )
    conn.execute("COMMIT")


# -- the bot's code ----------------------------------------------------------------------------


def _hold_in(ledger: Ledger, conn: sqlite3.Connection, job_id: str) -> None:
    insert_job(conn, job_id, time.time())
    ledger.hold_in(conn, GUILD, USER, job_id, PRICE)


async def one_hop_cycle(db: Database, ledger: Ledger, job_id: str) -> None:
    """Hold then capture, each a whole transaction in one hop (Database.run)."""
    await db.run(lambda conn: _hold_in(ledger, conn, job_id))
    assert await db.run(ledger.resolve_in, job_id, "captured", "video delivered")


async def transaction_cycle(db: Database, ledger: Ledger, job_id: str) -> None:
    """Hold then capture through the async Transaction, as JobService and the runner do."""
    async with db.transaction() as tx:
        await tx.run(insert_job, job_id, time.time())
        await ledger.hold_in(tx, GUILD, USER, job_id, PRICE)
    async with db.transaction() as tx:
        assert await ledger.capture(tx, job_id)


# -- harness -------------------------------------------------------------------------------


async def fresh(folder: Path, name: str) -> tuple[Database, Ledger]:
    """A new database with the real migrations and one well-funded member."""
    db = await Database.open(folder / f"{name}.sqlite3")
    ledger = Ledger(db, starting_credits=0, clock=time.time)
    await ledger.grant(GUILD, USER, FUNDS, "bench funds", actor_id=None)
    return db, ledger


async def check_books(db: Database, cycles: int) -> None:
    """The ledger still adds up after the run (I1, I2), and every cycle spent exactly PRICE."""
    row = await db.fetchone(
        "SELECT m.balance, m.held, (SELECT SUM(balance_delta) FROM ledger) AS summed FROM members m"
    )
    assert row is not None
    assert row["balance"] == row["summed"] == FUNDS - cycles * PRICE, dict(row)
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
    for name, cycle in (("one-hop", one_hop_cycle), ("transaction", transaction_cycle)):
        db, ledger = await fresh(folder, f"trace-{name}")
        seen: list[str] = []
        await db.run(lambda conn, seen=seen: conn.set_trace_callback(seen.append))
        await cycle(db, ledger, "trace")
        await db.run(lambda conn: conn.set_trace_callback(None))
        await db.close()
        # Drop the COMMIT and BEGIN of the transactions that switched tracing on and off.
        got = _shapes(seen)[1:-1]
        if got != _shapes(expected):
            raise SystemExit(f"{name}: statements differ from raw:\n{got}\n{_shapes(expected)}")


def _shapes(statements: list[str]) -> list[str]:
    """Statements with their values blanked (timestamps differ from run to run)."""
    return [re.sub(r"'[^']*'|-?\b\d+(\.\d+)?\b", "?", s) for s in statements]


async def timed_bot(
    folder: Path,
    name: str,
    cycles: int,
    cycle: Callable[[Database, Ledger, str], Awaitable[None]],
    concurrency: int = 1,
) -> float:
    db, ledger = await fresh(folder, name)
    ids = iter(range(cycles))

    async def worker() -> None:
        for n in ids:
            await cycle(db, ledger, f"j{n}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await check_books(db, cycles)
    await db.close()
    return cycles / elapsed


async def timed_raw(folder: Path, name: str, cycles: int) -> float:
    db, _ = await fresh(folder, name)  # same migrations and funding as the bot's paths
    await db.close()
    conn = raw_connect(folder / f"{name}.sqlite3")
    started = time.perf_counter()
    for n in range(cycles):
        raw_cycle(conn, f"j{n}")
    elapsed = time.perf_counter() - started
    conn.close()
    db = await Database.open(folder / f"{name}.sqlite3")
    await check_books(db, cycles)
    await db.close()
    return cycles / elapsed


async def main(cycles: int, rounds: int) -> None:
    results: dict[str, list[float]] = {
        "raw": [],
        "one hop": [],
        "Transaction": [],
        "one hop x50": [],
    }
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        folder = Path(tmp)
        await trace(folder)
        # Rounds interleave the paths so drift in the machine's speed hits them alike.
        for r in range(rounds):
            results["raw"].append(await timed_raw(folder, f"raw{r}", cycles))
            results["one hop"].append(await timed_bot(folder, f"hop{r}", cycles, one_hop_cycle))
            results["Transaction"].append(
                await timed_bot(folder, f"tx{r}", cycles, transaction_cycle)
            )
            results["one hop x50"].append(
                await timed_bot(folder, f"c{r}", cycles, one_hop_cycle, concurrency=50)
            )
    median = {name: statistics.median(rates) for name, rates in results.items()}
    raw = median["raw"]
    print(
        f"ledger_bench: {cycles} hold+capture cycles (2 durable transactions each) per run, "
        f"median of {rounds} interleaved rounds; WAL, synchronous=FULL; SQLite "
        f"{sqlite3.sqlite_version}, Python {platform.python_version()}, {platform.machine()}"
    )
    labels = {
        "raw": "raw sqlite3, same statements",
        "one hop": "bot Ledger, Database.run (1 hop/tx)",
        "Transaction": "bot Ledger, async Transaction (4/3 hops)",
        "one hop x50": "bot Ledger, 1 hop/tx, 50 concurrent",
    }
    for name, rate in median.items():
        ratio = "" if name == "raw" else f"   ratio {rate / raw:.2f}"
        spread = ", ".join(f"{r:.0f}" for r in results[name])
        print(f"  {labels[name]:<42} {rate:7.0f} cycles/s{ratio}   (runs: {spread})")
    verdict = "meets" if median["one hop"] / raw >= 0.5 else "MISSES"
    print(f"  target ledger/raw >= 0.5: {verdict} ({median['one hop'] / raw:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000, help="cycles per run (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    asyncio.run(main(args.cycles, args.rounds))
