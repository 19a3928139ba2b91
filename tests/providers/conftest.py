"""Fixtures for the provider tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest

from tests.providers.contracts import AnyFake, AnyProvider, Contract
from tests.providers.support import RecordingSleep


@pytest.fixture
def sleeps() -> RecordingSleep:
    """The sleep a test's providers use, to read back their backoff."""
    return RecordingSleep()


# A test module names its provider by defining a `contract` fixture (the contract suite
# parametrizes it over every provider); these build the fake and the provider from it.


@pytest.fixture
async def fake(contract: Contract[Any, Any]) -> AsyncIterator[AnyFake]:
    """The provider's fake, listening on 127.0.0.1 and expecting the contract's secret."""
    async with contract.fake_class(contract.secret) as server:
        yield server


@pytest.fixture
async def provider(
    contract: Contract[Any, Any], fake: AnyFake, sleeps: RecordingSleep
) -> AsyncIterator[AnyProvider]:
    """The provider under test, talking to `fake` with fast, recorded retries."""
    async with aclosing(contract.make_provider(fake.base_url, sleeps)) as made:
        yield made
