"""Themed events: open one, members enter a video made for it, members vote, it closes, the
winners are paid from the server pool through the ledger.

Closing is one transaction: the guarded change from `open` to `closed`, the winners, and each
prize (a pool movement plus its ledger rows, and an `event_payouts` row whose primary key is
(event, member)). Closing twice, or the announcer racing an admin's `/event close`, pays once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.community.log import CommunityDeps, Logged
from bot.community.pool import Pool
from bot.db import Transaction, execute_alone
from bot.errors import UserError
from bot.i18n import Text

MIN_DURATION = 60
MAX_DURATION = 90 * 86_400
MAX_PRIZE = 1_000_000
MAX_THEME = 100
_UNITS = {"w": 7 * 86_400, "d": 86_400, "h": 3_600, "m": 60}
_DURATION_PART = re.compile(
    r"(\d+)\s*(weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m)(?![a-z])", re.IGNORECASE
)


class EventError(UserError):
    """An event action was refused; the message says why."""


def parse_duration(text: str) -> int:
    """`3d`, `12h`, `1d 12h`, `90m`, `2w` (a bare number is hours) into seconds."""
    raw = text.strip().lower()
    if raw.isdigit():
        seconds = int(raw) * _UNITS["h"]
    else:
        parts = _DURATION_PART.findall(raw)
        leftover = _DURATION_PART.sub("", raw).replace(",", "").replace("and", "").strip()
        if not parts or leftover:
            raise EventError(Text("community.events.bad_duration", text=text))
        seconds = sum(int(n) * _UNITS[unit[0]] for n, unit in parts)
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise EventError(Text("community.events.duration_range"))
    return seconds


@dataclass(frozen=True)
class Event:
    """One themed event."""

    id: int
    guild_id: int
    channel_id: int
    theme: str
    prize: int
    state: str
    created_by: int | None
    created_at: float
    ends_at: float
    closed_at: float | None
    closed_by: int | None
    announced_at: float | None
    entries: int = 0


@dataclass(frozen=True)
class Entry:
    """A member's video entered in an event, with its votes."""

    id: int
    event_id: int
    job_id: str
    user_id: int
    created_at: float
    channel_id: int | None
    message_id: int | None
    votes: int = 0


@dataclass(frozen=True)
class Payout:
    """A winner and what they were paid."""

    user_id: int
    entry_id: int
    votes: int
    amount: int


@dataclass(frozen=True)
class EventResult:
    """A closed event: entries ranked by votes, and its winners."""

    event: Event
    ranking: tuple[Entry, ...]
    winners: tuple[Payout, ...]
    changed: bool = True

    @property
    def paid(self) -> int:
        """Credits paid out of the pool."""
        return sum(p.amount for p in self.winners)


@dataclass(frozen=True)
class EventVote:
    """A member's vote after their click."""

    voted: bool
    votes: int
    moved_from: int | None


_EVENT_COLUMNS = (
    "e.id, e.guild_id, e.channel_id, e.theme, e.prize, e.state, e.created_by, e.created_at, "
    "e.ends_at, e.closed_at, e.closed_by, e.announced_at, "
    "(SELECT COUNT(*) FROM event_entries x WHERE x.event_id = e.id) AS entries"
)
_ENTRY_COLUMNS = (
    "n.id, n.event_id, n.job_id, n.user_id, n.created_at, n.channel_id, n.message_id, "
    "(SELECT COUNT(*) FROM event_votes v WHERE v.entry_id = n.id) AS votes"
)


