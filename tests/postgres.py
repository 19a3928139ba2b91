"""A PostgreSQL schema of its own for this test run, on the server at TEST_DATABASE_URL.

The run's tables live in a schema named after its process, so runs on one server (two
developers, CI beside a developer) never meet. Without a server the tests that need one are
skipped with the reason, unless REQUIRE_POSTGRES=1 (as in `.ci/run`) makes that a failure.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from urllib.parse import urlencode

import asyncpg
import pytest

from bot.db.postgres import PostgresDatabase

SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_START = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(or point TEST_DATABASE_URL at one)"
)


def required() -> bool:
    """Whether a missing server fails the run instead of skipping its tests."""
    return os.environ.get("REQUIRE_POSTGRES", "") == "1"


def unavailable(reason: str) -> None:
    """Skip (or, when PostgreSQL is required, fail) the test that needs the server."""
    message = f"PostgreSQL is not reachable at {SERVER_URL} ({reason}); {HOW_TO_START}"
    if required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def schema_url(schema: str) -> str:
    """The server URL with every connection's search_path set to `schema`."""
    separator = "&" if "?" in SERVER_URL else "?"
    # asyncpg passes query parameters it does not know to the server as settings.
    return f"{SERVER_URL}{separator}{urlencode({'search_path': schema})}"


class Schema:
    """One migrated schema; `reset()` empties its tables between tests."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = schema_url(name)

    @classmethod
    async def create(cls, label: str = "run") -> Schema:
        """Create and migrate a schema named after this process (and `label`)."""
        name = f"t_{label}_{os.getpid()}_{secrets.token_hex(3)}"
        conn = await _connect()
        try:
            await conn.execute(f"CREATE SCHEMA {name}")
        finally:
            await conn.close()
        database = await PostgresDatabase.open(schema_url(name))
        await database.close()
        return cls(name)

    async def reset(self) -> None:
        """Empty every table (the schema's version stays), identities back to 1."""
        conn = await _connect()
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1 "
                "AND tablename <> 'schema_version'",
                self.name,
            )
            names = ", ".join(f"{self.name}.{row['tablename']}" for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    async def drop(self) -> None:
        """Drop the schema and all in it."""
        conn = await _connect()
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
        finally:
            await conn.close()


async def _connect() -> asyncpg.Connection:
    return await asyncpg.connect(SERVER_URL, timeout=5)


async def reachable() -> str | None:
    """None if the server answers, else why not."""
    try:
        conn = await _connect()
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return str(exc) or type(exc).__name__
    await conn.close()
    return None


# What each engine raises when a write breaks a rule of the schema (a key, a CHECK, a trigger).
REFUSED_WRITE = (
    sqlite3.IntegrityError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.RaiseError,
)
