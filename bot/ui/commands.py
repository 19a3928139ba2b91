"""Slash commands in every language: a discord.py Translator fed by the message catalogues.

Command text comes from the code in English (Discord's default) and from the catalogues for
every other language, under keys derived from where the text sits:

    commands.<command path>.name / .description        (`commands.credits.tier.set.name`)
    commands.<command path>.options.<option>.name / .description
    options.<option>.name / .description               (shared by every command's option)
    choices.<option>.<value>                           (`choices.period.7d`)

A `locale_str(..., key="...")` names its key itself.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n.catalogue import DEFAULT_LANGUAGE, Catalogue, default_catalogue, language_of

log = logging.getLogger(__name__)

MAX_NAME = 32
MAX_DESCRIPTION = 100
MAX_CHOICE_NAME = 100

_COMMAND_TEXT = {
    Where.command_name: "name",
    Where.group_name: "name",
    Where.command_description: "description",
    Where.group_description: "description",
}
_OPTION_TEXT = {Where.parameter_name: "name", Where.parameter_description: "description"}
AnyCommand = app_commands.Command | app_commands.Group | app_commands.ContextMenu


def guild_only() -> app_commands.AppCommandContext:
    """Interaction contexts for a command used in servers only (not DMs or group DMs)."""
    # Discord's `contexts` replaces the deprecated `dm_permission` that discord.py's
    # `guild_only=True` still sends (it leaves `contexts` unset).
    return app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)


# Discord hides a top-level command declaring this from members without Manage Server (an
# admin can still grant it in Server Settings > Integrations, so the code checks as well).
MANAGE_SERVER = discord.Permissions(manage_guild=True)


def command_path(command: AnyCommand) -> str:
    """`credits tier set` → `credits.tier.set`."""
    return command.qualified_name.replace(" ", ".")


def keys_for(
    string: app_commands.locale_str, context: app_commands.TranslationContext
) -> list[str]:
    """The catalogue keys that may hold this text, most specific first."""
    if key := string.extras.get("key"):
        return [key]
    where, data = context.location, context.data
    if field := _COMMAND_TEXT.get(where):
        return [f"commands.{command_path(data)}.{field}"]
    if field := _OPTION_TEXT.get(where):
        option = data.display_name
        return [
            f"commands.{command_path(data.command)}.options.{option}.{field}",
            f"options.{option}.{field}",
        ]
    if where is Where.choice_name:
        return [f"choices.{data.value}"]
    return []


class CatalogueTranslator(app_commands.Translator):
    """Gives Discord every command's text in each catalogue language other than English."""

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        super().__init__()
        self._catalogue = catalogue
        self._reported: set[tuple[str, str]] = set()

    @property
    def catalogue(self) -> Catalogue:
        """The catalogues in use."""
        return self._catalogue or default_catalogue()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContext,
    ) -> str | None:
        """The text in `locale`, or None to let Discord show the English default."""
        catalogue = self.catalogue
        language = language_of(locale, catalogue.languages)
        # en-US, en-GB and every locale without a catalogue show the code's English.
        if language == DEFAULT_LANGUAGE:
            return None
        keys = keys_for(string, context)
        for key in keys:
            if (text := catalogue.lookup(language, key)) is not None:
                return text
        if keys and (language, keys[0]) not in self._reported:
            self._reported.add((language, keys[0]))
            log.warning("no %s text for %r (%s)", language, string.message, " or ".join(keys))
        return None


def localize_choices(command: AnyCommand) -> None:
    """Make every fixed choice of `command` translatable, under `choices.<option>.<value>`.

    discord.py only translates choices whose name is a locale_str; plain names are wrapped here
    so a cog can keep writing `Choice(name="today", value="today")`.
    """
    for each in _leaves(command):
        # CommandParameter is discord.py's own record of an option; `_params` holds them.
        for param in getattr(each, "_params", {}).values():
            if param.choices:
                param.choices = [_keyed(choice, param.display_name) for choice in param.choices]


def _leaves(command: AnyCommand) -> Iterable[AnyCommand]:
    if isinstance(command, app_commands.Group):
        return [c for c in command.walk_commands() if isinstance(c, app_commands.Command)]
    return [command]


def _keyed(choice: app_commands.Choice, option: str) -> app_commands.Choice:
    current = getattr(choice, "_locale_name", None)
    if current is not None and current.extras.get("key"):
        return choice
    name = app_commands.locale_str(choice.name, key=f"choices.{option}.{choice.value}")
    return app_commands.Choice(name=name, value=choice.value)


def name_problem(name: str) -> str | None:
    """Why Discord would refuse `name` as a slash command or option name; None if it is fine.

    Discord's rule: `^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`, lowercase where the
    script has case.
    """
    if not 1 <= len(name) <= MAX_NAME:
        return f"{len(name)} characters (1 to {MAX_NAME} allowed)"
    if name != name.lower():
        return "not lowercase"
    for char in name:
        category = unicodedata.category(char)
        if char in "-_" or category[0] in "LN":
            continue
        # Devanagari and Thai vowel signs and marks are allowed as well.
        if category[0] == "M" and unicodedata.name(char, "").startswith(("DEVANAGARI", "THAI")):
            continue
        return f"{char!r} is not allowed"
    return None
