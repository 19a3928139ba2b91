"""The one migration history both engines follow (written in SQLite's DDL, see dialect)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources


def migration_scripts() -> Iterator[tuple[int, str, str]]:
    """(version, file name, script) of every migration, oldest first."""
    folder = resources.files("bot") / "migrations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            yield version, entry.name, entry.read_text(encoding="utf-8")
