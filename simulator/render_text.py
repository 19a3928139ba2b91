"""Renders what the bot posted (content, embeds, buttons, files) as readable terminal text."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from bot.i18n import default_catalogue
from simulator.fake_discord import FakeAttachment, FakeMessage

JSON = dict[str, Any]

BAR: Final = "│ "
INDENT: Final = "    "
# The state labels that end a job (see bot/ui/cards.py).
DONE_MARK: Final = "✅"
TERMINAL_MARKS: Final = (DONE_MARK, "❌", "🚫")
_BUTTON, _STRING_SELECT, _TEXT_INPUT = 2, 3, 4
_LINK_STYLE = 5
_TIMESTAMP_RE: Final = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_MENTION_RE: Final = re.compile(r"<(@!?|@&|#)(\d+)>")
_LINK_RE: Final = re.compile(r"\[([^\]]+)\]\((<?)(\S+?)>?\)")
_EMPHASIS_RE: Final = re.compile(r"(\*\*|__)(.+?)\1", re.DOTALL)


@dataclass(frozen=True)
class _CardWords:
    """The job card's words in every shipped language (a Korean member's card reads `영상 작업`)."""

    title: re.Pattern[str]
    state_names: frozenset[str]
    elapsed_names: frozenset[str]
    # The state of a job that waits for a moderator's decision.
    waiting_approval: frozenset[str]


def _card_words() -> _CardWords:
    """Read the card's title, field names and approval state from the catalogues."""
    catalogue = default_catalogue()
    languages = sorted(catalogue.languages)

    def each(key: str) -> frozenset[str]:
        return frozenset(str(catalogue.message(language, key)) for language in languages)

    titles = (
        re.escape(str(catalogue.message(language, "card.title"))).replace(
            re.escape("{job}"), "([^`]+)"
        )
        for language in languages
    )
    return _CardWords(
        re.compile("^(?:" + "|".join(titles) + ")"),
        each("card.field.state"),
        each("card.field.elapsed"),
        each("card.state.waiting_approval"),
    )


_WORDS: Final = _card_words()


@dataclass(frozen=True)
class Names:
    """Display names for the ids that Discord markup mentions."""

    users: Mapping[int, str] = field(default_factory=dict)
    roles: Mapping[int, str] = field(default_factory=dict)
    channels: Mapping[int, str] = field(default_factory=dict)

    def user(self, user_id: int) -> str:
        """A member's name, or their id."""
        return self.users.get(user_id, str(user_id))


@dataclass(frozen=True)
class CardState:
    """Where a job card stands, read from the card itself."""

    job_id: str
    state: str
    elapsed: str

    @property
    def terminal(self) -> bool:
        """The job is finished (done, failed or cancelled)."""
        return self.state.startswith(TERMINAL_MARKS)

    @property
    def succeeded(self) -> bool:
        """The job finished with a video."""
        return self.state.startswith(DONE_MARK)

    @property
    def awaits_moderator(self) -> bool:
        """The job waits for a moderator's Approve or Deny, which waiting cannot bring."""
        return self.state in _WORDS.waiting_approval


def relative_time(timestamp: float, now: float) -> str:
    """`in 23 hours`, `5 minutes ago`, `just now`."""
    delta = timestamp - now
    seconds = abs(delta)
    if seconds < 45:
        return "just now"
    units = ((86400 * 365, "year"), (86400, "day"), (3600, "hour"), (60, "minute"))
    # The largest unit that fits (with Discord's rounding: 0.9 of a unit counts as one).
    size, unit = next((u for u in units if seconds >= u[0] * 0.9), units[-1])
    count = max(1, round(seconds / size))
    words = f"{count} {unit}{'s' if count != 1 else ''}"
    return f"in {words}" if delta > 0 else f"{words} ago"


def _timestamp(match: re.Match[str], now: float) -> str:
    value = int(match.group(1))
    style = match.group(2) or "f"
    if style == "R":
        return relative_time(value, now)
    formats = {
        "t": "%H:%M",
        "T": "%H:%M:%S",
        "d": "%Y-%m-%d",
        "D": "%d %B %Y",
        "f": "%d %B %Y %H:%M",
        "F": "%A, %d %B %Y %H:%M",
    }
    return datetime.fromtimestamp(value).strftime(formats[style])


def markup(text: str, names: Names, now: float | None = None) -> str:
    """Discord markdown to plain text: timestamps, mentions, links and bold resolved."""
    moment = time.time() if now is None else now
    text = _TIMESTAMP_RE.sub(lambda m: _timestamp(m, moment), text)

    def mention(match: re.Match[str]) -> str:
        kind, ident = match.group(1), int(match.group(2))
        if kind == "@&":
            return "@" + names.roles.get(ident, str(ident))
        if kind == "#":
            return "#" + names.channels.get(ident, str(ident))
        return "@" + names.user(ident)

    text = _MENTION_RE.sub(mention, text)
    text = _LINK_RE.sub(lambda m: f"{m.group(1)} ({m.group(3)})", text)
    return _EMPHASIS_RE.sub(lambda m: m.group(2), text)


