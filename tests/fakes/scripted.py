"""What the fake provider servers share: a loopback aiohttp server whose answers a test scripts.

`ScriptedServer` gives a fake its lifecycle on 127.0.0.1, the log of every request (with the
credential redacted), the queue of scenarios that the next submissions take, and fault
injection per endpoint: `fail_next` (the fake's own error shapes), `respond_next` (an exact
body), `delay_next` (the work is done, the answer waits) and `reset_next` (a TCP reset). A fake
says which routes it serves, how a request is authorized and which endpoint a path belongs to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any, ClassVar, Generic, Self, TypeVar

from aiohttp import web

Scenario = TypeVar("Scenario")
# What the fake keeps per accepted submission (a job, a task).
Record = TypeVar("Record")
Body = bytes | str | dict[str, Any]
CHUNK_SIZE = 64 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake received, with its credential redacted."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any
    authorized: bool
    at: float = field(default_factory=time.monotonic)

    @property
    def action(self) -> str | None:
        """The JSON body's `action`, if any."""
        return self.json.get("action") if isinstance(self.json, dict) else None


@dataclass(frozen=True)
class Injection:
    """A canned answer that replaces the normal one for the next call(s) to an endpoint."""

    status: int
    # The error code; None with `body` set (respond_next) or for a reset.
    code: str | None
    message: str | None
    shape: str
    retry_after: str | None = None
    # Sent verbatim instead of an error in `shape`.
    body: Body | None = None
    delay_seconds: float = 0.0
    # Drop the connection (TCP reset) instead of answering.
    reset: bool = False