class Events(Logged):
    """Starts, enters, votes on and closes events."""

    def __init__(self, deps: CommunityDeps, pool: Pool) -> None:
        super().__init__(deps)
        self._pool = pool

    # -- starting ---------------------------------------------------------------------------------

    async def start(
        self,
        guild_id: int,
        channel_id: int,
        actor_id: int | None,
        theme: str,
        duration_seconds: int,
        prize: int = 0,
    ) -> Event:
        """Open an event; its prize must be in the pool now (it is then promised to it)."""
        theme = " ".join(theme.split())
        if not 1 <= len(theme) <= MAX_THEME:
            raise EventError(Text("community.events.theme_length", most=MAX_THEME))
        if not MIN_DURATION <= duration_seconds <= MAX_DURATION:
            raise EventError(Text("community.events.duration_range"))
        if not 0 <= prize <= MAX_PRIZE:
            raise EventError(Text("community.events.prize_range", most=MAX_PRIZE))
        return await self._db.run(
            self._start_in, guild_id, channel_id, actor_id, theme, duration_seconds, prize
        )

    async def _start_in(
        self,
        tx: Transaction,
        guild_id: int,
        channel_id: int,
        actor_id: int | None,
        theme: str,
        duration: int,
        prize: int,
    ) -> Event:
        current = await self._open_in(tx, guild_id)
        if current is not None:
            raise EventError(
                Text("community.events.still_open", theme=current.theme, at=int(current.ends_at))
            )
        if prize:
            status = await self._pool.status_in(tx, guild_id)
            if status.available < prize:
                raise EventError(
                    Text(
                        "community.events.pool_short",
                        available=status.available,
                        prize=prize,
                        missing=prize - status.available,
                    )
                )
        now = self._clock()
        event_id = await tx.insert(
            "INSERT INTO events (guild_id, channel_id, theme, prize, state, created_by, "
            "created_at, ends_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?)",
            (guild_id, channel_id, theme, prize, actor_id, now, now + duration),
        )
        assert event_id is not None
        await self._log.record_in(
            tx,
            guild_id,
            actor_id,
            "event start",
            f'event #{event_id} "{theme}" opened in <#{channel_id}>'
            + (f", prize {prize} credits from the pool" if prize else ", no prize"),
        )
        event = await self._event_in(tx, event_id)
        assert event is not None
        return event

    # -- entering and voting ----------------------------------------------------------------------

    async def enter(self, guild_id: int, user_id: int, job_id: str) -> Entry:
        """Enter the member's own finished video, made since the event opened."""
        return await self._db.run(self._enter_in, guild_id, user_id, job_id.strip().lower())

    async def _enter_in(self, tx: Transaction, guild_id: int, user_id: int, job_id: str) -> Entry:
        event = await self._open_in(tx, guild_id)
        now = self._clock()
        if event is None or now >= event.ends_at:
            raise EventError(Text("community.events.none_open_now"))
        job = await tx.fetchone(
            "SELECT guild_id, user_id, state, created_at FROM jobs WHERE id = ?", (job_id,)
        )
        if job is None or job[0] != guild_id:
            raise EventError(Text("community.no_video", job=job_id))
        if job[1] != user_id:
            raise EventError(Text("community.events.not_yours", job=job_id))
        if job[2] != "succeeded":
            raise EventError(Text("community.events.not_finished", job=job_id))
        if job[3] < event.created_at:
            raise EventError(Text("community.events.too_old", job=job_id, theme=event.theme))
        mine = await tx.fetchone(
            "SELECT job_id FROM event_entries WHERE event_id = ? AND user_id = ?",
            (event.id, user_id),
        )
        if mine is not None:
            raise EventError(
                Text("community.events.already_entered", job=mine[0], theme=event.theme)
            )
        entry_id = await tx.insert(
            "INSERT INTO event_entries (event_id, job_id, user_id, created_at) VALUES (?, ?, ?, ?)",
            (event.id, job_id, user_id, now),
        )
        entry = await self._entry_in(tx, entry_id)
        assert entry is not None
        return entry

    async def mark_entry_posted(self, entry_id: int, channel_id: int, message_id: int) -> None:
        """Remember the message that shows the entry (and carries its vote button)."""
        await execute_alone(
            self._db,
            "UPDATE event_entries SET channel_id = ?, message_id = ? WHERE id = ?",
            (channel_id, message_id, entry_id),
        )

    async def vote(self, entry_id: int, user_id: int) -> EventVote:
        """One vote per member per event: vote, move the vote here, or take it back."""
        return await self._db.run(self._vote_in, entry_id, user_id)

    async def _vote_in(self, tx: Transaction, entry_id: int, user_id: int) -> EventVote:
        entry = await self._entry_in(tx, entry_id)
        if entry is None:
            raise EventError(Text("community.events.entry_gone"))
        # The event's row is locked while a vote is decided, so two presses at once toggle in
        # turn and a vote cannot land after the close (which updates this row) counted it.
        await tx.execute("SELECT 1 FROM events WHERE id = ? FOR UPDATE", (entry.event_id,))
        event = await self._event_in(tx, entry.event_id)
        assert event is not None
        if event.state != "open" or self._clock() >= event.ends_at:
            raise EventError(Text("community.events.voting_ended", theme=event.theme))
        if entry.user_id == user_id:
            raise EventError(Text("community.events.own_entry"))
        current = await tx.fetchone(
            "SELECT entry_id FROM event_votes WHERE event_id = ? AND user_id = ?",
            (event.id, user_id),
        )
        moved_from = None
        if current is not None and current[0] == entry_id:
            await tx.execute(
                "DELETE FROM event_votes WHERE event_id = ? AND user_id = ?", (event.id, user_id)
            )
            voted = False
        else:
            moved_from = current[0] if current is not None else None
            await tx.execute(
                "INSERT INTO event_votes (event_id, user_id, entry_id, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (event_id, user_id) DO UPDATE SET "
                "entry_id = excluded.entry_id, created_at = excluded.created_at",
                (event.id, user_id, entry_id, self._clock()),
            )
            voted = True
        votes = await tx.fetchval(
            "SELECT COUNT(*) FROM event_votes WHERE entry_id = ?", (entry_id,)
        )
        return EventVote(voted, votes, moved_from)

    # -- closing ----------------------------------------------------------------------------------

    async def close(self, guild_id: int, actor_id: int | None) -> EventResult:
        """Close the server's open event now (an admin's `/event close`)."""
        event = await self.current(guild_id)
        if event is None:
            raise EventError(Text("community.events.none_open"))
        return await self._db.run(self._close_in, event.id, actor_id)

    async def close_due(self) -> list[EventResult]:
        """Close every event whose time is up; each is closed (and paid) once."""
        rows = await self._db.fetchall(
            "SELECT id FROM events WHERE state = 'open' AND ends_at <= ?", (self._clock(),)
        )
        results = []
        for row in rows:
            result = await self._db.run(self._close_in, row["id"], None)
            if result.changed:
                results.append(result)
        return results

    async def _close_in(self, tx: Transaction, event_id: int, actor_id: int | None) -> EventResult:
        now = self._clock()
        changed = await tx.execute(
            "UPDATE events SET state = 'closed', closed_at = ?, closed_by = ? "
            "WHERE id = ? AND state = 'open'",
            (now, actor_id, event_id),
        )
        if not changed:
            return await self.result_in(tx, event_id, changed=False)
        event = await self._event_in(tx, event_id)
        assert event is not None
        ranking = await self._ranking_in(tx, event_id)
        top = ranking[0].votes if ranking else 0
        winners = [entry for entry in ranking if top > 0 and entry.votes == top]
        share = event.prize // len(winners) if winners else 0
        for entry in winners:
            movement = None
            amount = 0
            if share:
                available = (await self._pool.status_in(tx, event.guild_id)).balance
                amount = min(share, available)
            if amount:
                movement = await self._pool.pay_in(
                    tx,
                    event.guild_id,
                    entry.user_id,
                    amount,
                    f'prize: event "{event.theme}"',
                    event_id=event_id,
                )
            await tx.execute(
                "INSERT INTO event_payouts (event_id, user_id, entry_id, votes, amount, "
                "movement_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, entry.user_id, entry.id, entry.votes, amount, movement, now),
            )
        names = ", ".join(f"<@{w.user_id}>" for w in winners) or "no winner (no votes)"
        await self._log.record_in(
            tx,
            event.guild_id,
            actor_id,
            "event close",
            f'event #{event_id} "{event.theme}" closed with {len(ranking)} entries; '
            f"winners: {names}; paid {share * len(winners) if share else 0} credits",
        )
        return await self.result_in(tx, event_id, changed=True)

    async def result_in(
        self, tx: Transaction, event_id: int, *, changed: bool = True
    ) -> EventResult:
        """An event with its ranking and the payouts recorded when it closed."""
        event = await self._event_in(tx, event_id)
        if event is None:
            raise EventError(Text("community.events.gone"))
        payouts = tuple(
            Payout(*row)
            for row in await tx.fetchall(
                "SELECT user_id, entry_id, votes, amount FROM event_payouts WHERE event_id = ? "
                "ORDER BY votes DESC, entry_id",
                (event_id,),
            )
        )
        return EventResult(event, await self._ranking_in(tx, event_id), payouts, changed)

    async def result(self, event_id: int) -> EventResult:
        """An event's standing (ranking so far, payouts once closed)."""
        return await self._db.run(self.result_in, event_id)

    async def to_announce(self) -> list[EventResult]:
        """Closed events whose result has not been posted yet."""
        rows = await self._db.fetchall(
            "SELECT id FROM events WHERE state = 'closed' AND announced_at IS NULL ORDER BY id"
        )
        return [await self.result(row["id"]) for row in rows]

    async def mark_announced(self, event_id: int, message_id: int | None) -> None:
        """The result was posted (or could not be); it is not posted again."""
        await execute_alone(
            self._db,
            "UPDATE events SET announced_at = ?, announce_message_id = ? "
            "WHERE id = ? AND announced_at IS NULL",
            (self._clock(), message_id, event_id),
        )

    async def next_end(self) -> float | None:
        """When the next open event ends."""
        row = await self._db.fetchone("SELECT MIN(ends_at) AS at FROM events WHERE state = 'open'")
        return row["at"] if row and row["at"] is not None else None

    # -- reading ----------------------------------------------------------------------------------

    async def current(self, guild_id: int) -> Event | None:
        """The server's open event."""
        return await self._db.read(self._open_in, guild_id)

    async def recent(self, guild_id: int, limit: int = 5) -> list[Event]:
        """The open event and the latest closed ones, newest first."""
        rows = await self._db.fetchall(
            f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.guild_id = ? "
            "ORDER BY e.state = 'open' DESC, e.created_at DESC LIMIT ?",
            (guild_id, limit),
        )
        return [Event(*row) for row in rows]

    async def entry(self, entry_id: int) -> Entry | None:
        """One entry with its votes."""
        return await self._db.read(self._entry_in, entry_id)

    async def event(self, event_id: int) -> Event | None:
        """One event."""
        return await self._db.read(self._event_in, event_id)

    async def _open_in(self, tx: Transaction, guild_id: int) -> Event | None:
        row = await tx.fetchone(
            f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.guild_id = ? AND e.state = 'open'",
            (guild_id,),
        )
        return Event(*row) if row else None

    async def _event_in(self, tx: Transaction, event_id: int) -> Event | None:
        row = await tx.fetchone(
            f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.id = ?", (event_id,)
        )
        return Event(*row) if row else None

    async def _entry_in(self, tx: Transaction, entry_id: int | None) -> Entry | None:
        row = await tx.fetchone(
            f"SELECT {_ENTRY_COLUMNS} FROM event_entries n WHERE n.id = ?", (entry_id,)
        )
        return Entry(*row) if row else None

    async def _ranking_in(self, tx: Transaction, event_id: int) -> tuple[Entry, ...]:
        rows = await tx.fetchall(
            f"SELECT {_ENTRY_COLUMNS} FROM event_entries n WHERE n.event_id = ? "
            "ORDER BY votes DESC, n.created_at ASC, n.id ASC",
            (event_id,),
        )
        return tuple(Entry(*row) for row in rows)
