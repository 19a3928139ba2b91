"""What the seeded storms share: each planned job's own generator, read back from its prompt."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any


def planned_job(
    seed: int, prompt: re.Pattern[str], body: Mapping[str, Any]
) -> tuple[random.Random, int, str] | None:
    """(The job's generator, its index, its kind) from a provider request; None if unplanned.

    `prompt` captures the index, then the kind. The generator depends only on the seed and the
    index, so a replayed storm gives each job the same scenario whatever order it arrives in.
    """
    match = prompt.search(str(body.get("prompt", "")).strip())
    if match is None:
        return None
    index = int(match[1])
    return random.Random(seed * 1_000_003 + index), index, match[2]
