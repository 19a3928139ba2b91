"""Move a SQLite database into an empty PostgreSQL one, then prove the books match.

    python -m bot.db.move                        # DATABASE_PATH -> DATABASE_URL, from .env
    python -m bot.db.move --from data/bot.sqlite3 --to postgresql://user@host/db

Every row is copied in one PostgreSQL transaction, parents before children. Before it
commits, each table's row count, every member's balance and held credits, and the ledger's
sums by kind are compared on both sides; any difference rolls the whole move back. The SQLite
file is only read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from dotenv import find_dotenv, load_dotenv

from bot.db import is_postgres_url
from bot.db.postgres import PostgresDatabase
from bot.db.sqlite import SqliteDatabase

# Compared on both sides before the move commits.
_MEMBER_BOOKS = "SELECT guild_id, user_id, balance, held FROM members ORDER BY guild_id, user_id"
_LEDGER_SUMS = (
    "SELECT kind, COUNT(*), SUM(balance_delta), SUM(held_delta) FROM ledger "
    "GROUP BY kind ORDER BY kind"
)


class MoveError(Exception):
    """The move was refused or did not add up; nothing was written."""


@dataclass(frozen=True)
class Moved:
    """What a move copied."""

    rows: dict[str, int]
    members: int
    credits: int


async def move(source: Path, target_url: str) -> Moved:
    """Copy every table of `source` into the database at `target_url`, checked, or raise."""
    if not source.is_file():
        raise MoveError(f"there is no SQLite database at {source}")
    # Opening brings both schemas to the same (newest) version before anything is copied.
    sqlite_db = await SqliteDatabase.open(source)
    await sqlite_db.close()
    postgres_db = await PostgresDatabase.open(target_url)
    await postgres_db.close()
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        conn = await asyncpg.connect(target_url)
        try:
            async with conn.transaction():
                return await _copy_checked(reader, conn)
        finally:
            await conn.close()
    finally:
        reader.close()


async def _copy_checked(reader: sqlite3.Connection, conn: asyncpg.Connection) -> Moved:
    tables = _parents_first(reader)
    for table in tables:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            raise MoveError(
                f"the PostgreSQL database is not empty (table {table} has rows); "
                "move into a new, empty database"
            )
    rows: dict[str, int] = {}
    for table in tables:
        rows[table] = await _copy_table(reader, conn, table)
    for table in tables:
        if _is_rowid_key(reader, table):
            # New rows must number on from the copied ones.
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
    mismatches = []
    for table in tables:
        copied = await conn.fetchval(f"SELECT COUNT(*) FROM {table}")
        if copied != rows[table]:
            mismatches.append(f"{table}: {rows[table]} rows in SQLite, {copied} in PostgreSQL")
    before = [tuple(r) for r in reader.execute(_MEMBER_BOOKS)]
    after = [tuple(r) for r in await conn.fetch(_MEMBER_BOOKS)]
    if before != after:
        mismatches.append("members' balances differ")
    if [tuple(r) for r in reader.execute(_LEDGER_SUMS)] != [
        tuple(r) for r in await conn.fetch(_LEDGER_SUMS)
    ]:
        mismatches.append("the ledger's sums by kind differ")
    if mismatches:
        raise MoveError("the copy does not match, so nothing was moved: " + "; ".join(mismatches))
    return Moved(rows=rows, members=len(after), credits=sum(int(r[2]) for r in after))


async def _copy_table(reader: sqlite3.Connection, conn: asyncpg.Connection, table: str) -> int:
    columns = _columns(reader, table)
    # A job may name its parent: parents were made first.
    order = " ORDER BY created_at, rowid" if table == "jobs" else " ORDER BY rowid"
    records: list[Sequence[Any]] = reader.execute(
        f"SELECT {', '.join(columns)} FROM {table}{order}"
    ).fetchall()
    if records:
        await conn.copy_records_to_table(table, records=records, columns=columns)
    return len(records)


def _tables(reader: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in reader.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid"
        )
    ]


def _parents_first(reader: sqlite3.Connection) -> list[str]:
    """Every table after the tables its foreign keys point at."""
    tables = _tables(reader)
    parents = {
        table: {row[2] for row in reader.execute(f"PRAGMA foreign_key_list({table})")} - {table}
        for table in tables
    }
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in ordered and parents[t] <= set(ordered)]
        if not ready:
            raise MoveError(f"the tables' foreign keys form a cycle: {sorted(parents)}")
        ordered.extend(ready)
    return ordered


def _columns(reader: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in reader.execute(f"PRAGMA table_info({table})")]


def _is_rowid_key(reader: sqlite3.Connection, table: str) -> bool:
    return any(
        row[1] == "id" and row[5] == 1 and row[2].upper() == "INTEGER"
        for row in reader.execute(f"PRAGMA table_info({table})")
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: move DATABASE_PATH (or --from) into DATABASE_URL (or --to)."""
    load_dotenv(find_dotenv(usecwd=True))
    parser = argparse.ArgumentParser(
        prog="python -m bot.db.move",
        description="Move the bot's SQLite database into an empty PostgreSQL database.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=Path(os.environ.get("DATABASE_PATH", "data/bot.sqlite3")),
        help="the SQLite file (default: DATABASE_PATH, else data/bot.sqlite3)",
    )
    parser.add_argument(
        "--to",
        dest="target",
        default=os.environ.get("DATABASE_URL", ""),
        help="postgresql://user:password@host:port/database (default: DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    if not is_postgres_url(args.target):
        print("Cannot move: give --to postgresql://... or set DATABASE_URL.", file=sys.stderr)
        return 2
    try:
        moved = asyncio.run(move(args.source, args.target))
    except MoveError as exc:
        print(f"Cannot move: {exc}.", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"Cannot move: PostgreSQL refused: {exc}.", file=sys.stderr)
        return 1
    total = sum(moved.rows.values())
    print(
        f"Moved {total} rows in {len(moved.rows)} tables from {args.source}; "
        f"{moved.members} members' balances ({moved.credits} credits) and the ledger match."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
