"""What the seeded storms share: the run's seed, and each planned job's generator."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pytest

Scenario = TypeVar("Scenario")


def announced_seed(
    variable: str, capsys: pytest.CaptureFixture[str], banner: str, details: str
) -> int:
    """The run's seed: `variable` from the environment, else a fresh one.

    Printed first, past pytest's capture, so that a failed run can be replayed with it.
    """
    seed = int(os.environ.get(variable) or random.SystemRandom().randrange(2**32))
    with capsys.disabled():
        print(f"\n{banner}: {variable}={seed} {details}", flush=True)
    return seed


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


def scenario_chooser(
    seed: int,
    prompt: re.Pattern[str],
    scenario: Callable[[random.Random, int, str], Scenario],
) -> Callable[[Mapping[str, Any]], Scenario | None]:
    """A fake's `choose`: `scenario(generator, index, kind)` for a planned job, None otherwise."""

    def choose(body: Mapping[str, Any]) -> Scenario | None:
        found = planned_job(seed, prompt, body)
        return None if found is None else scenario(*found)

    return choose
