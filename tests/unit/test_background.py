"""The wake-or-timeout loop of the background passes (bot.background)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from bot.background import BackgroundLoop, run_passes, seconds_until, wait_or_timeout


async def test_wait_returns_when_woken_or_when_the_time_is_up() -> None:
    wake = asyncio.Event()
    wake.set()
    assert await wait_or_timeout(wake, 60) is True
    assert await wait_or_timeout(asyncio.Event(), 0.01) is False


def test_the_wait_is_until_the_next_deadline_and_never_longer_than_idle() -> None:
    assert seconds_until(None, 100.0, 5.0) == 5.0
    assert seconds_until(102.0, 100.0, 5.0) == 2.0
    assert seconds_until(200.0, 100.0, 5.0) == 5.0
    assert seconds_until(90.0, 100.0, 5.0) == -10.0  # overdue: the floor applies in the wait


async def run_until(done: asyncio.Event, what: str, one_pass, wake, **options) -> None:  # type: ignore[no-untyped-def]
    """Run the loop until `done` is set (5 s at most), then stop it."""
    task = asyncio.create_task(run_passes(what, one_pass, wake, **options))
    try:
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_poke_during_a_pass_makes_another_pass_at_once() -> None:
    wake = asyncio.Event()
    passes: list[int] = []
    second = asyncio.Event()

    async def one_pass() -> None:
        passes.append(len(passes))
        if len(passes) == 1:
            wake.set()  # something new arrived while this pass was reading
        else:
            second.set()

    await run_until(second, "test", one_pass, wake, idle=3600)  # only the poke gets there
    assert passes[:2] == [0, 1]


class Passes:
    """A pass that counts itself and sets `reached` on pass number `n` (failing on `fail_on`)."""

    def __init__(self, n: int, fail_on: int | None = None) -> None:
        self.n, self.fail_on, self.count = n, fail_on, 0
        self.reached = asyncio.Event()

    async def __call__(self) -> None:
        self.count += 1
        if self.count == self.fail_on:
            raise RuntimeError("database is locked")
        if self.count == self.n:
            self.reached.set()


async def test_a_failing_pass_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    passes = Passes(2, fail_on=1)
    with caplog.at_level(logging.ERROR, logger="bot.background"):
        await run_until(passes.reached, "flaky", passes, asyncio.Event(), idle=0.01)
    assert "flaky pass failed; continuing" in caplog.text


async def test_a_deadline_sooner_than_idle_wakes_the_loop() -> None:
    now = 1000.0
    passes = Passes(2)

    async def next_due() -> float:
        return now + 0.01  # due in 10 ms; idle is an hour

    await run_until(
        passes.reached,
        "due",
        passes,
        asyncio.Event(),
        idle=3600,
        next_due=next_due,
        clock=lambda: now,
    )


async def test_a_background_loop_starts_once_is_poked_and_stops() -> None:
    passes = 0
    first, poked = asyncio.Event(), asyncio.Event()

    async def one_pass() -> None:
        nonlocal passes
        passes += 1
        (first if passes == 1 else poked).set()

    loop = BackgroundLoop("cog", one_pass, idle=3600)
    loop.start()
    loop.start()  # on_ready again after a reconnect: still one loop
    async with asyncio.timeout(5):
        await first.wait()
        loop.poke()  # the idle wait is an hour: only the poke makes the second pass
        await poked.wait()
    await loop.stop()
    await loop.stop()  # unloading twice is harmless
    assert passes == 2
