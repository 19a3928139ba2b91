"""SQLite access: migrations, WAL, durable commits, and write transactions that never interleave."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]
R = TypeVar("R")


class Transaction:
    """Statements run inside one `BEGIN IMMEDIATE ... COMMIT`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT; return the new row id."""
        cursor = await self._conn.execute(sql, params)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Read one row with the transaction's view of the data."""
        cursor = await self._conn.execute(sql, params)
        return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Read all rows with the transaction's view of the data."""
        cursor = await self._conn.execute(sql, params)
        return list(await cursor.fetchall())

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """Run `fn(connection, *args)` inside this transaction, many statements in one hop."""
        return await _on_connection_thread(self._conn, fn, *args)


class Database:
    """One writer connection behind a lock, one reader connection; both in WAL mode."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        # aiosqlite shares one connection between coroutines, so without this lock a second
        # coroutine's statements would run inside (and roll back with) the first one's transaction.
        self._write_lock = asyncio.Lock()
        # Write transactions waiting for the next group commit (see `run`).
        self._queued: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        await migrate(writer)
        reader = await _connect(path)
        return cls(writer, reader)

    async def close(self) -> None:
        """Close both connections."""
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction: all or nothing, committed durably before the block's result."""
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield Transaction(self._writer)
            except BaseException:
                # A cancelled caller must not leave a transaction open for the next one: the
                # BEGIN may still run on the connection's thread after the await was cut short.
                # Shielded and queued behind it, the rollback always runs, in order.
                await asyncio.shield(_on_connection_thread(self._writer, _rollback_if_open))
                raise
            await asyncio.shield(self._writer.commit())

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """A whole write transaction `fn(connection, *args)`, durable before this returns.

        Calls that arrive while a commit is under way are committed together (group commit):
        one thread hop and one fsync for the lot, each call in a savepoint of its own, so one
        that raises is rolled back alone and the others still commit. Cancelling the caller
        cannot cut `fn` short: it commits or rolls back whole.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Read even when the caller was cancelled meanwhile, so no error goes unreported.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._queued.append((fn, args, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="db-group-commit")
        return await asyncio.shield(future)

    async def _commit_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            calls = [(fn, args) for fn, args, _ in batch]
            try:
                async with self._write_lock:
                    outcomes = await _on_connection_thread(self._writer, _in_group, calls)
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def read(self, fn: Callable[..., R], *args: Any) -> R:
        """Run `fn(connection, *args)` on the reader: several reads of committed data, one hop.

        No write lock and no durable commit: only for functions that never write.
        """
        return await _on_connection_thread(self._reader, fn, *args)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Read one committed row."""
        cursor = await self._reader.execute(sql, params)
        row = await cursor.fetchone()
        await cursor.close()
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Read committed rows."""
        cursor = await self._reader.execute(sql, params)
        rows = list(await cursor.fetchall())
        await cursor.close()
        return rows


async def _on_connection_thread(conn: aiosqlite.Connection, fn: Callable[..., R], *args: Any) -> R:
    # aiosqlite hops to its thread once per statement (~0.1 ms each here, about half a durable
    # commit). Its `_execute` queues any callable on that same thread, in order with every
    # other statement, so a whole transaction can cost one hop (bench/ledger_bench.py). This is
    # the only place that reaches into aiosqlite's private API.
    return await conn._execute(fn, conn._conn, *args)


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _in_group(
    conn: sqlite3.Connection, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]
) -> list[tuple[bool, Any]]:
    """Run each call in its own savepoint inside one transaction; (ok, result or error) each."""
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for fn, args in calls:
            conn.execute("SAVEPOINT one_call")
            try:
                outcomes.append((True, fn(conn, *args)))
            except Exception as exc:
                conn.execute("ROLLBACK TO one_call")
                outcomes.append((False, exc))
            conn.execute("RELEASE one_call")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


async def _connect(path: Path | str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed hold or capture survives power loss, not just a process crash.
    await conn.execute("PRAGMA synchronous=FULL")
    await conn.execute("PRAGMA busy_timeout=5000")
    await conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _migration_scripts() -> Iterable[tuple[int, str, str]]:
    folder = resources.files("bot") / "migrations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            yield version, entry.name, entry.read_text(encoding="utf-8")


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply every migration newer than the database's user_version; return the new version."""
    cursor = await conn.execute("PRAGMA user_version")
    row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    for version, name, script in _migration_scripts():
        if version <= current:
            continue
        log.info("applying migration %s", name)
        # executescript commits first; the script carries its own BEGIN/COMMIT so it is atomic.
        await conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
        )
        current = version
    return current
