"""Job buttons: each action reaches the feature that registered it, and only that one."""

from __future__ import annotations

import pytest

from bot.ui.buttons import JobActions, JobButton
from bot.ui.errors import UserError
from tests.ui.fakes import interaction


async def test_each_action_reaches_its_own_handler() -> None:
    actions = JobActions()
    calls: list[tuple[str, str, str]] = []

    async def video(_interaction: object, action: str, job_id: str) -> None:
        calls.append(("video", action, job_id))

    async def showcase(_interaction: object, action: str, job_id: str) -> None:
        calls.append(("showcase", action, job_id))

    actions.add(("cancel", "retry"), video)
    actions.add(("share",), showcase)
    await actions.dispatch(interaction(), "share", "abcd2345")
    await actions.dispatch(interaction(), "retry", "abcd2345")
    assert calls == [("showcase", "share", "abcd2345"), ("video", "retry", "abcd2345")]

    actions.remove(("share",))
    with pytest.raises(UserError) as refused:
        await actions.dispatch(interaction(), "share", "abcd2345")
    assert refused.value.message.key == "buttons.unavailable"  # type: ignore[union-attr]


def test_only_known_actions_can_be_registered() -> None:
    async def handler(*_: object) -> None: ...

    with pytest.raises(ValueError, match="no job button"):
        JobActions().add(("launch",), handler)


async def test_a_press_without_a_router_is_answered_not_dropped() -> None:
    pressed = interaction()
    pressed.client = object()  # no job_actions: e.g. the bot is still starting
    await JobButton("share", "abcd2345").callback(pressed)  # type: ignore[arg-type]
    message = pressed.response.send_message.call_args.args[0]
    assert "not available right now" in message
