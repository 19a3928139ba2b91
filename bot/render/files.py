"""Output files written whole: readers see a finished file under its name, or none at all."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(dest: Path) -> Iterator[Path]:
    """A temp path to write `dest` at; it takes dest's name only when the block succeeds."""
    # A hidden sibling of dest, so the final rename stays on one filesystem.
    temp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        yield temp
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)
