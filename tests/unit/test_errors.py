"""One handler shows every member-facing refusal, domain ones included, in the member's language."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.community.showcase import ShowcaseError
from bot.credits.rules import RuleError
from bot.errors import UserError
from bot.i18n import Text, tr
from bot.jobs.service import CancelRefused
from bot.providers.base import InvalidRequest
from bot.ui.errors import reply_error


@dataclass
class _Response:
    sent: list[tuple[str, bool]] = field(default_factory=list)

    def is_done(self) -> bool:
        return bool(self.sent)

    async def send_message(self, content: str, *, ephemeral: bool = False) -> None:
        self.sent.append((content, ephemeral))


@dataclass
class _Interaction:
    """The part of discord.Interaction that reply_error uses before anything was answered."""

    locale: discord.Locale
    id: int = 1
    command: Any = None
    type: discord.InteractionType = discord.InteractionType.component
    response: _Response = field(default_factory=_Response)


async def _noop(interaction: discord.Interaction) -> None:
    """A command's callback."""


def _invoked(error: Exception) -> app_commands.CommandInvokeError:
    # What the command tree hands its error handler when a command raised `error`.
    command = app_commands.Command(name="tier", description="Tiers", callback=_noop)
    return app_commands.CommandInvokeError(command, error)


@pytest.mark.parametrize("error_type", [RuleError, CancelRefused, InvalidRequest, ShowcaseError])
def test_domain_refusals_are_user_errors(error_type: type[Exception]) -> None:
    assert issubclass(error_type, UserError)


@pytest.mark.parametrize("locale", [discord.Locale.korean, discord.Locale.american_english])
async def test_a_domain_refusal_with_a_text_is_shown_in_the_members_language(
    locale: discord.Locale,
) -> None:
    interaction = _Interaction(locale)
    error = RuleError(Text("rules.no_tier", tier="gold"))
    await reply_error(interaction, _invoked(error))  # type: ignore[arg-type]
    expected = tr(locale, "rules.no_tier", tier="gold")
    assert interaction.response.sent == [(expected, True)]
    assert "gold" in expected


async def test_a_plain_domain_refusal_is_shown_as_it_is() -> None:
    interaction = _Interaction(discord.Locale.korean)
    await reply_error(interaction, ShowcaseError("That video is already shared."))  # type: ignore[arg-type]
    assert interaction.response.sent == [("That video is already shared.", True)]


async def test_anything_else_is_logged_and_not_leaked(caplog: pytest.LogCaptureFixture) -> None:
    interaction = _Interaction(discord.Locale.korean)
    with caplog.at_level(logging.ERROR, logger="bot.ui.errors"):
        await reply_error(interaction, _invoked(RuntimeError("database path /secret")))  # type: ignore[arg-type]
    assert interaction.response.sent == [(tr("ko", "errors.internal"), True)]
    assert any(r.exc_info and "secret" in str(r.exc_info[1]) for r in caplog.records)
