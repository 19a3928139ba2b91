"""One camera vocabulary for every provider, and how each provider is told about a move."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class CameraMove(StrEnum):
    """A camera move a member can ask for; its value is the slash-command choice value."""

    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    TILT_UP = "tilt_up"
    TILT_DOWN = "tilt_down"
    TRUCK_LEFT = "truck_left"
    TRUCK_RIGHT = "truck_right"
    PEDESTAL_UP = "pedestal_up"
    PEDESTAL_DOWN = "pedestal_down"
    ROLL_CLOCKWISE = "roll_clockwise"
    ROLL_COUNTERCLOCKWISE = "roll_counterclockwise"
    LOW_ANGLE = "low_angle"
    OVER_THE_SHOULDER = "over_the_shoulder"
    CLOSE_UP = "close_up"
    STATIC = "static"


@dataclass(frozen=True)
class MoveInfo:
    """How one move is named for members and written as a prompt directive."""

    label: str
    directive: str
    # Kling's camera_control "simple" axis and sign. Kling names the rotation about the
    # horizontal axis "pan" and the one about the vertical axis "tilt": the reverse of film
    # usage, so a film pan maps to Kling's "tilt". Zoom < 0 narrows the field of view.
    kling_axis: str | None = None
    kling_sign: int = 0
    aliases: tuple[str, ...] = ()


MOVES: dict[CameraMove, MoveInfo] = {
    CameraMove.ZOOM_IN: MoveInfo("Zoom in", "Zoom in", "zoom", -1, ("push in", "dolly in")),
    CameraMove.ZOOM_OUT: MoveInfo("Zoom out", "Zoom out", "zoom", 1, ("pull out", "dolly out")),
    CameraMove.PAN_LEFT: MoveInfo("Pan left", "Pan left", "tilt", -1),
    CameraMove.PAN_RIGHT: MoveInfo("Pan right", "Pan right", "tilt", 1),
    CameraMove.TILT_UP: MoveInfo("Tilt up", "Tilt up", "pan", 1),
    CameraMove.TILT_DOWN: MoveInfo("Tilt down", "Tilt down", "pan", -1),
    CameraMove.TRUCK_LEFT: MoveInfo("Truck left", "Truck left", "horizontal", -1),
    CameraMove.TRUCK_RIGHT: MoveInfo("Truck right", "Truck right", "horizontal", 1),
    CameraMove.PEDESTAL_UP: MoveInfo("Pedestal up", "Pedestal up", "vertical", 1, ("crane up",)),
    CameraMove.PEDESTAL_DOWN: MoveInfo(
        "Pedestal down", "Pedestal down", "vertical", -1, ("crane down",)
    ),
    CameraMove.ROLL_CLOCKWISE: MoveInfo(
        "Roll clockwise", "Roll clockwise", "roll", 1, ("roll", "roll right")
    ),
    CameraMove.ROLL_COUNTERCLOCKWISE: MoveInfo(
        "Roll counterclockwise", "Roll counterclockwise", "roll", -1, ("roll left",)
    ),
    CameraMove.LOW_ANGLE: MoveInfo("Low-angle shot", "Low-angle", aliases=("low angle",)),
    CameraMove.OVER_THE_SHOULDER: MoveInfo(
        "Over-the-shoulder shot", "Over-the-shoulder shot", aliases=("over the shoulder",)
    ),
    CameraMove.CLOSE_UP: MoveInfo("Close-up", "Close-up", aliases=("close up", "closeup")),
    CameraMove.STATIC: MoveInfo("Static shot", "Static shot", aliases=("static", "fixed shot")),
}

_BRACKETS = re.compile(r"\[([^\[\]]{1,120})\]")


def _normalise(text: str) -> str:
    text = re.sub(r"[\s_-]+", " ", text.strip().lower())
    return text.removesuffix(" shot") if text not in ("static shot", "fixed shot") else text


_BY_NAME: dict[str, CameraMove] = {}
for _move, _info in MOVES.items():
    for _name in (_move.value, _info.label, _info.directive, *_info.aliases):
        _BY_NAME[_normalise(_name)] = _move


def move_named(text: str) -> CameraMove | None:
    """The move a word or phrase names ("Pan right", "pan_right", "low angle shot"), if any."""
    return _BY_NAME.get(_normalise(text))


def parse_directives(prompt: str) -> list[CameraMove]:
    """Camera moves written in brackets in a prompt, in order: `[Truck left, Pan right] ...`."""
    moves: list[CameraMove] = []
    for group in _BRACKETS.findall(prompt):
        for part in group.split(","):
            move = move_named(part)
            if move is not None and move not in moves:
                moves.append(move)
    return moves


def with_directive(prompt: str, move: CameraMove | None) -> str:
    """The prompt with `move` prepended as a bracketed directive, unless already written there."""
    if move is None or move in parse_directives(prompt):
        return prompt
    return f"[{MOVES[move].directive}] {prompt}"


def kling_camera_control(move: CameraMove, strength: float = 1.0) -> dict[str, object] | None:
    """Kling's `camera_control` for a move, or None when Kling has no axis for it."""
    info = MOVES[move]
    if info.kling_axis is None:
        return None
    config = dict.fromkeys(("horizontal", "vertical", "pan", "tilt", "roll", "zoom"), 0.0)
    config[info.kling_axis] = info.kling_sign * strength
    return {"type": "simple", "config": config}
