"""Parses sandbox lines: slash commands typed as in Discord, and `:meta` commands of the sandbox.

A slash line is `/group sub name:value name:"quoted value" ...`. Values are typed by the schema
the bot registered (the fake recorded it), so the same line works for any command the bot has.
"""

from __future__ import annotations

import difflib
import mimetypes
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

SUBCOMMAND, GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
_TYPE_HINTS: Final = {
    STRING: "text",
    INTEGER: "whole number",
    BOOLEAN: "true/false",
    USER: "member",
    CHANNEL: "channel",
    ROLE: "role",
    MENTIONABLE: "member or role",
    NUMBER: "number",
    ATTACHMENT: "file",
}
_TRUE: Final = frozenset({"true", "yes", "y", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "off", "0"})
# `name:value`; the name is what Discord allows for option names.
_OPTION_RE: Final = re.compile(r"^([a-z0-9_-]{1,32}):(.*)$", re.DOTALL)
# Largest file the sandbox attaches; Discord's own limit for members without Nitro is lower.
MAX_FILE_BYTES: Final = 100 * 1024 * 1024
# Sandbox meta-commands and their aliases.
META_COMMANDS: Final = MappingProxyType(
    {
        "help": "help",
        "h": "help",
        "?": "help",
        "quit": "quit",
        "q": "quit",
        "exit": "quit",
        "wait": "wait",
        "members": "members",
        "as": "as",
        "channel": "channel",
        "press": "press",
        "expect": "expect",
        "show": "show",
        "log": "log",
        "videos": "videos",
        "fill": "fill",
        "submit": "submit",
        "close": "close",
    }
)


class LineError(ValueError):
    """A line that cannot be sent; the message says what to change."""


