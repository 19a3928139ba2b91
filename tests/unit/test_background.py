"""The wake-or-timeout loop of the background passes (bot.background)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from bot.background import run_passes, seconds_until, wait_or_timeout


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


async def _stop(task: asyncio.Task[None]) -> None:
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

    task = asyncio.create_task(run_passes("test", one_pass, wake, idle=3600))
    try:
        async with asyncio.timeout(5):  # the idle wait is an hour: only the poke gets here
            await second.wait()
    finally:
        await _stop(task)
    assert passes[:2] == [0, 1]


async def test_a_failing_pass_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wake = asyncio.Event()
    recovered = asyncio.Event()
    calls = 0

    async def one_pass() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database is locked")
        recovered.set()

    with caplog.at_level(logging.ERROR, logger="bot.background"):
        task = asyncio.create_task(run_passes("flaky", one_pass, wake, idle=0.01))
        try:
            async with asyncio.timeout(5):
                await recovered.wait()
        finally:
            await _stop(task)
    assert "flaky pass failed; continuing" in caplog.text


async def test_a_deadline_sooner_than_idle_wakes_the_loop() -> None:
    wake = asyncio.Event()
    now = 1000.0
    due_pass = asyncio.Event()
    calls = 0

    async def one_pass() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            due_pass.set()

    async def next_due() -> float:
        return now + 0.01  # due in 10 ms; idle is an hour

    task = asyncio.create_task(
        run_passes("due", one_pass, wake, idle=3600, next_due=next_due, clock=lambda: now)
    )
    try:
        async with asyncio.timeout(5):
            await due_pass.wait()
    finally:
        await _stop(task)
