"""Fixtures every test folder may use: this run's PostgreSQL schema."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from tests.postgres import Schema, reachable, unavailable

T = TypeVar("T")


def blocking(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to its end on a loop of its own (fixtures may be set up inside a test's loop)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, asyncio.run(work)))
        except BaseException as exc:  # handed to the caller below
            outcome.append((False, exc))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[Schema]:
    """One migrated schema for the whole run, dropped at its end."""
    reason = blocking(reachable())
    if reason is not None:
        unavailable(reason)
    schema = blocking(Schema.create())
    yield schema
    blocking(schema.drop())


@pytest.fixture
def postgres(postgres_schema: Schema) -> Schema:
    """The run's schema, emptied for this test."""
    blocking(postgres_schema.reset())
    return postgres_schema
