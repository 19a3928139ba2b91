"""Discord's JSON error shape, and JSON responses discord.py accepts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from .constants import JSON


class _ApiError(Exception):
    """An error answered to the bot with Discord's JSON error shape."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: JSON | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """Render as an aiohttp response."""
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return _json_response(body, status=self.status, headers=self.headers)


def _form_error(path: Sequence[str | int], code: str, message: str) -> _ApiError:
    """Build a 400 50035 "Invalid Form Body" error for one field path."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {str(key): errors}
    return _ApiError(400, 50035, "Invalid Form Body", errors)


def _json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response whose Content-Type is exactly application/json (discord.py needs that)."""
    resp = web.Response(body=json.dumps(data).encode(), status=status, headers=headers)
    resp.headers["Content-Type"] = "application/json"
    return resp