@dataclass(frozen=True)
class OptionSpec:
    """One option of a slash command, as the bot registered it."""

    name: str
    type: int
    required: bool = False
    description: str = ""
    choices: tuple[tuple[str, Any], ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = None
    max_length: int | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> OptionSpec:
        """Build from Discord's option object."""
        return cls(
            name=str(raw["name"]),
            type=int(raw["type"]),
            required=bool(raw.get("required", False)),
            description=str(raw.get("description") or ""),
            choices=tuple((str(c["name"]), c["value"]) for c in raw.get("choices") or ()),
            min_value=raw.get("min_value"),
            max_value=raw.get("max_value"),
            min_length=raw.get("min_length"),
            max_length=raw.get("max_length"),
        )

    @property
    def hint(self) -> str:
        """What to type, e.g. `<file>`, `<1-60>` or `zoom_in|zoom_out`."""
        if self.choices:
            return "|".join(str(value) for _, value in self.choices)
        if self.type in (INTEGER, NUMBER) and (self.min_value, self.max_value) != (None, None):
            return f"<{_bounds(self.min_value, self.max_value)}>"
        return f"<{_TYPE_HINTS.get(self.type, 'value')}>"

    def usage(self) -> str:
        """`name:<hint>`, in brackets when optional."""
        text = f"{self.name}:{self.hint}"
        return text if self.required else f"[{text}]"


@dataclass(frozen=True)
class CommandSpec:
    """A runnable slash command: its full path (`video image`) and options."""

    path: str
    description: str
    options: tuple[OptionSpec, ...]

    def option(self, name: str) -> OptionSpec | None:
        """The option with this name, or None."""
        return next((o for o in self.options if o.name == name), None)

    def usage(self) -> str:
        """`/video image image:<file> prompt:<text> [provider:<text>] ...`."""
        return " ".join([f"/{self.path}", *(o.usage() for o in self.options)])


@dataclass(frozen=True)
class Catalog:
    """Every runnable slash command the bot registered, by path."""

    commands: Mapping[str, CommandSpec]

    @classmethod
    def from_registered(cls, registered: Iterable[Mapping[str, Any]]) -> Catalog:
        """Flatten the registered chat-input commands (groups and subcommands) into paths."""
        found: dict[str, CommandSpec] = {}

        def walk(prefix: str, description: str, options: Sequence[Mapping[str, Any]]) -> None:
            nested = [o for o in options if o.get("type") in (SUBCOMMAND, GROUP)]
            if not nested:
                specs = tuple(OptionSpec.from_json(o) for o in options)
                found[prefix] = CommandSpec(prefix, description, specs)
                return
            for sub in nested:
                walk(f"{prefix} {sub['name']}", sub.get("description", ""), sub.get("options", []))

        for command in registered:
            if int(command.get("type", 1)) == 1:
                walk(command["name"], command.get("description", ""), command.get("options", []))
        return cls(MappingProxyType(dict(sorted(found.items()))))

    def is_prefix(self, words: Sequence[str]) -> bool:
        """Whether some command's path starts with these words."""
        wanted = " ".join(words)
        return any(path == wanted or path.startswith(wanted + " ") for path in self.commands)

    def below(self, words: Sequence[str]) -> list[str]:
        """The next words that continue a partial path."""
        depth = len(words)
        prefix = " ".join(words) + " "
        nexts = {p.split()[depth] for p in self.commands if p.startswith(prefix)}
        return sorted(nexts)


@dataclass(frozen=True)
class Directory:
    """Names a person can type for members, channels and roles, and where files are looked up."""

    members: Mapping[str, int] = field(default_factory=dict)
    channels: Mapping[str, int] = field(default_factory=dict)
    roles: Mapping[str, int] = field(default_factory=dict)
    search_dirs: tuple[Path, ...] = (Path(),)

    def find_file(self, raw: str) -> Path:
        """The file a person means by `raw`: absolute, or under one of the search folders."""
        path = Path(raw).expanduser()
        candidates = [path] if path.is_absolute() else [d / path for d in self.search_dirs]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        where = ", ".join(str(d) for d in self.search_dirs) if not path.is_absolute() else "/"
        raise LineError(f"no file {raw!r} (looked in {where})")


@dataclass(frozen=True)
class SlashCommand:
    """A slash command ready to send: typed option values and attached files."""

    path: str
    options: Mapping[str, Any]
    attachments: Mapping[str, tuple[str, bytes, str]]
    member: str | None = None
    text: str = ""


@dataclass(frozen=True)
class MetaCommand:
    """A sandbox command such as `:press "Retry"` or `:wait 5`."""

    name: str
    args: tuple[str, ...] = ()


Line = SlashCommand | MetaCommand


def split_words(text: str) -> list[str]:
    """Shell-like split; an apostrophe inside free text (`don't`) is not taken as a quote."""
    try:
        return shlex.split(text)
    except ValueError:
        pass
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.quotes = '"'
    try:
        return list(lexer)
    except ValueError:
        raise LineError(
            'a quote is not closed; put values with spaces in double quotes, e.g. prompt:"a cat"'
        ) from None


def parse_line(text: str, catalog: Catalog, directory: Directory) -> Line | None:
    """Parse one line; None for blank lines and `#` comments; LineError says what is wrong."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if stripped.startswith(":"):
        return parse_meta(stripped)
    if stripped.startswith("/"):
        return parse_slash(stripped, catalog, directory)
    raise LineError(
        "a line starts with / for a slash command (e.g. /credits balance) "
        "or : for a sandbox command (e.g. :help)"
    )


def parse_meta(text: str) -> MetaCommand:
    """`:name arg arg`."""
    words = split_words(text[1:])
    if not words:
        raise LineError("an empty sandbox command; :help lists them")
    name = META_COMMANDS.get(words[0].lower())
    if name is None:
        raise LineError(f"no sandbox command :{words[0]}; :help lists them")
    return MetaCommand(name, tuple(words[1:]))


def parse_slash(text: str, catalog: Catalog, directory: Directory) -> SlashCommand:
    """`/video image image:photo.jpg prompt:"..."` into a typed SlashCommand."""
    tokens = split_words(text)
    spec, rest = _command_of(tokens, catalog)
    raw: dict[str, str] = {}
    member: str | None = None
    current: str | None = None
    for token in rest:
        match = _OPTION_RE.match(token)
        name = match.group(1) if match else None
        if match and name == "as":
            member = match.group(2)
            current = None
        elif match and spec.option(name or "") is not None:
            assert name is not None
            if name in raw:
                raise LineError(f"option {name} is given twice")
            raw[name] = match.group(2)
            current = name
        elif match and not match.group(2).startswith("//"):
            raise LineError(_unknown_option(spec, name or ""))
        elif current is not None:
            # Unquoted words continue the previous value, as typing in Discord's box does.
            raw[current] = f"{raw[current]} {token}"
        else:
            raise LineError(
                f"{token!r} is not name:value; /{spec.path} takes "
                f"{', '.join(o.name for o in spec.options) or 'no options'}"
            )
    options: dict[str, Any] = {}
    attachments: dict[str, tuple[str, bytes, str]] = {}
    for option in spec.options:
        if option.name not in raw:
            if option.required:
                extra = f" ({option.description})" if option.description else ""
                raise LineError(f"/{spec.path} needs {option.name}:{option.hint}{extra}")
            continue
        value = raw[option.name]
        if option.type == ATTACHMENT:
            attachments[option.name] = read_attachment(option.name, value, directory)
        else:
            options[option.name] = convert(option, value, directory)
    return SlashCommand(
        spec.path,
        MappingProxyType(options),
        MappingProxyType(attachments),
        member,
        text.strip(),
    )


def _command_of(tokens: Sequence[str], catalog: Catalog) -> tuple[CommandSpec, list[str]]:
    """The command the leading words name, and the tokens after it."""
    first = tokens[0][1:].lower() if tokens else ""
    if not first:
        raise LineError(f"which command? {_known(catalog)}")
    words = [first]
    index = 1
    while (
        index < len(tokens)
        and ":" not in tokens[index]
        and catalog.is_prefix([*words, tokens[index].lower()])
    ):
        words.append(tokens[index].lower())
        index += 1
    spec = catalog.commands.get(" ".join(words))
    if spec is not None:
        return spec, list(tokens[index:])
    if catalog.is_prefix(words):
        options = ", ".join(catalog.below(words))
        raise LineError(f"/{' '.join(words)} needs one of: {options}")
    raise LineError(f"no command /{' '.join(words)}; {_known(catalog)}")


def _known(catalog: Catalog) -> str:
    if not catalog.commands:
        return "the bot has registered no commands yet"
    return "the bot has " + ", ".join(f"/{p}" for p in catalog.commands)


def _unknown_option(spec: CommandSpec, name: str) -> str:
    names = [o.name for o in spec.options]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"/{spec.path} has no option {name}{hint}; it takes {', '.join(names) or 'none'}"


def convert(option: OptionSpec, value: str, directory: Directory) -> Any:
    """Turn typed text into the JSON value Discord would send for this option."""
    name = option.name
    if option.type == STRING:
        result: Any = _pick_choice(option, value) if option.choices else value
        if option.min_length is not None and len(result) < option.min_length:
            raise LineError(f"{name} needs at least {option.min_length} characters")
        if option.max_length is not None and len(result) > option.max_length:
            raise LineError(f"{name} takes at most {option.max_length} characters")
        return result
    if option.type in (INTEGER, NUMBER):
        return _number(option, value)
    if option.type == BOOLEAN:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise LineError(f"{name} must be true or false, not {value!r}")
    if option.type == USER:
        return _lookup(name, value, directory.members, "member", strip="@")
    if option.type == CHANNEL:
        return _lookup(name, value, directory.channels, "channel", strip="#")
    if option.type == ROLE:
        return _lookup(name, value, directory.roles, "role", strip="@&")
    if option.type == MENTIONABLE:
        both = {**directory.roles, **directory.members}
        return _lookup(name, value, both, "member or role", strip="@&")
    raise LineError(f"{name}: the sandbox cannot send options of type {option.type}")


def _pick_choice(option: OptionSpec, value: str) -> Any:
    """A choice by its value or its display name, case-insensitively."""
    for _, choice in option.choices:
        if value == str(choice):
            return choice
    lowered = value.strip().lower()
    for label, choice in option.choices:
        if lowered in (label.lower(), str(choice).lower()):
            return choice
    values = ", ".join(str(c) for _, c in option.choices)
    raise LineError(f"{option.name} must be one of {values}, not {value!r}")


def _number(option: OptionSpec, value: str) -> int | float:
    kind = "a whole number" if option.type == INTEGER else "a number"
    try:
        number: int | float = int(value) if option.type == INTEGER else float(value)
    except ValueError:
        raise LineError(f"{option.name} must be {kind}, not {value!r}") from None
    if option.choices:
        allowed = [c for _, c in option.choices]
        if number not in allowed:
            raise LineError(f"{option.name} must be one of {allowed}, not {value!r}")
    low, high = option.min_value, option.max_value
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = _bounds(low, high)
        raise LineError(f"{option.name} must be {kind} in {bounds}, not {value!r}")
    return number


def _bounds(low: float | None, high: float | None) -> str:
    """`1-60`, `0-2147483647`, `0-1`, `5-`."""

    def show(value: float | None) -> str:
        if value is None:
            return ""
        return str(int(value)) if float(value).is_integer() else f"{value:g}"

    return f"{show(low)}-{show(high)}"


def _lookup(option: str, value: str, names: Mapping[str, int], what: str, *, strip: str) -> int:
    """A snowflake from a name (`bob`, `@bob`, `#general`) or a raw id."""
    key = value.strip().lstrip(strip).strip("<>").lstrip(strip).lower()
    if key.isdigit():
        return int(key)
    lowered = {k.lower(): v for k, v in names.items()}
    if key in lowered:
        return lowered[key]
    raise LineError(f"{option}: no {what} {value!r}; try one of {', '.join(names) or 'none'}")


def read_attachment(option: str, raw: str, directory: Directory) -> tuple[str, bytes, str]:
    """A local file as (filename, bytes, content type) for an attachment option."""
    try:
        path = directory.find_file(raw)
    except LineError as exc:
        raise LineError(f"{option}: {exc}") from None
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise LineError(f"{option}: {path} is {size} bytes; the sandbox attaches at most 100 MiB")
    data = path.read_bytes()
    return path.name, data, _content_type(path.name, data)


def _content_type(filename: str, data: bytes) -> str:
    """From the name, else from the bytes (as Discord does), else octet-stream."""
    guessed, _ = mimetypes.guess_type(filename)
    if guessed:
        return guessed
    signatures = {
        b"\x89PNG": "image/png",
        b"\xff\xd8\xff": "image/jpeg",
        b"GIF8": "image/gif",
    }
    for magic, kind in signatures.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
