"""Job value objects and the mapping between them and the database rows."""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from bot.providers.base import VideoRequest

# No 0/o, 1/l/i: members read these ids off a card and type them back.
_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def new_job_id() -> str:
    """A short, unguessable, easy-to-type job id."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


class JobState(StrEnum):
    """Where a job stands; the last three are terminal."""

    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """No further provider work happens in this state."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class Delivery(StrEnum):
    """How a finished job reached the member."""

    ATTACHED = "attached"
    LINK = "link"
    NOTICE = "notice"


@dataclass(frozen=True)
class JobOrder:
    """What a member asked for, with where to answer them."""

    interaction_id: int
    guild_id: int
    channel_id: int
    user_id: int
    locale: str
    provider: str
    request: VideoRequest
    upload_limit: int
    parent_job_id: str | None = None


@dataclass(frozen=True)
class Job:
    """One job as stored."""

    id: str
    interaction_id: int | None
    guild_id: int
    channel_id: int
    user_id: int
    locale: str
    provider: str
    request: VideoRequest
    price: int
    state: JobState
    provider_job_id: str | None
    provider_status: str | None
    estimated_seconds: float | None
    result_url: str | None
    provider_cost: float | None
    width: int | None
    height: int | None
    failure_code: str | None
    failure_message: str | None
    poll_failures: int
    next_poll_at: float | None
    deadline_at: float | None
    created_at: float
    submitted_at: float | None
    finished_at: float | None
    card_message_id: int | None
    upload_limit: int
    delivered_at: float | None
    delivery: Delivery | None
    result_message_id: int | None
    callback_token: str | None = None
    provider_video_id: str | None = None
    parent_job_id: str | None = None
    delivery_note: str | None = None
    cancelled_by: int | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        """Build a Job from a `jobs` row (columns added by later migrations are ignored)."""
        known = {f.name for f in fields(cls)} | {"request_json"}
        values = {k: v for k, v in dict(row).items() if k in known}
        values["request"] = request_from_json(values.pop("request_json"))
        values["state"] = JobState(values["state"])
        values["delivery"] = Delivery(values["delivery"]) if values["delivery"] else None
        return cls(**values)

    def elapsed(self, now: float) -> float:
        """Seconds since the member asked, frozen once the job finished."""
        return (self.finished_at or now) - self.created_at


def request_to_json(request: VideoRequest) -> str:
    """Serialise a request for the jobs table."""
    return json.dumps(asdict(request), sort_keys=True, ensure_ascii=False)


def request_from_json(text: str) -> VideoRequest:
    """Read a request back from the jobs table."""
    return VideoRequest(**json.loads(text))


@dataclass(frozen=True)
class Fitted:
    """A result re-encoded under the upload limit."""

    size: int
    # Appended to the card's note, e.g. " (now 854x480)".
    detail: str = ""


class ResultFitter(Protocol):
    """Re-encodes oversize results and takes poster frames (CPU work, run in a thread)."""

    def fit(self, src: Path, dest: Path, limit_bytes: int) -> Fitted | None:
        """Write a version of `src` under `limit_bytes` to `dest`, or None if impossible."""
        ...

    def poster(self, src: Path, dest: Path) -> Path | None:
        """Write a representative frame of `src` as a JPEG to `dest`, or None."""
        ...
