"""Helpers every provider client shares: reading error bodies, trimming text, secret headers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final, cast

import httpx

from bot.providers.base import ProviderError, ProviderFailure

DETAIL_LIMIT: Final = 500
CODE_LIMIT: Final = 64
# A bare string in `error` is a code when it reads like one ("too_many_requests", "ValidationError")
# and a message otherwise ("fetch failed").
_CODE_LIKE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")

KnownCode = Callable[[str | None], str | None]


def text_or_none(value: object) -> str | None:
    """A non-empty string (numbers become strings), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def int_or_none(value: object) -> int | None:
    """An integer from an int or numeric string, else None."""
    if isinstance(value, bool):
        return None
    try:
        return int(float(cast(str, value)))
    except (TypeError, ValueError, OverflowError):
        return None


def float_or_none(value: object) -> float | None:
    """A float from a number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    try:
        return float(cast(str, value))
    except (TypeError, ValueError):
        return None


def snippet(text: str, limit: int = DETAIL_LIMIT) -> str:
    """Collapse whitespace and cut to `limit` characters, for logs and exception text."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def redact(text: str, secret: str | None) -> str:
    """Remove the credential should a server ever echo it back."""
    return text.replace(secret, "[redacted]") if secret else text


def json_or_none(response: httpx.Response) -> object:
    """The decoded JSON body, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _detail_list(items: list[Any], known: KnownCode | None) -> tuple[str | None, str | None]:
    """(type, msg) from a fal-style `detail` list, preferring an entry whose type is known."""
    entries = [item for item in items if isinstance(item, dict)]
    if not entries:
        return None, None
    chosen = entries[0]
    if known is not None:
        chosen = next((e for e in entries if known(text_or_none(e.get("type")))), chosen)
    return text_or_none(chosen.get("type")), text_or_none(chosen.get("msg"))


def error_fields(body: object, known: KnownCode | None = None) -> tuple[str | None, str | None]:
    """Pull (code, message) out of any common error body shape; `known` picks among listed codes."""
    # Shapes: `error: {code|type, message}`, `error: "code"` or `error: "message"`,
    # `detail: [{type, msg}]` or `detail: "text"`, and top-level `code`/`error_code`/`message`.
    if not isinstance(body, dict):
        return None, None
    code: str | None = None
    message = text_or_none(body.get("message"))
    error = body.get("error")
    if isinstance(error, dict):
        code = text_or_none(error.get("code")) or text_or_none(error.get("type"))
        message = text_or_none(error.get("message")) or message
    elif (bare := text_or_none(error)) is not None:
        if _CODE_LIKE.match(bare):
            code = bare
        else:
            message = message or bare
    detail = body.get("detail")
    if isinstance(detail, list):
        listed_code, listed_message = _detail_list(detail, known)
        code = code or listed_code
        message = message or listed_message
    elif isinstance(detail, str):
        message = message or text_or_none(detail)
    code = code or text_or_none(body.get("code")) or text_or_none(body.get("error_code"))
    # Codes end up in logs and the job table; a server bug must not make them unbounded.
    return (code[:CODE_LIMIT] if code else None), message


def is_transient_status(http_status: int | None) -> bool:
    """Whether an HTTP status with no known code may pass if simply sent again later."""
    return http_status is not None and (http_status in (408, 429) or http_status >= 500)


class SecretHeaderAuth(httpx.Auth):
    """Adds one secret header per request, so the secret never sits in `client.headers`."""

    def __init__(self, header: str, secret: str, *, scheme: str = "") -> None:
        self._header = header
        self._secret = secret
        self._scheme = scheme

    @property
    def secret(self) -> str:
        """The secret, for redaction only."""
        return self._secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach the secret."""
        value = f"{self._scheme} {self._secret}" if self._scheme else self._secret
        request.headers[self._header] = value
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._header}=[redacted])"


def secret_of(client: httpx.AsyncClient, header: str) -> str | None:
    """The credential the client sends, wherever it was configured."""
    if isinstance(client.auth, SecretHeaderAuth):
        return client.auth.secret
    return client.headers.get(header)


# Transport errors raised before the request left this machine: a resubmit cannot duplicate.
NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def submit_sender(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any], *, provider: str
) -> Callable[[], Awaitable[httpx.Response]]:
    """A POST for a paid submit: a transport error after sending becomes `submit_unconfirmed`."""

    async def send() -> httpx.Response:
        try:
            return await client.post(path, json=payload)
        except NOT_SENT_ERRORS:
            raise
        except httpx.TransportError as exc:
            # The request may have reached the provider; let the caller decide about a resubmit.
            raise ProviderError(
                ProviderFailure(
                    "submit_unconfirmed",
                    f"{provider} did not confirm that it received this request. "
                    "Wait a little and try again.",
                    retryable=True,
                    detail=type(exc).__name__,
                )
            ) from exc

    return send


def resubmit_guard(refused_statuses: frozenset[int]) -> Callable[[ProviderFailure], bool]:
    """Whether a failed submit certainly created no job, so sending it again cannot pay twice."""

    def safe(failure: ProviderFailure) -> bool:
        return failure.http_status in refused_statuses or failure.code == "network_error"

    return safe