def card_state(message: FakeMessage) -> CardState | None:
    """The job state shown on a job card, or None when the message is not a job card."""
    embed = message.embed
    if message.deleted or embed is None:
        return None
    match = _WORDS.title.match(str(embed.get("title") or ""))
    if match is None:
        return None
    job_id = next(group for group in match.groups() if group)
    fields = {f.get("name"): str(f.get("value", "")) for f in embed.get("fields") or ()}
    state = next((v for k, v in fields.items() if k in _WORDS.state_names), "?")
    elapsed = next((v for k, v in fields.items() if k in _WORDS.elapsed_names), "")
    return CardState(job_id, state, elapsed)


def _fields(fields: Sequence[JSON], names: Names, now: float) -> Iterator[str]:
    """Inline fields share a line (`Name: value · Name: value`); others get their own."""
    row: list[str] = []
    for item in fields:
        name = markup(str(item.get("name", "")), names, now)
        value = markup(str(item.get("value", "")), names, now)
        if item.get("inline") and "\n" not in value:
            row.append(f"{name}: {value}")
            continue
        if row:
            yield " · ".join(row)
            row = []
        yield f"{name}:"
        yield from (f"  {line}" for line in value.splitlines())
    if row:
        yield " · ".join(row)


def embed_lines(embed: Mapping[str, Any], names: Names, now: float | None = None) -> list[str]:
    """One embed as lines: author, title, description, fields, image, footer."""
    moment = time.time() if now is None else now
    lines: list[str] = []
    if author := (embed.get("author") or {}).get("name"):
        lines.append(markup(author, names, moment))
    if title := embed.get("title"):
        url = f" ({embed['url']})" if embed.get("url") else ""
        lines.append(markup(str(title), names, moment) + url)
    if description := embed.get("description"):
        lines.extend(markup(str(description), names, moment).splitlines())
    lines.extend(_fields(embed.get("fields") or [], names, moment))
    for key in ("image", "thumbnail"):
        if link := (embed.get(key) or {}).get("url"):
            lines.append(f"[{key}: {link}]")
    if footer := (embed.get("footer") or {}).get("text"):
        lines.append("— " + markup(str(footer), names, moment))
    return [BAR + line for line in lines]


def _components(components: Iterable[JSON]) -> Iterator[JSON]:
    for comp in components:
        yield comp
        yield from _components(comp.get("components") or [])


def button_label(component: Mapping[str, Any]) -> str:
    """What a button shows: its label, else its emoji."""
    label = component.get("label")
    if label:
        return str(label)
    emoji = component.get("emoji") or {}
    return str(emoji.get("name") or component.get("custom_id") or "?")


def component_lines(components: Sequence[JSON]) -> list[str]:
    """Buttons as `[ Retry ]` (one line per row); select menus with their options."""
    lines: list[str] = []
    for row in components:
        parts: list[str] = []
        for comp in _components(row.get("components") or [row]):
            ctype = comp.get("type")
            if ctype == _BUTTON:
                text = button_label(comp)
                if comp.get("style") == _LINK_STYLE and comp.get("url"):
                    text += f" ↗ {comp['url']}"
                if comp.get("disabled"):
                    text += " (disabled)"
                parts.append(f"[ {text} ]")
            elif ctype == _STRING_SELECT:
                options = " | ".join(str(o.get("label")) for o in comp.get("options") or ())
                parts.append(f"<{comp.get('placeholder') or 'choose'}: {options}>")
            elif ctype not in (1, _TEXT_INPUT) and comp.get("custom_id"):
                parts.append(f"<{comp.get('placeholder') or 'select'}>")
        if parts:
            lines.append(" ".join(parts))
    return lines


def size_text(size: int) -> str:
    """`412 KB`, `1.3 MB`."""
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def attachment_text(attachment: FakeAttachment) -> str:
    """`clip.mp4 (412 KB, 854x480, 5.0 s)`."""
    details = [size_text(attachment.size)]
    if attachment.width and attachment.height:
        details.append(f"{attachment.width}x{attachment.height}")
    if attachment.duration:
        details.append(f"{attachment.duration:.1f} s")
    return f"{attachment.filename} ({', '.join(details)})"


def message_lines(
    message: FakeMessage,
    names: Names,
    *,
    saved: Callable[[FakeAttachment], str | None] = lambda _: None,
    now: float | None = None,
) -> list[str]:
    """The body of a message: content, embeds, files, buttons (without its header)."""
    lines: list[str] = []
    if message.content:
        lines.extend(markup(message.content, names, now).splitlines())
    for embed in message.embeds:
        lines.extend(embed_lines(embed, names, now))
    for attachment in message.attachments:
        where = saved(attachment)
        lines.append(f"📎 {attachment_text(attachment)}" + (f" → {where}" if where else ""))
    lines.extend(component_lines(list(message.components)))
    return lines


def render_message(
    message: FakeMessage,
    header: str,
    names: Names,
    *,
    saved: Callable[[FakeAttachment], str | None] = lambda _: None,
    now: float | None = None,
) -> str:
    """A header line, then the message's body indented under it."""
    body = message_lines(message, names, saved=saved, now=now)
    return "\n".join([header, *(INDENT + line for line in body)])


def card_line(handle: str, card: CardState) -> str:
    """One compact line per job-card state change."""
    elapsed = f" · {card.elapsed}" if card.elapsed else ""
    return f"{handle} job {card.job_id} · {card.state}{elapsed}"
