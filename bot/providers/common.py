"""What the HTTP provider clients share: reading error bodies, error tables, the client, a base."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final, TypedDict, cast

import httpx

from bot.providers.base import ProviderError, ProviderFailure
from bot.providers.http import AnswerHook, Retrying, RetryPolicy, Sleep, parse_retry_after

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


@dataclass(frozen=True, repr=False)
class SecretHeaderAuth(httpx.Auth):
    """Adds one secret header per request, so the secret never sits in `client.headers`."""

    header: str
    # Kept for redaction too: error text never repeats it.
    secret: str
    scheme: str = ""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach the secret."""
        value = f"{self.scheme} {self.secret}" if self.scheme else self.secret
        request.headers[self.header] = value
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.header}=[redacted])"


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


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------

# Submits answer at once (never the blocking modes), so a long read only means a slow gateway.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0, pool=5.0)
DEFAULT_RETRY: Final = RetryPolicy()


class ClientOptions(TypedDict, total=False):
    """What a test or the bot may change about a provider's client."""

    timeout: httpx.Timeout | None
    transport: httpx.AsyncBaseTransport | None


def required_secret(value: str, empty_message: str) -> str:
    """The credential without surrounding blanks; ValueError naming the setting when empty."""
    if not value or not value.strip():
        raise ValueError(empty_message)
    return value.strip()


def json_client(
    base_url: str,
    auth: SecretHeaderAuth,
    *,
    user_agent: str,
    timeout: httpx.Timeout | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One long-lived JSON client: base URL, the secret header, explicit timeouts, no redirects."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        auth=auth,
        headers={
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": user_agent,
        },
        timeout=timeout or DEFAULT_TIMEOUT,
        follow_redirects=False,
        transport=transport,
    )


# ---------------------------------------------------------------------------------------------
# Error tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorRow:
    """One documented error code: the member's message and whether a resend may pass later."""

    message: str
    retryable: bool
    # The code the rest of the bot sees, when it must differ from the provider's (moderation).
    reported_as: str | None = None
    # The HTTP statuses the provider documents for the code, where its docs give them.
    statuses: tuple[int, ...] = ()


@dataclass(frozen=True)
class Fallback:
    """How a code the table lacks reads, by HTTP status: 408/429/5xx may pass, other 4xx won't."""

    rate_limited: str
    server_error: str
    rejected: str
    # Statuses that mean more to this provider, looked at first (e.g. 401: the credential).
    by_status: Mapping[int, tuple[str, bool]] = field(default_factory=dict)

    def __call__(self, http_status: int | None) -> tuple[str, bool]:
        """(member message, retryable) for an unknown code answered with `http_status`."""
        if http_status is not None and http_status in self.by_status:
            return self.by_status[http_status]
        if http_status == 429:
            return self.rate_limited, True
        if is_transient_status(http_status):
            return self.server_error, True
        return self.rejected, False


@dataclass(frozen=True)
class OperatorAlert:
    """Answers only the operator can fix: members are told to ask an admin, the log says what."""

    messages: frozenset[str]
    # A %-format taking the HTTP status and the failure's code.
    text: str
    log: logging.Logger


