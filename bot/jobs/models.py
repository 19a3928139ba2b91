"""Job value objects and the mapping between them and the database rows."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from bot.db.base import Row
from bot.i18n import Text
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


class DeliveryState(StrEnum):
    """Where a finished job's outcome stands on its way to the member."""

    PENDING = "pending"
    # Claimed by a process; after a lapsed lease, something may already have been sent.
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    # Could not be posted where it was asked for, nor by DM: kept for /video status.
    PARKED = "parked"


class Delivery(StrEnum):
    """How a finished job reached the member."""

    ATTACHED = "attached"
    LINK = "link"
    NOTICE = "notice"


@dataclass(frozen=True)
class Asked:
    """Who asked, where and in which language, for which video from which provider."""

    guild_id: int
    channel_id: int
    user_id: int
    locale: str
    provider: str
    request: VideoRequest


@dataclass(frozen=True)
class JobOrder(Asked):
    """What a member asked for, with where to answer them."""

    interaction_id: int
    upload_limit: int
    parent_job_id: str | None = None
    # What server rules look at: how long the member has been here, where they asked.
    member_joined_at: float | None = None
    age_restricted: bool = False
    is_manager: bool = False
    parent_channel_id: int | None = None


@dataclass(frozen=True)
class Job(Asked):
    """One job as stored."""

    id: str
    interaction_id: int | None
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
    version: int = 0
    lease_owner: str | None = None
    delivery_state: DeliveryState | None = None
    deliver_at: float | None = None
    delivery_attempts: int = 0
    may_have_sent: bool = False
    result_fetches: int = 0
    # The owner whose lapsed lease this claim took over, if any.
    taken_from: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Job:
        """Build a Job from a `jobs` row (columns added by later migrations are ignored)."""
        known = {f.name for f in fields(cls)} | {"request_json"}
        values = {k: v for k, v in zip(row.keys(), row, strict=True) if k in known}
        values["request"] = request_from_json(values.pop("request_json"))
        values["state"] = JobState(values["state"])
        values["delivery"] = Delivery(values["delivery"]) if values["delivery"] else None
        if "may_have_sent" in values:
            values["may_have_sent"] = bool(values["may_have_sent"])
        if values.get("delivery_state"):
            values["delivery_state"] = DeliveryState(values["delivery_state"])
        return cls(**values)

    @property
    def moderated(self) -> bool:
        """Ended by a moderator's denial or an approval that never came (the reason matters)."""
        return (self.failure_code or "").startswith("approval_")

    @property
    def awaiting_approval(self) -> bool:
        """Parked by server rules until a moderator decides (queued with no next step)."""
        return self.state is JobState.QUEUED and self.next_poll_at is None

    def elapsed(self, now: float) -> float:
        """Seconds since the member asked, frozen once the job finished."""
        return (self.finished_at or now) - self.created_at

    @property
    def delivery_note_text(self) -> Text | str | None:
        """The delivery note, to render in the reader's language (see note_from_column)."""
        return note_from_column(self.delivery_note) if self.delivery_note else None


def note_to_column(note: Text) -> str:
    """A delivery note as the `jobs.delivery_note` column keeps it.

    `{"key": "delivery.note_reencoded", "params": {"original": "30.1 MiB", ...}}`: the message
    key and its parameters, so the card can say it in whoever reads it.
    """
    return json.dumps({"key": note.key, "params": note.params}, ensure_ascii=False)


def note_from_column(value: str) -> Text | str:
    """A stored delivery note: a Text from note_to_column, or older plain English as it is."""
    try:
        data: Any = json.loads(value)
    except ValueError:
        return value
    if (
        isinstance(data, dict)
        and isinstance(data.get("key"), str)
        and isinstance(data.get("params", {}), dict)
    ):
        return Text(data["key"], **data.get("params", {}))
    return value


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
    # The new frame size when it had to shrink (the card's note says so); None: unchanged.
    width: int | None = None
    height: int | None = None


class ResultFitter(Protocol):
    """Re-encodes oversize results and takes poster frames (CPU work, run in a thread)."""

    def fit(self, src: Path, dest: Path, limit_bytes: int) -> Fitted | None:
        """Write a version of `src` under `limit_bytes` to `dest`, or None if impossible."""
        ...

    def poster(self, src: Path, dest: Path) -> Path | None:
        """Write a representative frame of `src` as a JPEG to `dest`, or None."""
        ...
