"""What every store sees of the database, whichever engine is behind it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from bot.db.dialect import Dialect

Params = Sequence[Any]
R = TypeVar("R")


class Row(Protocol):
    """A result row: by column name or position (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Transaction(Protocol):
    """Statements that commit or roll back together; SQL is written with `?` placeholders."""

    dialect: Dialect

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT into a table with an `id` key; return the new row's id."""
        ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Read one row as this transaction sees the data."""
        ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Read all rows as this transaction sees the data."""
        ...

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (an aggregate, say), or None without rows."""
        ...


# A unit of work: an async function of a transaction (and its own arguments).
Work = Callable[..., Awaitable[R]]


class Database(Protocol):
    """Durable write transactions and reads of committed data, on SQLite or PostgreSQL."""

    dialect: Dialect

    async def run(self, fn: Work[R], *args: Any) -> R:
        """A whole write transaction `await fn(tx, *args)`, durable before this returns.

        Cancelling the caller cannot cut `fn` short: it commits or rolls back whole.
        """
        ...

    async def read(self, fn: Work[R], *args: Any) -> R:
        """`await fn(tx, *args)` over committed data, for functions that never write."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction as a block: all or nothing, durable when the block ends."""
        ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Read one committed row."""
        ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Read committed rows."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


async def execute_alone(db: Database, sql: str, params: Params = ()) -> int:
    """One statement in a durable write transaction of its own; the rows it changed."""
    return await db.run(lambda tx: tx.execute(sql, params))