class ErrorTable:
    """A provider's documented error codes, found in any case, and a rule for the ones it lacks."""

    def __init__(
        self,
        rows: Mapping[str, ErrorRow],
        fallback: Fallback,
        alert: OperatorAlert,
        *,
        unlabelled_403: str,
    ) -> None:
        self.rows: Mapping[str, ErrorRow] = MappingProxyType(dict(rows))
        self._fallback = fallback
        self._alert = alert
        # What a 403 means when it names no code the table knows (each provider's docs say).
        self._unlabelled_403 = unlabelled_403
        names = {
            **{row.reported_as: code for code, row in rows.items() if row.reported_as},
            **{code: code for code in rows},
        }
        self._by_folded = {name.casefold(): code for name, code in names.items()}

    def known(self, code: str | None) -> str | None:
        """The table's spelling of `code` in any case (or of the code it is reported as)."""
        if not code:
            return None
        return self._by_folded.get(code.strip().casefold())

    def failure(
        self,
        code: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        detail: str = "",
    ) -> ProviderFailure:
        """The failure for a known or unknown error code."""
        key = self.known(code)
        if key is not None:
            row = self.rows[key]
            reported = row.reported_as or key
            return ProviderFailure(
                reported, row.message, row.retryable, http_status, retry_after, detail
            )
        message, retryable = self._fallback(http_status)
        return ProviderFailure(code, message, retryable, http_status, retry_after, detail)

    def answer_failure(self, response: httpx.Response, secret: str | None) -> ProviderFailure:
        """The failure for an error answer in any shape the provider uses, its secret redacted."""
        body = json_or_none(response)
        code, message = error_fields(body, self.known)
        detail = answer_detail(response, body, code, message)
        status = response.status_code
        if status == 403 and self.known(code) is None:
            code = self._unlabelled_403
        failure = self.failure(
            code or f"http_{status}",
            http_status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            detail=redact(snippet(detail), secret),
        )
        if failure.member_message in self._alert.messages:
            self._alert.log.error(self._alert.text, status, failure.code)
        return failure


def answer_detail(
    response: httpx.Response, body: object, code: str | None, message: str | None
) -> str:
    """A one-line account of an error answer, for logs and the job table."""
    status = response.status_code
    if body is None:
        return f"HTTP {status}: {snippet(response.text, 200) or '(empty body)'}"
    return f"HTTP {status} {code or '(no code)'}: {message or '(no message)'}"


def unexpected(member_message: str, detail: str, http_status: int | None = None) -> ProviderError:
    """A 2xx answer that cannot be read: most likely a gateway hiccup, so worth another try."""
    return ProviderError(
        ProviderFailure(
            "unexpected_response", member_message, True, http_status=http_status, detail=detail
        )
    )


# ---------------------------------------------------------------------------------------------
# The provider
# ---------------------------------------------------------------------------------------------


class ProviderOptions(TypedDict, total=False):
    """HttpProvider's keyword options, for a subclass constructor that adds its own."""

    poll_interval: float
    retry: RetryPolicy
    sleep: Sleep
    rng: random.Random | None
    on_answer: AnswerHook | None


class HttpProvider:
    """What the HTTP providers share: one client, retried calls, JSON answers, a redacted secret."""

    display_name: str
    poll_interval: float
    # The header that carries the credential (redacted from any error text).
    secret_header: ClassVar[str]
    # The member's message for an answer that cannot be read.
    server_error: ClassVar[str]
    # The provider's documented error codes.
    errors: ClassVar[ErrorTable]

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        poll_interval: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_answer: AnswerHook | None = None,
    ) -> None:
        self._client = client
        self.poll_interval = poll_interval
        self._calls = Retrying(retry, sleep, rng, on_answer)
        self._secret = secret_of(client, self.secret_header)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self._client.base_url)!r})"

    def _failure_from(self, response: httpx.Response) -> ProviderFailure:
        """The provider's error answer as a failure, with the secret redacted."""
        return self.errors.answer_failure(response, self._secret)

    async def _submit_json(
        self,
        path: str,
        payload: dict[str, Any],
        what: str,
        retry_on: Callable[[ProviderFailure], bool],
        interpret: Callable[[httpx.Response], dict[str, Any]],
    ) -> dict[str, Any]:
        """POST a paid submit; only failures `retry_on` proves created nothing are resent."""
        send = submit_sender(self._client, path, payload, provider=self.display_name)
        body = await self._calls.call(send, interpret, what=what, retry_on=retry_on)
        return cast(dict[str, Any], body)

    def _json_answer(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object of a successful answer, or ProviderError for anything else."""
        if not response.is_success:
            raise ProviderError(self._failure_from(response))
        body = json_or_none(response)
        if not isinstance(body, dict):
            text = redact(snippet(f"non-JSON body: {response.text}", 200), self._secret)
            raise unexpected(self.server_error, text, response.status_code)
        if body.get("success") is False:
            raise ProviderError(self._failure_from(response))
        return body

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
