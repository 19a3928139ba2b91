"""Follows every message the bot posts or edits in the fake and prints it as it changes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from simulator.fake_discord import FakeAttachment, FakeDiscord, FakeMessage
from simulator.render_text import CardState, Names, card_line, card_state, render_message


@dataclass
class _Seen:
    """What was last printed for one message."""

    handle: int
    edits: int
    deleted: bool
    loading: bool
    card: CardState | None


def display_path(path: Path) -> str:
    """A path relative to the current directory when it is below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


@dataclass(eq=False)
class Transcript:
    """Numbers the bot's messages ([1], [2], ...), prints them, and saves their files."""

    fake: FakeDiscord
    out: Callable[[str], None]
    names: Callable[[], Names]
    videos_dir: Path
    # The channel the person is in: messages elsewhere are headed with where they were posted.
    here: Callable[[], int] = lambda: 0
    _seen: dict[int, _Seen] = field(default_factory=dict, init=False)
    _by_handle: dict[int, int] = field(default_factory=dict, init=False)
    _saved: dict[int, Path] = field(default_factory=dict, init=False)

    # -- lookups --------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many messages have been numbered so far."""
        return len(self._by_handle)

    @property
    def saved_files(self) -> list[Path]:
        """Every file saved so far, oldest first."""
        return list(self._saved.values())

    def message_id(self, ref: str) -> int | None:
        """The message a person means by `3`, `[3]` or a full message id."""
        key = ref.strip().strip("[]#")
        if not key.isdigit():
            return None
        number = int(key)
        if number in self._by_handle:
            return self._by_handle[number]
        return number if self.fake.message(number) is not None else None

    def handle(self, message_id: int) -> str:
        """`[3]`, or the raw id for a message not yet printed."""
        seen = self._seen.get(message_id)
        return f"[{seen.handle}]" if seen else f"[{message_id}]"

    def shown_since(self, count: int) -> list[FakeMessage]:
        """Current state of the messages numbered after the first `count`."""
        ids = [self._by_handle[n] for n in sorted(self._by_handle) if n > count]
        return [m for m in (self.fake.message(i) for i in ids) if m is not None]

    def shown(self) -> list[FakeMessage]:
        """Current state of every numbered message, oldest first."""
        return self.shown_since(0)

    def cards(self) -> list[CardState]:
        """Every job card shown, oldest first."""
        return [c for c in (card_state(m) for m in self.shown()) if c is not None]

    def unfinished_cards(self) -> list[CardState]:
        """Job cards whose job has not finished yet."""
        return [c for c in self.cards() if not c.terminal]

    # -- printing -------------------------------------------------------------------------------

    def scan(self) -> bool:
        """Print what is new or changed since the last scan; return whether anything was."""
        printed = False
        bot_id = self.fake.bot_user_id
        for message in self.fake.messages:
            if message.author_id != bot_id:
                continue
            seen = self._seen.get(message.id)
            if seen is not None and (seen.edits, seen.deleted) == (
                message.edit_count,
                message.deleted,
            ):
                continue
            if seen is None and message.deleted:
                continue
            printed = self._show(message, seen) or printed
        return printed

    def _show(self, message: FakeMessage, seen: _Seen | None) -> bool:
        if seen is None:
            handle = len(self._by_handle) + 1
            self._by_handle[handle] = message.id
            seen = _Seen(handle, -1, False, False, None)
            self._seen[message.id] = seen
        previous = seen.card
        card = card_state(message)
        seen.edits, seen.deleted, seen.card = message.edit_count, message.deleted, card
        was_loading, seen.loading = seen.loading, message.loading
        tag = f"[{seen.handle}]"
        if message.deleted:
            # A deferred "thinking" reply that the bot removed is not worth a line.
            if not was_loading:
                self.out(f"{tag} (message deleted)")
            return not was_loading
        if message.loading:
            self.out(f"{tag} {self._author()} is thinking…")
            return True
        if card is not None and previous is not None and not card.terminal:
            if card.state != previous.state:
                self.out(card_line(tag, card))
                return True
            return False
        if card is not None and previous is not None:
            self.out(card_line(tag, card))
        header = self._header(message, tag)
        self.out(render_message(message, header, self.names(), saved=self._save))
        return True

    def _author(self) -> str:
        return self.fake.user(self.fake.bot_user_id).username

    def _header(self, message: FakeMessage, tag: str) -> str:
        parts = [f"{tag} {self._author()}"]
        names = self.names()
        channel = self.fake.channel(message.channel_id)
        if channel.kind == "dm":
            parts.append(f"in a DM to {names.user(channel.recipient_id or 0)}")
        elif message.channel_id != self.here() and message.channel_id in names.channels:
            parts.append(f"in #{names.channels[message.channel_id]}")
        if message.ephemeral:
            who = self._viewer(message)
            parts.append(f"(only {who} can see this)" if who else "(private)")
        if message.message_reference and message.message_reference.get("message_id"):
            replied = int(message.message_reference["message_id"])
            parts.append(f"replying to {self.handle(replied)}")
        return " ".join(parts)

    def _viewer(self, message: FakeMessage) -> str | None:
        if message.interaction_id is None:
            return None
        try:
            user_id = self.fake.interaction(message.interaction_id).user_id
        except KeyError:
            return None
        return self.names().user(user_id)

    def _save(self, attachment: FakeAttachment) -> str | None:
        """Write a file the bot attached into the videos folder (once); return where."""
        path = self._saved.get(attachment.id)
        if path is None:
            path = self._free_path(attachment.filename)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(attachment.data)
            self._saved[attachment.id] = path
        return display_path(path)

    def _free_path(self, filename: str) -> Path:
        """`name.mp4`, or `name-2.mp4` when an earlier run left a different file there."""
        name = Path(filename).name or f"file-{int(time.time())}"
        path = self.videos_dir / name
        stem, suffix = path.stem, path.suffix
        number = 1
        while path.exists():
            number += 1
            path = self.videos_dir / f"{stem}-{number}{suffix}"
        return path
