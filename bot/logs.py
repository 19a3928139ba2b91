"""Logging set-up that keeps secrets and interaction tokens out of every log line."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import TextIO

# Interaction and webhook tokens travel in URL paths, and in gateway payloads as a "token" key;
# discord.py logs both at DEBUG.
_TOKEN_IN_PATH = re.compile(r"(/(?:webhooks|interactions)/\d+/)[\w.-]{20,}")
_TOKEN_IN_PAYLOAD = re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+""")
_MASK = "****"

# The job the current task works on: the runner runs each job's step in a task of its own and
# sets it there, so every line logged under that step (by any module) carries the job's id.
_JOB_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)


def log_job(job_id: str) -> None:
    """Tag every later log line of the current task (and tasks it starts) with `job_id`."""
    _JOB_ID.set(job_id)


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
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JobIdFilter(logging.Filter):
    """Puts the current job's id on the record as `job_id` unless the call gave one."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record."""
        if getattr(record, "job_id", None) is None:
            record.job_id = _JOB_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Format after the handler's filters ran (the message is already redacted)."""
        entry: dict[str, object] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id is not None:
            entry["job_id"] = job_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def _utc_iso(created: float) -> str:
    """`2026-01-01T12:00:00.123Z`: sortable, unambiguous across machines and time zones."""
    millis = int(created % 1 * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


def configure_logging(level: str, secrets: Iterable[str], log_format: str = "text") -> None:
    """Log to stderr at `level` as text or JSON lines, with every handler redacting `secrets`."""
    handler = make_handler(sys.stderr, secrets, log_format)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    # httpx logs every request line (URLs included) at INFO: too chatty and too revealing.
    logging.getLogger("httpx").setLevel(max(numeric, logging.WARNING))
    # aiosqlite logs every statement with its parameters at DEBUG: stored secrets such as
    # callback tokens would reach the log, so it never logs below INFO.
    logging.getLogger("aiosqlite").setLevel(max(numeric, logging.INFO))


def make_handler(stream: TextIO, secrets: Iterable[str], log_format: str) -> logging.Handler:
    """A handler writing to `stream` in LOG_FORMAT (`text` or `json`), secrets redacted."""
    handler = logging.StreamHandler(stream)
    if log_format.lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    # Handler filters run before the formatter, whatever the format: JSON lines are redacted too.
    handler.addFilter(RedactingFilter(secrets))
    handler.addFilter(JobIdFilter())
    return handler
