"""Buttons on job cards and results that keep working after a restart (the job is in the id)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import discord

from bot.i18n import Text, tr
from bot.jobs.models import Job, JobState
from bot.ui.dynamic import PersistentButton
from bot.ui.errors import UserError, refuse_while_draining

# A custom_id is the whole state a button carries: `video:<action>:<job id>`.
TEMPLATE = (
    r"video:(?P<action>cancel|retry|remix|extend|share|report|delete|post):(?P<job_id>[2-9a-z]{8})"
)

# Action -> emoji and style; the label is the catalogue's `buttons.<action>`.
_LOOK: dict[str, tuple[str, discord.ButtonStyle]] = {
    "cancel": ("✖️", discord.ButtonStyle.danger),
    "retry": ("🔁", discord.ButtonStyle.primary),
    "remix": ("✏️", discord.ButtonStyle.secondary),
    "extend": ("➕", discord.ButtonStyle.secondary),
    "share": ("⭐", discord.ButtonStyle.success),
    "report": ("🚩", discord.ButtonStyle.secondary),
    "delete": ("🗑️", discord.ButtonStyle.danger),
    "post": ("📤", discord.ButtonStyle.primary),
}


JobAction = Callable[[discord.Interaction, str, str], Awaitable[None]]


class JobActions:
    """Who handles each job button: each feature adds its own actions when its cog loads.

    /video handles cancel, retry, remix, extend, post and delete; /showcase adds share and the
    moderation side of /server adds report.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, JobAction] = {}

    def add(self, actions: Iterable[str], handler: JobAction) -> None:
        """Hand presses of these actions to `handler(interaction, action, job_id)`."""
        for action in actions:
            if action not in _LOOK:
                raise ValueError(f"no job button {action!r}")
            self._handlers[action] = handler

    def remove(self, actions: Iterable[str]) -> None:
        """Stop handling these actions (their cog was unloaded)."""
        for action in actions:
            self._handlers.pop(action, None)

    async def dispatch(self, interaction: discord.Interaction, action: str, job_id: str) -> None:
        """Act on a press; a feature that is not loaded says so."""
        refuse_while_draining(interaction)
        handler = self._handlers.get(action)
        if handler is None:
            raise UserError(Text("buttons.unavailable"))
        await handler(interaction, action, job_id)


class JobButton(PersistentButton, template=TEMPLATE):
    """One action on one job; discord.py rebuilds it from its custom_id after a restart."""

    def __init__(self, action: str, job_id: str, locale: object = None) -> None:
        emoji, style = _LOOK[action]
        super().__init__(
            f"video:{action}:{job_id}", tr(locale, f"buttons.{action}"), style, emoji=emoji
        )
        self.action = action
        self.job_id = job_id

    async def press(self, interaction: discord.Interaction) -> None:
        """Hand the press to the registered handler."""
        actions = getattr(interaction.client, "job_actions", None)
        if not isinstance(actions, JobActions):
            raise UserError(Text("buttons.unavailable"))
        await actions.dispatch(interaction, self.action, self.job_id)


def job_view(
    job: Job, *, can_extend: bool, can_share: bool = False, can_report: bool = False
) -> discord.ui.View | None:
    """The buttons a card shows in the job's current state, labelled in the job's language.

    Share needs the server's showcase channel and Report its moderators' channel: without
    them those buttons are not shown.
    """
    if not job.state.terminal:
        actions = ["cancel"]
    elif job.state is JobState.SUCCEEDED:
        actions = [
            "retry",
            "remix",
            *(["extend"] if can_extend else []),
            *(["share"] if can_share else []),
            *(["report"] if can_report else []),
            "delete",
        ]
    else:
        actions = ["retry"]
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job.id, job.locale))
    return view


def post_here_view(job: Job, locale: object = None) -> discord.ui.View:
    """The one button under a kept outcome's card: post it in the channel where it is pressed."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("post", job.id, locale))
    return view
