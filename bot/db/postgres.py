"""PostgreSQL through asyncpg: a pool shared by this process's stores, one migration history.

Transactions run at READ COMMITTED. The stores keep their promises there by construction: job
steps are compare-and-set on a version, claims skip rows another process has locked, holds
are guarded updates, and where a read decides a write the read locks its row (`FOR UPDATE`).
A transaction that still meets a deadlock or a serialization failure is run again whole.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from bot.db.base import Params, Row, Work
from bot.db.dialect import POSTGRES, Dialect
from bot.db.migrations import migration_scripts

log = logging.getLogger(__name__)

R = TypeVar("R")

# Any lock key will do as long as every process of this bot uses the same one.
_MIGRATION_LOCK = 0x7669646562
_RETRIES = 8
_RETRYABLE = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)


class PostgresTransaction:
    """Statements on one pooled connection, inside its transaction."""

    dialect: Dialect = POSTGRES

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        status: str = await self._conn.execute(POSTGRES.sql(sql), *params)
        # asyncpg answers with the command tag: "UPDATE 3", "INSERT 0 1", "DELETE 0".
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT; return the new row id."""
        return int(await self._conn.fetchval(f"{POSTGRES.sql(sql)} RETURNING id", *params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Read one row as this transaction sees the data."""
        row: Row | None = await self._conn.fetchrow(POSTGRES.sql(sql), *params)
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Read all rows as this transaction sees the data."""
        return list(await self._conn.fetch(POSTGRES.sql(sql), *params))

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (an aggregate, say), or None without rows."""
        return await self._conn.fetchval(POSTGRES.sql(sql), *params)


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database, shared by every process of the bot."""

    dialect: Dialect = POSTGRES

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, max_connections: int = 10) -> PostgresDatabase:
        """Connect to `url` and bring its schema up to date."""
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_connections,
            statement_cache_size=1024,
            init=_as_sqlite_numbers,
            reset=_end_open_transaction,
        )
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        """Close the pool's connections."""
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        """A write transaction as a block: all or nothing, durable when the block ends."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn)

    async def run(self, fn: Work[R], *args: Any) -> R:
        """A whole write transaction `await fn(tx, *args)`, committed before this returns.

        Run in a task of its own, so cancelling the caller cannot cut it short.
        """
        task = asyncio.ensure_future(self._run_retrying(fn, args))
        # Read even when the caller was cancelled meanwhile, so no error goes unreported.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(task)

    async def _run_retrying(self, fn: Work[R], args: tuple[Any, ...]) -> R:
        for attempt in range(1, _RETRIES + 1):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    return await fn(PostgresTransaction(conn), *args)
            except _RETRYABLE as exc:
                if attempt == _RETRIES:
                    raise
                log.debug("transaction %s retried (%s)", getattr(fn, "__name__", fn), exc)
                # Jitter, so the transactions that collided do not collide again.
                await asyncio.sleep(random.uniform(0, 0.005 * attempt))
        raise AssertionError("unreachable")

    async def read(self, fn: Work[R], *args: Any) -> R:
        """`await fn(tx, *args)` over committed data, on one pooled connection."""
        async with self._pool.acquire() as conn:
            return await fn(PostgresTransaction(conn), *args)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Read one committed row."""
        row: Row | None = await self._pool.fetchrow(POSTGRES.sql(sql), *params)
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Read committed rows."""
        return list(await self._pool.fetch(POSTGRES.sql(sql), *params))


async def _as_sqlite_numbers(conn: asyncpg.Connection) -> None:
    """NUMERIC (what SUM and AVG of integers give) read as int or float, as SQLite gives them.

    Without it a sum of credits arrives as a Decimal, which mixes with neither float nor JSON.
    """
    await conn.set_type_codec(
        "numeric", schema="pg_catalog", format="text", encoder=str, decoder=_number
    )


async def _end_open_transaction(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: no transaction left open.

    asyncpg's default reset (RESET ALL, UNLISTEN, closing cursors...) is one more round trip per
    transaction (7% of a process's samples under load, py-spy); the bot sets no session state.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eEN") else int(text)


async def migrate(conn: asyncpg.Connection) -> int:
    """Apply every migration newer than the schema's version; return the new version.

    Processes starting together take turns on an advisory lock: one applies, the rest find
    the work done.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        current = await conn.fetchval("SELECT MAX(version) FROM schema_version") or 0
        for version, name, script in migration_scripts():
            if version <= current:
                continue
            log.info("applying migration %s", name)
            await conn.execute(POSTGRES.ddl(script))
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            current = version
    return int(current)
