"""RetryPolicy, parse_retry_after and call_with_retries."""

from __future__ import annotations

import email.utils
import random

import httpx
import pytest

from bot.providers.base import ProviderError, ProviderFailure
from bot.providers.http import RetryPolicy, call_with_retries, parse_retry_after
from tests.providers.support import RecordingSleep

NOW = 1_800_000_000.0


def _failure(retryable: bool, *, retry_after: float | None = None, status: int = 500):
    return ProviderFailure(
        "boom", "It broke.", retryable, http_status=status, retry_after=retry_after
    )


class Script:
    """`send`/`interpret` replaying outcomes: a ProviderFailure, an exception or a value."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def send(self) -> httpx.Response:
        index = min(self.calls, len(self.outcomes) - 1)  # the last outcome repeats
        self.calls += 1
        if isinstance(self.outcomes[index], Exception):
            raise self.outcomes[index]
        return httpx.Response(200, json={"outcome": index})

    def interpret(self, response: httpx.Response) -> object:
        outcome = self.outcomes[response.json()["outcome"]]
        if isinstance(outcome, ProviderFailure):
            raise ProviderError(outcome)
        return outcome


# -- parse_retry_after ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), (" 2.5 ", 2.5), ("0", 0.0), ("-3", 0.0), ("120", 120.0)],
)
def test_retry_after_in_seconds(header: str, expected: float) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_retry_after_as_http_date_counts_from_now() -> None:
    header = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(header, now=NOW) == pytest.approx(30.0)


def test_retry_after_date_in_the_past_means_now() -> None:
    header = email.utils.formatdate(NOW - 600, usegmt=True)
    assert parse_retry_after(header, now=NOW) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "Thu, 99 Foo 2026", "5 seconds", "1,5"])
def test_retry_after_garbage_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


# -- RetryPolicy.delay -----------------------------------------------------------------------------


def test_backoff_stays_within_the_jitter_window() -> None:
    policy = RetryPolicy(attempts=8, base_delay=1.0, max_delay=10.0)
    rng = random.Random(42)
    for attempt in range(8):
        window = min(10.0, 1.0 * 2**attempt)
        samples = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert all(0.0 <= s <= window for s in samples)
        # Full jitter really spreads: the samples use most of the window, not one point.
        assert max(samples) - min(samples) > window * 0.5


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy()
    first = [policy.delay(a, None, random.Random(7)) for a in range(5)]
    second = [policy.delay(a, None, random.Random(7)) for a in range(5)]
    assert first == second


def test_retry_after_is_a_floor_for_the_delay() -> None:
    policy = RetryPolicy(base_delay=0.01, max_delay=30.0)
    rng = random.Random(3)
    assert all(policy.delay(0, 7.0, rng) == 7.0 for _ in range(50))


def test_backoff_wins_when_longer_than_retry_after() -> None:
    policy = RetryPolicy(base_delay=100.0, max_delay=100.0)
    rng = random.Random(5)
    delays = [policy.delay(3, 0.5, rng) for _ in range(50)]
    assert all(0.5 <= d <= 100.0 for d in delays)
    assert max(delays) > 0.5


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.01, max_delay=5.0)
    assert policy.delay(0, 86_400.0, random.Random(1)) == 20.0


# -- call_with_retries -----------------------------------------------------------------------------


async def test_returns_the_first_success_without_sleeping() -> None:
    script, sleep = Script("ok"), RecordingSleep()
    result = await call_with_retries(
        script.send, script.interpret, policy=RetryPolicy(), what="t", sleep=sleep
    )
    assert (result, script.calls, sleep.delays) == ("ok", 1, [])


async def test_retries_transient_failures_then_succeeds() -> None:
    script, sleep = Script(_failure(True), _failure(True), "ok"), RecordingSleep()
    result = await call_with_retries(
        script.send,
        script.interpret,
        policy=RetryPolicy(attempts=5, base_delay=1.0, max_delay=8.0),
        what="t",
        sleep=sleep,
        rng=random.Random(0),
    )
    assert result == "ok"
    assert script.calls == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 1.0
    assert 0 <= sleep.delays[1] <= 2.0


async def test_permanent_failure_is_raised_at_once() -> None:
    script, sleep = Script(_failure(False, status=400), "ok"), RecordingSleep()
    with pytest.raises(ProviderError) as caught:
        await call_with_retries(
            script.send, script.interpret, policy=RetryPolicy(), what="t", sleep=sleep
        )
    assert caught.value.failure.http_status == 400
    assert (script.calls, sleep.delays) == (1, [])


async def test_gives_up_after_the_policy_attempts() -> None:
    script, sleep = Script(_failure(True)), RecordingSleep()
    with pytest.raises(ProviderError) as caught:
        await call_with_retries(
            script.send, script.interpret, policy=RetryPolicy(attempts=4), what="t", sleep=sleep
        )
    assert caught.value.failure.retryable
    assert script.calls == 4
    assert len(sleep.delays) == 3


async def test_retry_after_from_the_failure_is_slept() -> None:
    script, sleep = Script(_failure(True, retry_after=4.0, status=429), "ok"), RecordingSleep()
    await call_with_retries(
        script.send,
        script.interpret,
        policy=RetryPolicy(base_delay=0.01),
        what="t",
        sleep=sleep,
        rng=random.Random(0),
    )
    assert sleep.delays == [4.0]


async def test_transport_errors_become_retryable_network_errors() -> None:
    error = httpx.ConnectError("refused")
    script, sleep = Script(error), RecordingSleep()
    with pytest.raises(ProviderError) as caught:
        await call_with_retries(
            script.send, script.interpret, policy=RetryPolicy(attempts=3), what="t", sleep=sleep
        )
    assert caught.value.failure.code == "network_error"
    assert caught.value.failure.retryable
    assert caught.value.__cause__ is error
    assert script.calls == 3


async def test_timeout_then_success() -> None:
    script, sleep = Script(httpx.ReadTimeout("slow"), "ok"), RecordingSleep()
    result = await call_with_retries(
        script.send, script.interpret, policy=RetryPolicy(), what="t", sleep=sleep
    )
    assert (result, script.calls, len(sleep.delays)) == ("ok", 2, 1)


async def _retrying_429s_only(script: Script, sleep: RecordingSleep) -> object:
    """`call_with_retries` with a `retry_on` filter that accepts only 429s."""
    return await call_with_retries(
        script.send,
        script.interpret,
        policy=RetryPolicy(),
        what="t",
        sleep=sleep,
        retry_on=lambda f: f.http_status == 429,
    )


async def test_retry_on_filter_raises_unaccepted_failures_still_retryable() -> None:
    script, sleep = Script(_failure(True, status=500), "ok"), RecordingSleep()
    with pytest.raises(ProviderError) as caught:
        await _retrying_429s_only(script, sleep)
    assert caught.value.failure.retryable
    assert (script.calls, sleep.delays) == (1, [])


async def test_retry_on_filter_still_retries_accepted_failures() -> None:
    script, sleep = Script(_failure(True, status=429), "ok"), RecordingSleep()
    result = await _retrying_429s_only(script, sleep)
    assert (result, script.calls) == ("ok", 2)
