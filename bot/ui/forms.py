"""Forms (modals) that carry what they act on in their custom_id and are routed by it.

discord.py keeps an open modal by its custom_id alone, so two members with the same form open
share one callback, and a restart forgets every open form. Here no form object is kept: a form
is sent detached, and its submission is routed by a pattern on its custom_id (the job, request
or share id is in it), so each handler loads the object it names and acts on that one only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import discord

from bot.i18n import Text
from bot.ui.errors import refuse_while_draining, reply_error, send_private

log = logging.getLogger(__name__)

# Discord's limit for a custom_id (modals and components alike).
MAX_CUSTOM_ID = 100

FormValues = Mapping[str, str]
FormHandler = Callable[[discord.Interaction, re.Match[str], FormValues], Awaitable[None]]


def form_id(*parts: object) -> str:
    """A form's custom_id from its parts, refusing one Discord would reject."""
    custom_id = ":".join(str(p) for p in parts)
    if len(custom_id) > MAX_CUSTOM_ID:
        raise ValueError(f"custom_id longer than {MAX_CUSTOM_ID} characters: {custom_id!r}")
    return custom_id


def build_form(
    custom_id: str, title: str, inputs: Sequence[tuple[str, discord.ui.TextInput[Any]]]
) -> discord.ui.Modal:
    """A modal of labelled text inputs that discord.py will not keep once sent."""
    modal = discord.ui.Modal(title=title[:45], custom_id=form_id(custom_id))
    for label, text_input in inputs:
        modal.add_item(discord.ui.Label(text=label[:45], component=text_input))
    # A stopped modal is not stored by send_modal: its submission reaches FormRouter instead
    # of a callback that a later form with the same custom_id could replace.
    modal.stop()
    return modal


def submitted_values(data: Mapping[str, Any]) -> dict[str, str]:
    """The text a modal submission carries, by input custom_id (rows and labels unwrapped)."""
    values: dict[str, str] = {}

    def walk(components: Sequence[Mapping[str, Any]]) -> None:
        for component in components:
            if "components" in component:
                walk(component["components"])
            elif "component" in component:
                walk([component["component"]])
            elif "custom_id" in component and isinstance(component.get("value"), str):
                values[component["custom_id"]] = component["value"]

    walk(data.get("components") or [])
    return values


class FormRouter:
    """Hands each submitted form to the handler whose pattern matches its custom_id."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[re.Pattern[str], FormHandler]] = {}

    def add(self, template: str, handler: FormHandler) -> None:
        """Route submissions whose whole custom_id matches `template` to `handler`."""
        self._routes[template] = (re.compile(template), handler)

    def remove(self, template: str) -> None:
        """Stop routing a template (its cog was unloaded)."""
        self._routes.pop(template, None)

    async def dispatch(self, interaction: discord.Interaction) -> None:
        """Route one interaction if it is a form submission (an `on_interaction` listener)."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: Mapping[str, Any] = interaction.data or {}
        custom_id = str(data.get("custom_id", ""))
        for pattern, handler in list(self._routes.values()):
            match = pattern.fullmatch(custom_id)
            if match is None:
                continue
            try:
                refuse_while_draining(interaction)
                await handler(interaction, match, submitted_values(data))
            except Exception as error:
                await reply_error(interaction, error)
            return
        # A form from before an upgrade (or of a cog not loaded) names nothing we can act on:
        # say so, rather than leave the member with "This interaction failed".
        log.info("form %r submitted but nothing handles it", custom_id)
        try:
            await send_private(interaction, Text("forms.expired"))
        except discord.HTTPException:
            log.warning("could not answer form interaction %s", interaction.id)
