"""Background loops that do a pass, then sleep until woken or until the next thing is due.

The job runner, the moderation pass (/server), the showcase poster and the event announcer
all work this way: a pass reads the database and acts; a poke (a new job, a decision, a
command) sets an `asyncio.Event` so the next wait returns at once; otherwise the loop wakes
when the earliest deadline it knows of is due, or after `idle` seconds at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# The shortest wait: a deadline already passed still yields to the event loop.
MIN_WAIT = 0.005


async def wait_or_timeout(wake: asyncio.Event, seconds: float, *, floor: float = MIN_WAIT) -> bool:
    """Wait until `wake` is set or `seconds` have passed; True if it was woken."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=max(seconds, floor))
        return True
    return False


def seconds_until(due: float | None, now: float, idle: float) -> float:
    """How long to sleep: until `due` (a timestamp, or None for nothing due), `idle` at most."""
    return idle if due is None else min(idle, due - now)


async def run_passes(
    what: str,
    one_pass: Callable[[], Awaitable[object]],
    wake: asyncio.Event,
    *,
    idle: float,
    next_due: Callable[[], Awaitable[float | None]] | None = None,
    clock: Callable[[], float] = time.time,
    floor: float = MIN_WAIT,
) -> None:
    """Run `one_pass` until cancelled, waiting between passes (see the module's docstring).

    `wake` is cleared before each pass, so a poke during the pass makes the next wait return at
    once. A failing pass (or deadline lookup) is logged and the loop goes on; cancellation
    stops it.
    """
    while True:
        wake.clear()
        timeout = idle
        try:
            await one_pass()
            if next_due is not None:
                timeout = seconds_until(await next_due(), clock(), idle)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s pass failed; continuing", what)
        await wait_or_timeout(wake, timeout, floor=floor)


class BackgroundLoop:
    """One named background loop (see run_passes): started once, poked, stopped on unload.

    A cog starts it when connected (`on_ready` may fire again on reconnects: it starts once)
    and stops it when unloaded; anything that changed what a pass would do calls `poke`.
    """

    def __init__(
        self,
        what: str,
        one_pass: Callable[[], Awaitable[object]],
        *,
        idle: float,
        next_due: Callable[[], Awaitable[float | None]] | None = None,
        clock: Callable[[], float] = time.time,
        floor: float = MIN_WAIT,
    ) -> None:
        self.what = what
        self.wake = asyncio.Event()
        self._run = functools.partial(
            run_passes,
            what,
            one_pass,
            self.wake,
            idle=idle,
            next_due=next_due,
            clock=clock,
            floor=floor,
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop, unless it is running already."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.what)

    def poke(self) -> None:
        """Make a pass now rather than at the next deadline."""
        self.wake.set()

    async def stop(self) -> None:
        """Cancel the loop and wait until it has stopped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
