"""The one member-facing error type, free of discord so the domain can raise it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.i18n import Text


class UserError(Exception):
    """Something the member can fix; the message says what to change.

    Give it a `Text` (`UserError(Text("credits.no_tier", tier=name))`) to answer in the
    member's language; a plain string is shown as it is. Domain refusals (ShowcaseError,
    RuleError, InvalidRequest...) subclass it, so the Discord layer's one handler
    (`bot.ui.errors.reply_error`) shows them without the cogs re-wrapping each.
    """

    def __init__(self, message: str | Text) -> None:
        super().__init__(message)
        self.message = message
