"""Modals (forms) the bot opens: their fields as text, and the values a person fills in."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

JSON = dict[str, Any]

_ROW, _STRING_SELECT, _TEXT_INPUT, _TEXT_DISPLAY, _LABEL = 1, 3, 4, 10, 18
# Longest default value shown in full; longer ones are cut (the value sent is not).
SHOWN_VALUE: Final = 70


@dataclass(frozen=True)
class FormField:
    """One input of a modal: a text input or a string select."""

    custom_id: str
    label: str
    kind: int
    required: bool
    value: str
    description: str = ""
    min_length: int | None = None
    max_length: int | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def is_select(self) -> bool:
        """A select menu (its value is one of its options)."""
        return self.kind == _STRING_SELECT

    def rule(self) -> str:
        """`required, up to 2500 characters` or `optional, one of: a, b`."""
        parts = ["required" if self.required else "optional"]
        if self.is_select:
            parts.append("one of: " + ", ".join(value for _, value in self.options))
        elif self.max_length is not None:
            low = f"{self.min_length}-" if self.min_length else "up to "
            parts.append(f"{low}{self.max_length} characters")
        return ", ".join(parts)


def _inputs(components: Sequence[JSON], label: str = "", about: str = "") -> Iterator[FormField]:
    """Every input, whether in action rows (label on the input) or Label components."""
    for comp in components:
        kind = comp.get("type")
        if kind == _ROW:
            yield from _inputs(comp.get("components") or ())
        elif kind == _LABEL and comp.get("component"):
            inner = comp["component"]
            yield from _inputs(
                [inner], str(comp.get("label") or ""), str(comp.get("description") or "")
            )
        elif kind in (_TEXT_INPUT, _STRING_SELECT) and comp.get("custom_id"):
            raw_options = comp.get("options") or ()
            options = tuple(
                (str(o.get("label", o.get("value"))), str(o.get("value"))) for o in raw_options
            )
            chosen = [str(o.get("value")) for o in raw_options if o.get("default")]
            default_required = kind == _TEXT_INPUT or comp.get("min_values", 1) > 0
            yield FormField(
                custom_id=str(comp["custom_id"]),
                label=label or str(comp.get("label") or comp.get("placeholder") or ""),
                kind=int(kind),
                required=bool(comp.get("required", default_required)),
                value=str(comp.get("value") or "") if kind == _TEXT_INPUT else ", ".join(chosen),
                description=about,
                min_length=comp.get("min_length"),
                max_length=comp.get("max_length"),
                options=options,
            )


def form_fields(modal: Mapping[str, Any]) -> list[FormField]:
    """The inputs of a modal, in order."""
    return list(_inputs(modal.get("components") or ()))


def form_notes(modal: Mapping[str, Any]) -> list[str]:
    """Text shown in the modal besides its inputs (text display components)."""
    return [
        str(comp.get("content") or "")
        for comp in modal.get("components") or ()
        if comp.get("type") == _TEXT_DISPLAY
    ]


def _shown(value: str) -> str:
    flat = value.replace("\n", " ⏎ ")
    return flat if len(flat) <= SHOWN_VALUE else flat[: SHOWN_VALUE - 1] + "…"


def form_text(modal: Mapping[str, Any], filled: Mapping[str, str]) -> list[str]:
    """The modal as lines: title and custom id, then each field with its current value."""
    fields = form_fields(modal)
    lines = [f"📝 Form: {modal.get('title', '')} (custom_id {modal.get('custom_id', '?')})"]
    lines.extend(f"  {note}" for note in form_notes(modal))
    width = max((len(f.custom_id) for f in fields), default=0)
    for field in fields:
        value = filled.get(field.custom_id, field.value)
        about = f" · {field.description}" if field.description else ""
        lines.append(f"  {field.custom_id:<{width}}  {field.label} ({field.rule()}){about}")
        lines.append(f"  {'':<{width}}  = {_shown(value) if value else '(empty)'}")
    return lines


def find_field(fields: Sequence[FormField], name: str) -> FormField | None:
    """A field by its custom id or its label, ignoring case."""
    key = name.strip().lower()
    for field in fields:
        if key in (field.custom_id.lower(), field.label.lower()):
            return field
    return None


def select_value(field: FormField, typed: str) -> str | None:
    """The option value a person means by its value or label, or None."""
    key = typed.strip().lower()
    for label, value in field.options:
        if key in (label.lower(), value.lower()):
            return value
    return None