class ScriptedServer(Generic[Scenario, Record]):
    """A fake HTTP API on 127.0.0.1 that runs in the test's event loop."""

    # The error shape `fail_next`, `respond_next` and `reset_next` use (the fake's usual one).
    default_shape = "standard"
    # The code `fail_next` sends when the test names none: the fake's plain server error.
    default_code: ClassVar[str]
    # Exact API paths and the endpoint name (as fail_next takes it) each belongs to.
    paths: ClassVar[Mapping[str, str]]
    # Where the fake serves finished videos (endpoint "cdn").
    cdn_prefix: ClassVar[str]
    # The error answer in one of the fake's shapes: (status, code, message, *, shape, retry_after).
    error_response: ClassVar[Callable[..., web.Response]]

    def __init__(self, default_scenario: Scenario) -> None:
        self.default_scenario = default_scenario
        # Picks a submission's scenario from its body (e.g. by prompt) before the script does;
        # None from it falls through to the scripted queue and the default.
        self.choose: Callable[[dict[str, Any]], Scenario | None] | None = None
        self.requests: list[RecordedRequest] = []
        self._scenarios: deque[Scenario] = deque()
        self._injections: dict[str, deque[Injection]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- what a fake defines --------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the fake's endpoints."""
        raise NotImplementedError

    def accepted(self) -> Mapping[str, Record]:
        """What the fake keeps per accepted submission, by id, in the order accepted."""
        raise NotImplementedError

    def is_authorized(self, request: web.Request) -> bool:
        """Whether the request carries the fake's credential."""
        raise NotImplementedError

    def refuse(
        self, request: web.Request, endpoint: str | None, authorized: bool
    ) -> web.StreamResponse | None:
        """The answer to an unauthorized call, or None to go on."""
        raise NotImplementedError

    def redact(self, name: str, value: str) -> str:
        """A header's value as the request log keeps it (credentials hidden)."""
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> Self:
        """Listen on a free 127.0.0.1 port."""
        app = web.Application(middlewares=[self._middleware])
        self.add_routes(app.router)
        # Cancel handlers whose client hung up (a timed-out poll) and don't wait long on stop().
        self._runner, self._base_url = await serve_loopback(
            app, handler_cancellation=True, shutdown_timeout=1.0
        )
        return self

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT, valid after start()."""
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__}.start() has not been awaited")
        return self._base_url

    def endpoint_of(self, path: str) -> str | None:
        """The endpoint name (as fail_next takes it) a path belongs to."""
        if path in self.paths:
            return self.paths[path]
        return "cdn" if path.startswith(self.cdn_prefix) else None

    def cdn_url(self, key: str) -> str:
        """Where the fake serves the video of the job or task `key`."""
        return f"{self.base_url}{self.cdn_prefix}{key}.mp4"

    @property
    def submissions(self) -> list[Record]:
        """The accepted submissions, in order."""
        return list(self.accepted().values())

    async def wait_for_submissions(self, n: int, timeout: float = 5.0) -> list[Record]:
        """Wait until at least `n` submissions were accepted; return them all."""
        await self.wait_until(lambda: len(self.accepted()) >= n, timeout)
        return self.submissions

    # -- scenarios ------------------------------------------------------------------------------

    def script(self, *scenarios: Scenario) -> None:
        """Queue scenarios for the next submissions, in order; later ones use the default."""
        self._scenarios.extend(scenarios)

    def set_default(self, scenario: Scenario) -> None:
        """The scenario for submissions when the queue is empty."""
        self.default_scenario = scenario

    def next_scenario(self, body: dict[str, Any]) -> Scenario:
        """The scenario a submission with this body takes: chosen, scripted, else the default."""
        scenario = self.choose(body) if self.choose is not None else None
        if scenario is None:
            scenario = self._scenarios.popleft() if self._scenarios else self.default_scenario
        return scenario

    # -- fault injection ------------------------------------------------------------------------

    def fail_next(
        self,
        endpoint: str,
        *,
        status: int = 500,
        code: str | EllipsisType | None = ...,
        message: str | None = None,
        shape: str | None = None,
        retry_after: str | None = None,
        times: int = 1,
        body: Body | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        """Answer the next `times` calls to `endpoint` with this error, not the real answer."""
        # `code` left out is the fake's plain server error, None sends none; `shape` is one of
        # the fake's error shapes and `body` replaces it. The request itself is not processed,
        # so a failed submit creates nothing.
        error_code = self.default_code if code is ... else code
        injection = Injection(
            status,
            error_code,
            message,
            shape or self.default_shape,
            retry_after,
            body,
            delay_seconds,
        )
        self.inject(endpoint, injection, times=times)

    def inject(self, endpoint: str, injection: Injection, *, times: int = 1) -> None:
        """Answer the next `times` calls to `endpoint` with `injection` instead."""
        self._injections.setdefault(endpoint, deque()).extend([injection] * times)

    def respond_next(self, endpoint: str, body: Body, *, status: int = 200) -> None:
        """Answer the next call to `endpoint` with exactly this body (e.g. an odd status word)."""
        self.inject(endpoint, Injection(status, None, None, self.default_shape, body=body))

    def delay_next(self, endpoint: str, seconds: float, *, times: int = 1) -> None:
        """Hold back the next answers after doing the work (a submit still creates its job)."""
        self._delays.setdefault(endpoint, deque()).extend([seconds] * times)

    def reset_next(self, endpoint: str, *, times: int = 1) -> None:
        """Drop the next `times` connections to `endpoint` with a TCP reset (nothing answered)."""
        injection = Injection(200, None, None, self.default_shape, reset=True)
        self.inject(endpoint, injection, times=times)

    @property
    def pending_injections(self) -> int:
        """Injected answers (fail_next, respond_next, reset_next) not given yet."""
        return sum(len(queue) for queue in self._injections.values())

    def clear_injected(self) -> None:
        """Forget every pending fail_next/respond_next/delay_next."""
        self._injections.clear()
        self._delays.clear()

    # -- the request log and waiting ------------------------------------------------------------

    def requests_to(self, path: str, action: str | None = None) -> list[RecordedRequest]:
        """Recorded requests to `path` (a prefix), optionally only with this body `action`."""
        return [
            r
            for r in self.requests
            if (r.path == path or r.path.startswith(path))
            and (action is None or r.action == action)
        ]

    async def wait_until(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds, re-checked whenever the fake's state changes."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def changed(self) -> None:
        """Wake the waiters: the fake's state changed."""
        async with self._changed:
            self._changed.notify_all()

    # -- serving --------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Record, authenticate, then give an injected answer or the real one (maybe late)."""
        authorized = self.is_authorized(request)
        self.requests.append(await self._record(request, authorized))
        endpoint = self.endpoint_of(request.path) or ""
        refusal = self.refuse(request, endpoint, authorized)
        if refusal is not None:
            return refusal
        injections = self._injections.get(endpoint)
        if injections:
            injection = injections.popleft()
            if injection.delay_seconds:
                await asyncio.sleep(injection.delay_seconds)
            if injection.reset:
                return await reset_connection(request)
            return self._injected_response(injection)
        response = await handler(request)
        delays = self._delays.get(endpoint)
        if delays:
            await asyncio.sleep(delays.popleft())
        return response

    def _injected_response(self, injection: Injection) -> web.Response:
        retry_after = injection.retry_after
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        match injection.body:
            case None:
                return self.error_response(
                    injection.status,
                    injection.code,
                    injection.message,
                    shape=injection.shape,
                    retry_after=injection.retry_after,
                )
            case dict():
                return web.json_response(injection.body, status=injection.status, headers=headers)
            case bytes():
                return web.Response(status=injection.status, body=injection.body, headers=headers)
            case _:
                return web.Response(status=injection.status, text=injection.body, headers=headers)

    async def _record(self, request: web.Request, authorized: bool) -> RecordedRequest:
        headers = {k.lower(): self.redact(k.lower(), v) for k, v in request.headers.items()}
        body: Any = None
        if request.can_read_body:
            raw = await request.read()  # cached by aiohttp, so the handler can read it again
            with contextlib.suppress(ValueError):
                body = json.loads(raw) if raw else None
        return RecordedRequest(
            request.method, request.path, dict(request.query), headers, body, authorized
        )


async def serve_loopback(app: web.Application, **options: Any) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free 127.0.0.1 port: its runner (to clean up) and http://host:port."""
    runner = web.AppRunner(app, access_log=None, **options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def stream_video(
    request: web.Request, download: Any, payload: bytes, chunk_delay: float
) -> web.StreamResponse:
    """Serve an MP4 in 64 KiB chunks, counting `download.downloads` and `.aborted_downloads`."""
    download.downloads += 1
    response = web.StreamResponse(headers={"Content-Type": "video/mp4", "Accept-Ranges": "none"})
    response.content_length = len(payload)
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    try:
        for start in range(0, len(payload), CHUNK_SIZE):
            await response.write(payload[start : start + CHUNK_SIZE])
            if chunk_delay:
                await asyncio.sleep(chunk_delay)
        await response.write_eof()
    except ConnectionResetError:
        # A client that stops reading at its size cap hangs up mid-file; that is expected.
        download.aborted_downloads += 1
    return response


def shaped_response(
    status: int, body: Any, text: str, shape: str, retry_after: str | None
) -> web.Response:
    """`body` as JSON, or for the shapes "text" and "empty" a plain-text or empty answer."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    if shape == "text":
        return web.Response(status=status, text=text, headers=headers)
    if shape == "empty":
        return web.Response(status=status, headers=headers)
    return web.json_response(body, status=status, headers=headers)


async def reset_connection(request: web.Request) -> web.StreamResponse:
    """Drop the client's connection with a TCP reset instead of answering (ECONNRESET).

    The request is read first, so the client has sent everything and then sees the reset while
    waiting for the answer (httpx: ReadError), as when a load balancer kills a connection.
    """
    await request.read()
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: close() sends RST, not FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)  # never reaches the client
