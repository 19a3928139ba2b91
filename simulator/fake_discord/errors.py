"""Discord's JSON error shape, and JSON responses discord.py accepts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .constants import JSON


@dataclass(eq=False)
class _ApiError(Exception):
    """An error answered to the bot with Discord's JSON error shape."""

    status: int
    code: int
    message: str
    errors: JSON | None = None

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.code} {self.message}")

    def response(self) -> web.Response:
        """Render as an aiohttp response."""
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return _json_response(body, status=self.status)


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
