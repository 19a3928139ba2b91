"""Fault injection: rate limits, slow responses and error answers a test asks for."""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import web

from .errors import _ApiError, _json_response
from .records import FakeApiError


@dataclass
class _Rule:
    """What every injected fault matches: a method (or "*") and a path pattern."""

    method: str
    pattern: re.Pattern[str]


@dataclass
class RateLimitRule(_Rule):
    """A live rule injecting 429 responses; `remaining` counts down as it fires."""

    retry_after: float
    remaining: int
    global_: bool = False
    hits: list[float] = field(default_factory=list)


@dataclass
class ResponseDelay(_Rule):
    """A live rule holding back answers (the work is done, the caller just hears it late)."""

    seconds: float
    remaining: int
    # Only requests that uploaded a file Discord accepted (a video reaching a message).
    uploads_only: bool = False


@dataclass
class ErrorRule(_Rule):
    """A live rule answering matching requests with a Discord error; `remaining` counts down."""

    status: int
    code: int
    message: str
    remaining: int
    hits: list[float] = field(default_factory=list)


class FaultsMixin:
    """Injects the faults a test asks for into the REST answers."""

    def inject_rate_limit(
        self,
        method: str,
        path_regex: str,
        *,
        retry_after: float = 0.2,
        count: int = 1,
        global_: bool = False,
    ) -> RateLimitRule:
        """Answer the next `count` matching requests with a real Discord 429.

        `path_regex` is searched in the path without the /api/v10 prefix, e.g.
        r"^/channels/\\d+/messages$" or r"/webhooks/".
        """
        rule = RateLimitRule(method.upper(), re.compile(path_regex), retry_after, count, global_)
        self.rate_limits.append(rule)
        return rule

    def delay_responses(
        self,
        method: str,
        path_regex: str,
        seconds: float,
        *,
        count: int = 1,
        uploads_only: bool = False,
    ) -> ResponseDelay:
        """Do the next `count` matching requests at once but answer them `seconds` later.

        Opens the window between Discord doing something and the bot hearing of it (a crash
        there is what a bot must survive). `uploads_only`: only requests that uploaded a file.
        """
        rule = ResponseDelay(method.upper(), re.compile(path_regex), seconds, count, uploads_only)
        self.response_delays.append(rule)
        return rule

    def inject_error(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        code: int,
        message: str,
        count: int = 1,
    ) -> ErrorRule:
        """Answer the next `count` matching requests with this Discord error (JSON code/message).

        Matched like `inject_rate_limit` (after it); e.g. `inject_error("PATCH", r"/webhooks/",
        status=404, code=10015, message="Unknown Webhook")`. The answers are recorded in
        `api_errors` like the fake's own.
        """
        rule = ErrorRule(method.upper(), re.compile(path_regex), status, code, message, count)
        self.error_rules.append(rule)
        return rule

    async def _delay_response(self, method: str, path: str, uploaded: bool) -> None:
        for rule in self.response_delays:
            if (
                rule.remaining > 0
                and rule.method == method
                and rule.pattern.search(path)
                and (uploaded or not rule.uploads_only)
            ):
                rule.remaining -= 1
                self._changed()  # the work is visible now; only the answer waits
                await asyncio.sleep(rule.seconds)
                return

    def _record_error(self, now: float, method: str, path: str, exc: _ApiError) -> None:
        record = FakeApiError(now, method, path, exc.status, exc.code, exc.message)
        self.api_errors.append(record)
        match = re.match(r"/(?:interactions/\d+|webhooks/\d+)/([^/]+)", path)
        inter = self._by_token.get(match.group(1)) if match else None
        if inter is not None:
            inter._errors.append(record)

    def _match_rate_limit(self, method: str, path: str) -> RateLimitRule | None:
        return _fire(self.rate_limits, method, path)

    def _match_error(self, method: str, path: str) -> ErrorRule | None:
        return _fire(self.error_rules, method, path)

    @staticmethod
    def _rate_limited(rule: RateLimitRule) -> web.Response:
        retry_after = rule.retry_after
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "fake" + secrets.token_hex(8),
            "X-RateLimit-Scope": "global" if rule.global_ else "user",
        }
        if rule.global_:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": rule.global_,
        }
        return _json_response(body, status=429, headers=headers)


_Fired = TypeVar("_Fired", RateLimitRule, ErrorRule)


def _fire(rules: list[_Fired], method: str, path: str) -> _Fired | None:
    """The first live rule matching the request, counted down, with the hit's time recorded."""
    for rule in rules:
        if rule.remaining <= 0:
            continue
        if rule.method not in ("*", method) or not rule.pattern.search(path):
            continue
        rule.remaining -= 1
        rule.hits.append(time.monotonic())
        return rule
    return None
