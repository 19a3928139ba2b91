"""One "decide with a reason" component: Approve / Deny under anything a moderator decides.

An approval request (`/server`) and a share waiting for review (`/showcase`) are decided the
same way: Approve decides at once; Deny opens a form for the reason the member is told; a
request someone decided first is shown as decided, and the moderator hears so privately.
Each feature registers a `Subject` under a name; the name and the object's id are the whole
state of the buttons (`<subject>:approve:<id>`, `<subject>:deny:<id>`) and of the reason form
(`<subject>:reason:<id>`), so both keep working after a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import discord

from bot.i18n import Messages, Text, tr
from bot.ui.community_views import is_moderator, owner_ids_of
from bot.ui.dynamic import PersistentButton
from bot.ui.errors import UserError
from bot.ui.forms import FormRouter, FormValues, build_form, form_id

OBJECT_ID = r"[0-9a-z]{1,32}"
BUTTON = rf"(?P<subject>[a-z_]{{1,20}}):(?P<verdict>approve|deny):(?P<object_id>{OBJECT_ID})"
REASON_FORM = rf"(?P<subject>[a-z_]{{1,20}}):reason:(?P<object_id>{OBJECT_ID})"
MIN_REASON, MAX_REASON = 3, 300

_LOOK = {
    "approve": ("✅", discord.ButtonStyle.success),
    "deny": ("⛔", discord.ButtonStyle.danger),
}


@dataclass(frozen=True)
class Outcome:
    """How a decided (or undecidable) object now looks, for the moderators' message."""

    embed: discord.Embed
    state: str
    pending: bool = False
    changed: bool = True
    # The decided object itself, for the subject's `decided`.
    subject: Any = None


class Subject:
    """What a feature decides: `name` is its custom_id prefix and catalogue section."""

    name = ""

    async def current(self, interaction: discord.Interaction, object_id: str) -> Outcome:
        """The object as it stands; UserError if it is not this server's."""
        raise NotImplementedError

    async def decide(
        self, interaction: discord.Interaction, object_id: str, approve: bool, reason: str | None
    ) -> Outcome:
        """Approve, or deny with a reason, once; `changed` is False if it was decided already."""
        raise NotImplementedError

    async def decided(self, interaction: discord.Interaction, outcome: Outcome) -> None:
        """After the moderator was answered: tell whoever else needs to know (default: none)."""


class Decisions:
    """The subjects a bot decides, by name; routes their buttons and reason forms."""

    def __init__(self, forms: FormRouter) -> None:
        self._subjects: dict[str, Subject] = {}
        forms.add(REASON_FORM, self.on_reason_form)

    def add(self, subject: Subject) -> None:
        """Decide `subject` from now on (its cog was loaded)."""
        self._subjects[subject.name] = subject

    def remove(self, name: str) -> None:
        """Stop deciding a subject (its cog was unloaded)."""
        self._subjects.pop(name, None)

    def subject(self, name: str) -> Subject:
        """The registered subject; UserError if its feature is not loaded."""
        found = self._subjects.get(name)
        if found is None:
            raise UserError(Text("buttons.unavailable"))
        return found

    async def press(
        self, interaction: discord.Interaction, name: str, verdict: str, object_id: str
    ) -> None:
        """Approve decides now; Deny asks for the reason first (unless already decided)."""
        subject = self._checked(interaction, name)
        if verdict == "approve":
            outcome = await subject.decide(interaction, object_id, True, None)
        else:
            outcome = await subject.current(interaction, object_id)
            if outcome.pending:
                await interaction.response.send_modal(
                    reason_form(name, object_id, interaction.locale)
                )
                return
            outcome = replace(outcome, changed=False)
        await self._show(interaction, subject, outcome)

    async def on_reason_form(
        self, interaction: discord.Interaction, match: re.Match[str], values: FormValues
    ) -> None:
        """A reason form was submitted: deny what it names, if it is still pending."""
        subject = self._checked(interaction, match["subject"])
        reason = values.get("reason", "")
        outcome = await subject.decide(interaction, match["object_id"], False, reason)
        await self._show(interaction, subject, outcome)

    def _checked(self, interaction: discord.Interaction, name: str) -> Subject:
        if not is_moderator(interaction, owner_ids_of(interaction.client)):
            raise UserError(Text("decide.moderators_only"))
        return self.subject(name)

    @staticmethod
    async def _show(interaction: discord.Interaction, subject: Subject, outcome: Outcome) -> None:
        """Replace the buttons with the outcome; say privately if someone decided first."""
        if interaction.message is not None:
            await interaction.response.edit_message(embed=outcome.embed, view=None)
        else:
            await interaction.response.defer(ephemeral=True)
        if not outcome.changed:
            await interaction.followup.send(
                already_decided(interaction.locale, subject.name, outcome.state), ephemeral=True
            )
        await subject.decided(interaction, outcome)


def already_decided(locale: object, subject: str, state: str) -> str:
    """The moderator's private answer when someone decided first."""
    m = Messages(locale)
    return m(f"decide.{subject}.already", state=m(f"decide.state.{state}"))


def decisions_of(client: discord.Client) -> Decisions:
    """The bot's subjects (bot.app.VideoBot.decisions)."""
    decisions = getattr(client, "decisions", None)
    if not isinstance(decisions, Decisions):
        raise UserError(Text("buttons.unavailable"))
    return decisions


class DecideButton(PersistentButton, template=BUTTON):
    """Approve or Deny one object of one subject; rebuilt from its custom_id after a restart."""

    def __init__(self, subject: str, verdict: str, object_id: str, locale: object = None) -> None:
        emoji, style = _LOOK[verdict]
        super().__init__(
            form_id(subject, verdict, object_id),
            tr(locale, f"decide.{subject}.{verdict}"),
            style,
            emoji=emoji,
        )
        self.subject = subject
        self.verdict = verdict
        self.object_id = object_id

    async def press(self, interaction: discord.Interaction) -> None:
        """Hand the press to the subject's feature."""
        await decisions_of(interaction.client).press(
            interaction, self.subject, self.verdict, self.object_id
        )


def decide_view(subject: str, object_id: object, locale: object = None) -> discord.ui.View:
    """Approve and Deny under an object waiting for a moderator."""
    view = discord.ui.View(timeout=None)
    for verdict in ("approve", "deny"):
        view.add_item(DecideButton(subject, verdict, str(object_id), locale))
    return view


def reason_form(subject: str, object_id: str, locale: object = None) -> discord.ui.Modal:
    """The reason for a denial; the member is told it."""
    m = Messages(locale)
    reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
        custom_id="reason",
        style=discord.TextStyle.paragraph,
        min_length=MIN_REASON,
        max_length=MAX_REASON,
    )
    return build_form(
        form_id(subject, "reason", object_id),
        m(f"decide.{subject}.form_title"),
        [(m("decide.reason_label"), reason)],
    )
