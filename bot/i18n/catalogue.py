"""Message catalogues: one TOML file per language, looked up by key and formatted with params.

A message is a string with `{name}` placeholders (Python format syntax; `{{` for a literal
brace), or a table of plural forms (`one`, `other`, ...) picked by the `count` parameter.
English is the default and the fallback: a key missing in another language is looked up in
English (logged once), and a key missing everywhere comes back as the key itself, so a gap in
a catalogue never breaks a reply.
"""

from __future__ import annotations

import logging
import string
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeAlias

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})
# The parameter that picks a plural form.
COUNT = "count"

# A message: a template, or plural form -> template.
Message: TypeAlias = str | Mapping[str, str]


def language_of(locale: object, available: frozenset[str] | None = None) -> str:
    """`ko` → `ko`, `en-US` → `en`; a locale with no catalogue (`fr`, None) → English."""
    raw = getattr(locale, "value", locale)  # discord.Locale or a plain string
    language = str(raw or "").strip().lower().replace("_", "-").split("-", 1)[0]
    languages = available if available is not None else default_catalogue().languages
    return language if language in languages else DEFAULT_LANGUAGE


def placeholders(message: Message) -> frozenset[str]:
    """The parameter names a message uses, over all its plural forms."""
    templates = [message] if isinstance(message, str) else list(message.values())
    names: set[str] = set()
    for template in templates:
        for _, field, _, _ in string.Formatter().parse(template):
            if field is not None:
                # `{size:.1f}`, `{user.name}` and `{sizes[0]}` need `size`, `user`, `sizes`.
                names.add(field.split(".", 1)[0].split("[", 1)[0])
    return frozenset(names)


def plural_form(language: str, count: object) -> str:
    """The CLDR plural category of `count` in `language` (for the languages shipped)."""
    if language == "ko":
        return "other"  # Korean has no grammatical plural.
    try:
        return "one" if abs(float(count)) == 1 else "other"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "other"


def required_plural_forms(language: str) -> frozenset[str]:
    """The plural forms every plural message needs in `language`."""
    return frozenset({"other"}) if language == "ko" else frozenset({"one", "other"})


class Text:
    """A message not yet rendered: a key and its parameters, shown in the reader's language.

    Raise it inside an exception (`RuleError(Text("rules.no_tier", name=name))`) or pass it as
    a parameter of another message; `str()` gives the English text, so logs and code that only
    knows strings keep working.
    """

    __slots__ = ("key", "params")

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key
        self.params = params

    def render(self, locale: object, catalogue: Catalogue | None = None) -> str:
        """The text in the locale's language."""
        return (catalogue or default_catalogue()).format(locale, self.key, **self.params)

    def __str__(self) -> str:
        return self.render(DEFAULT_LANGUAGE)

    def __repr__(self) -> str:
        return f"Text({self.key!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.key, self.params) == (other.key, other.params)

    def __hash__(self) -> int:
        return hash(self.key)


class Catalogue:
    """Every language's messages, flattened to dotted keys (`balance.title`)."""

    def __init__(self, languages: Mapping[str, Mapping[str, Message]]) -> None:
        if DEFAULT_LANGUAGE not in languages:
            raise ValueError(f"a catalogue needs the default language {DEFAULT_LANGUAGE!r}")
        self._messages = {language: dict(messages) for language, messages in languages.items()}
        self._reported: set[tuple[str, str]] = set()

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalogue:
        """Read every `<language>.toml` in `directory` (default: the packaged catalogues)."""
        if directory is None:
            files: Sequence[Traversable] = [
                f for f in resources.files(__package__).iterdir() if f.name.endswith(".toml")
            ]
        else:
            files = sorted(directory.glob("*.toml"))
        languages: dict[str, dict[str, Message]] = {}
        for file in files:
            try:
                data = tomllib.loads(file.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"message catalogue {file.name}: {exc}") from exc
            languages[file.name.removesuffix(".toml")] = dict(_flatten(data, file.name))
        return cls(languages)

    @property
    def languages(self) -> frozenset[str]:
        """The languages with a catalogue."""
        return frozenset(self._messages)

    def keys(self, language: str = DEFAULT_LANGUAGE) -> frozenset[str]:
        """Every key of one language."""
        return frozenset(self._messages.get(language, {}))

    def message(self, language: str, key: str) -> Message | None:
        """The raw message (template or plural table) of one language, or None."""
        return self._messages.get(language, {}).get(key)

    def has(self, key: str) -> bool:
        """Whether the default language has `key` (every key must be there)."""
        return key in self._messages[DEFAULT_LANGUAGE]

    def takes(self, key: str, name: str) -> bool:
        """Whether the default language's `key` has the placeholder `{name}`."""
        message = self._messages[DEFAULT_LANGUAGE].get(key)
        return message is not None and name in placeholders(message)

    def lookup(self, language: str, key: str) -> str | None:
        """A plain message of exactly this language, unformatted; None when it has none."""
        found = self.message(language, key)
        return found if isinstance(found, str) else None

    def format(self, locale: object, key: str, /, **params: Any) -> str:
        """The message for `key` in the locale's language, formatted; never raises."""
        language = language_of(locale, self.languages)
        tried = [language] if language == DEFAULT_LANGUAGE else [language, DEFAULT_LANGUAGE]
        for lang in tried:
            message = self.message(lang, key)
            if message is None:
                self._report_once(lang, key, "is missing")
                continue
            values = {
                name: value.render(lang, self) if isinstance(value, Text) else value
                for name, value in params.items()
            }
            try:
                return self._pick(lang, key, message, values).format(**values)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
                self._report_once(lang, key, f"cannot be formatted ({exc!r})")
        return key

    def _pick(self, language: str, key: str, message: Message, params: Mapping[str, Any]) -> str:
        if isinstance(message, str):
            return message
        form = plural_form(language, params.get(COUNT))
        if form not in message:
            self._report_once(language, key, f"has no plural form {form!r}")
            form = "other"
        return message[form]

    def _report_once(self, language: str, key: str, problem: str) -> None:
        if (language, key) in self._reported:
            return
        self._reported.add((language, key))
        if language == DEFAULT_LANGUAGE:
            log.error("message %r %s in the %s catalogue", key, problem, language)
        else:
            log.warning(
                "message %r %s in the %s catalogue; falling back to %s",
                key,
                problem,
                language,
                DEFAULT_LANGUAGE,
            )


def _flatten(
    table: Mapping[str, Any], source: str, prefix: str = ""
) -> Iterator[tuple[str, Message]]:
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, str):
            yield key, value
        elif isinstance(value, dict) and _is_plural(value):
            yield key, dict(value)
        elif isinstance(value, dict):
            yield from _flatten(value, source, key + ".")
        else:
            raise ValueError(f"message catalogue {source}: `{key}` must be text, not {value!r}")


def _is_plural(table: Mapping[str, Any]) -> bool:
    return (
        "other" in table
        and set(table) <= PLURAL_FORMS
        and all(isinstance(v, str) for v in table.values())
    )


@cache
def default_catalogue() -> Catalogue:
    """The packaged catalogues, read once."""
    return Catalogue.load()
