"""The bot's HTTP endpoint: provider callbacks (with PUBLIC_URL), /healthz and /metrics."""

from __future__ import annotations

import functools
import json
import logging

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from bot.health import Health
from bot.jobs.runner import CallbackRefused, JobRunner
from bot.logs import log_job
from bot.metrics import Metrics

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
JSON_TYPE = "application/json"


class CallbackServer:
    """aiohttp server: POST /callbacks/{provider}/{job}/{token}, GET /healthz and /metrics."""

    def __init__(
        self,
        runner: JobRunner,
        *,
        host: str,
        port: int,
        callbacks: bool = True,
        health: Health | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._runner = runner
        self._host = host
        self._port = port
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        # Without PUBLIC_URL no provider was given a callback URL: nothing to accept.
        if callbacks:
            app.router.add_post("/callbacks/{provider}/{job_id}/{token}", self._callback)
        # Each page is bound to what it reports on: the server itself only passes them through.
        app.router.add_get("/healthz", functools.partial(_health, health))
        if metrics is not None:
            app.router.add_get("/metrics", functools.partial(_metrics_page, metrics))
        self._app_runner = web.AppRunner(app, access_log=None)
        self.port: int | None = None

    async def start(self) -> None:
        """Listen on the configured address."""
        await self._app_runner.setup()
        site = web.TCPSite(self._app_runner, self._host, self._port)
        await site.start()
        addresses = self._app_runner.addresses
        self.port = addresses[0][1] if addresses else self._port
        log.info("HTTP endpoint listening on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        await self._app_runner.cleanup()

    async def _callback(self, request: web.Request) -> web.Response:
        info = request.match_info
        log_job(info["job_id"])
        try:
            body = json.loads(await request.read())
        except (ValueError, web.HTTPRequestEntityTooLarge):
            log.warning("callback for job %s refused: body is not JSON", info["job_id"])
            return _answer(400, "body must be JSON")
        try:
            outcome = await self._runner.accept_callback(
                info["provider"], info["job_id"], info["token"], body
            )
        except CallbackRefused as exc:
            # The token is never logged; the job id alone says where to look.
            log.warning("callback for job %s refused: %s", info["job_id"], exc)
            status = 400 if str(exc).startswith("malformed") else 404
            return _answer(status, "refused")
        log.info("callback for job %s accepted: %s", info["job_id"], outcome)
        return _answer(200, outcome)


async def _health(health: Health | None, request: web.Request) -> web.Response:
    if health is None:
        return web.Response(text='{"ok": true}', content_type=JSON_TYPE)
    healthy, report = await health.report()
    return web.Response(
        status=200 if healthy else 503, text=json.dumps(report), content_type=JSON_TYPE
    )


async def _metrics_page(metrics: Metrics, request: web.Request) -> web.Response:
    body = await metrics.render()
    # generate_latest writes the 0.0.4 text format every Prometheus reads; the library's
    # CONTENT_TYPE_LATEST names 1.0.0 since 0.23, which older scrapers do not negotiate.
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def _answer(status: int, result: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"ok": status == 200, "result": result}),
        content_type=JSON_TYPE,
    )
