"""Fixtures for the provider tests."""

from __future__ import annotations

import pytest

from tests.providers.support import RecordingSleep


@pytest.fixture
def sleeps() -> RecordingSleep:
    """The sleep a test's providers use, to read back their backoff."""
    return RecordingSleep()
