"""Logging set-up that keeps secrets and interaction tokens out of every log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

# Interaction and webhook tokens travel in URL paths, and in gateway payloads as a "token" key;
# discord.py logs both at DEBUG.
_TOKEN_IN_PATH = re.compile(r"(/(?:webhooks|interactions)/\d+/)[\w.-]{20,}")
_TOKEN_IN_PAYLOAD = re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+""")
_MASK = "****"


class RedactingFilter(logging.Filter):
    """Replaces known secrets and URL-borne tokens in a record's final message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """Mask every secret in `text`."""
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        text = _TOKEN_IN_PATH.sub(lambda m: m.group(1) + _MASK, text)
        return _TOKEN_IN_PAYLOAD.sub(lambda m: m.group(1) + _MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message now so arguments are redacted too."""
        message = self.redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Log to stderr at `level`, with every handler redacting `secrets`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    # httpx logs every request line (URLs included) at INFO: too chatty and too revealing.
    logging.getLogger("httpx").setLevel(max(numeric, logging.WARNING))
    # aiosqlite logs every statement with its parameters at DEBUG: stored secrets such as
    # callback tokens would reach the log, so it never logs below INFO.
    logging.getLogger("aiosqlite").setLevel(max(numeric, logging.INFO))
