"""Fixtures every test folder may use: this run's PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.loops import blocking
from tests.postgres import Schema, reachable, unavailable


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
