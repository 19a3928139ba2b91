"""What the job service and the runner both work on, wired once and handed to each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.db import Database
from bot.jobs.store import JobStore
from bot.ledger import Ledger
from bot.providers.base import Provider


@dataclass(frozen=True)
class JobDeps:
    """The database, the jobs table, the ledger, the providers by name, and the clock."""

    db: Database
    store: JobStore
    ledger: Ledger
    providers: Mapping[str, Provider]
    clock: Callable[[], float]


class OnJobDeps:
    """A part of the job machinery; keeps the shared dependencies as private attributes."""

    def __init__(self, deps: JobDeps) -> None:
        self._db = deps.db
        self._store = deps.store
        self._ledger = deps.ledger
        self._providers = deps.providers
        self._clock = deps.clock
