"""Rendering messages for a reader: `tr(locale, key, **params)`, or `Messages` bound to a locale."""

from __future__ import annotations

from typing import Any

from bot.i18n.catalogue import DEFAULT_LANGUAGE, Catalogue, Text, default_catalogue, language_of


def tr(locale: object, key: str, /, **params: Any) -> str:
    """The message `key` in the language of `locale` (`ko`, `en-US`, a discord.Locale...)."""
    return default_catalogue().format(locale, key, **params)


def render(value: str | Text, locale: object) -> str:
    """A Text in the locale's language; a plain string as it is."""
    return value.render(locale) if isinstance(value, Text) else str(value)


def text_of(exc: BaseException) -> str | Text:
    """What an exception says, kept translatable when it was raised with a Text."""
    if len(exc.args) == 1 and isinstance(exc.args[0], Text):
        return exc.args[0]
    return str(exc)


class Messages:
    """The messages of one reader: `m = Messages(interaction.locale)`, then `m("key", x=1)`."""

    __slots__ = ("_catalogue", "language")

    def __init__(self, locale: object, catalogue: Catalogue | None = None) -> None:
        self._catalogue = catalogue or default_catalogue()
        self.language = language_of(locale, self._catalogue.languages)

    def __call__(self, key: str, /, **params: Any) -> str:
        return self._catalogue.format(self.language, key, **params)

    def render(self, value: str | Text) -> str:
        """A Text in this reader's language; a plain string as it is."""
        return value.render(self.language, self._catalogue) if isinstance(value, Text) else value

    @property
    def is_default(self) -> bool:
        """Whether this reader gets the default language (English)."""
        return self.language == DEFAULT_LANGUAGE


def failure_text(locale: object, code: str, *, provider: str, fallback: str | None = None) -> str:
    """Why a job failed, for a member: `failure.<code>` in their language.

    `fallback` is the job's `failure_message`. Mostly it is the English message the provider
    gave: English readers get it as it is (it can be more specific than the catalogue), and
    anyone gets `failure.unknown` for a code the catalogue does not know. Where the code's
    message takes a `{reason}` (a moderator's denial), `fallback` is that reason, quoted in the
    bot's sentence in every language.
    """
    catalogue = default_catalogue()
    language = language_of(locale, catalogue.languages)
    key = f"failure.{code}"
    if catalogue.takes(key, "reason"):
        return catalogue.format(language, key, provider=provider, reason=fallback or "")
    if language == DEFAULT_LANGUAGE and fallback:
        return fallback
    if not catalogue.has(key):
        key = "failure.unknown"
    return catalogue.format(language, key, provider=provider)
