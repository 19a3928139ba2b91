"""The HTTP endpoint providers post finished jobs to (only when PUBLIC_URL is set)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.jobs.runner import CallbackRefused, JobRunner

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
JSON_TYPE = "application/json"


class CallbackServer:
    """aiohttp server: POST /callbacks/{provider}/{job}/{token}, and GET /healthz."""

    def __init__(self, runner: JobRunner, *, host: str, port: int) -> None:
        self._runner = runner
        self._host = host
        self._port = port
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/callbacks/{provider}/{job_id}/{token}", self._callback)
        app.router.add_get("/healthz", self._health)
        self._app_runner = web.AppRunner(app, access_log=None)
        self.port: int | None = None

    async def start(self) -> None:
        """Listen on the configured address."""
        await self._app_runner.setup()
        site = web.TCPSite(self._app_runner, self._host, self._port)
        await site.start()
        addresses = self._app_runner.addresses
        self.port = addresses[0][1] if addresses else self._port
        log.info("provider callbacks accepted on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        await self._app_runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text='{"ok": true}', content_type=JSON_TYPE)

    async def _callback(self, request: web.Request) -> web.Response:
        info = request.match_info
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


def _answer(status: int, result: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"ok": status == 200, "result": result}),
        content_type=JSON_TYPE,
    )
