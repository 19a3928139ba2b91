"""The database: one store layer over SQLite (one process) or PostgreSQL (several)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

from bot.db.base import Database, Params, Row, Transaction, Work, execute_alone
from bot.db.dialect import Dialect
from bot.db.postgres import PostgresDatabase
from bot.db.sqlite import SqliteDatabase

__all__ = [
    "Database",
    "Dialect",
    "Params",
    "Row",
    "Transaction",
    "Work",
    "execute_alone",
    "is_postgres_url",
    "open_database",
]


def is_postgres_url(where: str | Path) -> TypeGuard[str]:
    """Whether `where` names a PostgreSQL database (else it is a SQLite file)."""
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


async def open_database(where: str | Path) -> Database:
    """Open a `postgresql://` URL on PostgreSQL, anything else as a SQLite file path."""
    if is_postgres_url(where):
        return await PostgresDatabase.open(where)
    return await SqliteDatabase.open(where)
