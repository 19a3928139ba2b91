"""SQLite: one process, WAL, durable group commits, and write transactions that never interleave.

Statements run on the event loop's thread: with the data in the page cache one costs
microseconds, less than a hop to a worker thread. Only what waits on the disk (the commit's
fsync, and opening and migrating) runs on a thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from bot.db.base import Params, Row, Work
from bot.db.dialect import SQLITE, Dialect
from bot.db.migrations import migration_scripts

log = logging.getLogger(__name__)

R = TypeVar("R")


class SqliteTransaction:
    """Statements on one connection, inside the transaction its owner opened."""

    dialect: Dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        return self._conn.execute(SQLITE.sql(sql), params).rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT; return the new row id."""
        row = self._conn.execute(f"{SQLITE.sql(sql)} RETURNING id", params).fetchone()
        return int(row[0])

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Read one row as this transaction sees the data."""
        row: Row | None = self._conn.execute(SQLITE.sql(sql), params).fetchone()
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Read all rows as this transaction sees the data."""
        return list(self._conn.execute(SQLITE.sql(sql), params).fetchall())

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (an aggregate, say), or None without rows."""
        row = self._conn.execute(SQLITE.sql(sql), params).fetchone()
        return None if row is None else row[0]


class SqliteDatabase:
    """One writer connection behind a lock, one reader connection; both in WAL mode."""

    dialect: Dialect = SQLITE

    def __init__(self, writer: sqlite3.Connection, reader: sqlite3.Connection) -> None:
        self._writer = writer
        self._reader = reader
        self._write_tx = SqliteTransaction(writer)
        self._read_tx = SqliteTransaction(reader)
        # Work awaits between statements, so without this lock a second coroutine's statements
        # could run inside (and roll back with) the first one's transaction.
        self._write_lock = asyncio.Lock()
        # Write transactions waiting for the next group commit (see `run`).
        self._queued: list[tuple[Work[Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path | str) -> SqliteDatabase:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await asyncio.to_thread(_connect, path)
        await asyncio.to_thread(migrate, writer)
        reader = await asyncio.to_thread(_connect, path)
        return cls(writer, reader)

    async def close(self) -> None:
        """Close both connections."""
        async with self._write_lock:
            self._reader.close()
            self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        """A write transaction: all or nothing, committed durably before the block's result."""
        async with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._write_tx
            except BaseException:
                _rollback_if_open(self._writer)
                raise
            await _uncancellable(asyncio.to_thread(self._writer.execute, "COMMIT"))

    async def run(self, fn: Work[R], *args: Any) -> R:
        """A whole write transaction `await fn(tx, *args)`, durable before this returns.

        Calls that arrive while a commit is under way are committed together (group commit):
        one fsync for the lot, each call in a savepoint of its own, so one that raises is
        rolled back alone and the others still commit. Cancelling the caller cannot cut `fn`
        short: it commits or rolls back whole.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Read even when the caller was cancelled meanwhile, so no error goes unreported.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._queued.append((fn, args, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="db-group-commit")
        result: R = await asyncio.shield(future)
        return result

    async def _commit_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                async with self._write_lock:
                    outcomes = await self._in_group(batch)
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

    async def _in_group(
        self, batch: list[tuple[Work[Any], tuple[Any, ...], asyncio.Future[Any]]]
    ) -> list[tuple[bool, Any]]:
        """Each call in its own savepoint inside one transaction; (ok, result or error) each."""
        conn = self._writer
        outcomes: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, args, _ in batch:
                conn.execute("SAVEPOINT one_call")
                try:
                    outcomes.append((True, await fn(self._write_tx, *args)))
                except Exception as exc:
                    conn.execute("ROLLBACK TO one_call")
                    outcomes.append((False, exc))
                conn.execute("RELEASE one_call")
            await _uncancellable(asyncio.to_thread(conn.execute, "COMMIT"))
        except BaseException:
            _rollback_if_open(conn)
            raise
        return outcomes

    async def read(self, fn: Work[R], *args: Any) -> R:
        """`await fn(tx, *args)` on the reader: committed data, no lock, nothing written."""
        return await fn(self._read_tx, *args)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Read one committed row."""
        return await self._read_tx.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Read committed rows."""
        return await self._read_tx.fetchall(sql, params)


async def _uncancellable(work: Awaitable[R]) -> R:
    """Await `work` to its end even if the caller is cancelled meanwhile (then re-raise)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # A COMMIT already on its thread cannot be called back; the connection must not be
        # touched (say, rolled back) until it has finished.
        await asyncio.wait([task])
        raise


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _connect(path: Path | str) -> sqlite3.Connection:
    # The connection is used from the loop's thread and, for commits, from a worker thread,
    # never both at once (the write lock).
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed hold or capture survives power loss, not just a process crash.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the database's user_version; return the new version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for version, name, script in migration_scripts():
        if version <= current:
            continue
        log.info("applying migration %s", name)
        # executescript commits first; the script carries its own BEGIN/COMMIT so it is atomic.
        conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
        current = version
    return current
