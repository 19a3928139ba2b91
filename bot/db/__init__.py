"""The database: one store layer over SQLite (one process) or PostgreSQL (several)."""

from __future__ import annotations

from pathlib import Path

from bot.db.base import Database, Params, Row, Transaction, Work
from bot.db.dialect import Dialect
from bot.db.postgres import PostgresDatabase
from bot.db.sqlite import SqliteDatabase

__all__ = ["Database", "Dialect", "Params", "Row", "Transaction", "Work", "open_database"]


async def open_database(where: str | Path) -> Database:
    """Open a `postgresql://` URL on PostgreSQL, anything else as a SQLite file path."""
    if isinstance(where, str) and where.startswith(("postgresql://", "postgres://")):
        return await PostgresDatabase.open(where)
    return await SqliteDatabase.open(where)
