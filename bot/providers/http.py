"""Retrying HTTP calls for provider clients: capped, jittered backoff that honours Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from httpx_aiohttp import AiohttpTransport

from bot.providers.base import ProviderError, ProviderFailure


def aiohttp_transport() -> httpx.AsyncBaseTransport:
    """httpx's interface over aiohttp's connection pool (the one discord.py already uses).

    Measured with py-spy under load (bench/load.py): httpx's own pool (httpcore over anyio)
    was the largest single cost of the bot's CPU, about a quarter of it.
    """
    return AiohttpTransport()


log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
# Told of every answer (None: a good one), for /healthz and the provider error counter.
AnswerHook = Callable[[ProviderFailure | None], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a call that failed transiently."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Full-jitter backoff for attempt N (0-based), never shorter than Retry-After."""
        backoff = rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        if retry_after is None:
            return backoff
        return max(min(retry_after, self.max_delay * 4), backoff)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Read a Retry-After header given as seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


TRANSPORT_FAILURE = ProviderFailure(
    code="network_error",
    member_message="The video service did not answer in time. It will be retried.",
    retryable=True,
)


async def call_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    interpret: Callable[[httpx.Response], object],
    *,
    policy: RetryPolicy,
    what: str,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    retry_on: Callable[[ProviderFailure], bool] | None = None,
    on_answer: AnswerHook | None = None,
) -> object:
    """Run `send` and `interpret` its response, retrying transient ProviderErrors per `policy`."""
    rng = rng or random.Random()
    for attempt in range(policy.attempts):
        try:
            try:
                response = await send()
            except httpx.TransportError as exc:
                raise ProviderError(
                    ProviderFailure(**{**TRANSPORT_FAILURE.__dict__, "detail": type(exc).__name__})
                ) from exc
            result = interpret(response)
            if on_answer is not None:
                on_answer(None)
            return result
        except ProviderError as exc:
            failure = exc.failure
            if on_answer is not None:
                on_answer(failure)
            last_attempt = attempt + 1 >= policy.attempts
            if not failure.retryable or last_attempt:
                raise
            # `retry_on` narrows what is retried here: the rest is raised at once, still marked
            # retryable, so a paid POST without an idempotency key is never silently repeated.
            if retry_on is not None and not retry_on(failure):
                raise
            delay = policy.delay(attempt, failure.retry_after, rng)
            log.warning(
                "%s failed with %s (attempt %d/%d); retrying in %.1fs",
                what,
                failure.code,
                attempt + 1,
                policy.attempts,
                delay,
            )
            await sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")


@dataclass(frozen=True)
class Retrying:
    """How a provider client retries its calls: the policy, and the sleep, randomness and hook."""

    policy: RetryPolicy = RetryPolicy()
    sleep: Sleep = asyncio.sleep
    rng: random.Random | None = None
    on_answer: AnswerHook | None = None

    async def call(
        self,
        send: Callable[[], Awaitable[httpx.Response]],
        interpret: Callable[[httpx.Response], object],
        *,
        what: str,
        retry_on: Callable[[ProviderFailure], bool] | None = None,
    ) -> object:
        """`call_with_retries` with these settings."""
        return await call_with_retries(
            send,
            interpret,
            policy=self.policy,
            what=what,
            sleep=self.sleep,
            rng=self.rng,
            retry_on=retry_on,
            on_answer=self.on_answer,
        )
