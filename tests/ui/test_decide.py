"""The one "decide with a reason" component: its ids, its labels, and how presses are routed."""

from __future__ import annotations

import re

import discord
import pytest

from bot.i18n import Text
from bot.ui.decide import (
    BUTTON,
    REASON_FORM,
    DecideButton,
    Decisions,
    Outcome,
    Subject,
    already_decided,
    decide_view,
    reason_form,
)
from bot.ui.errors import UserError
from bot.ui.forms import FormRouter
from tests.ui.fakes import MEMBER_ID, OWNER_ID, interaction, sent_text


class Recorder(Subject):
    """A subject that remembers what it was asked to decide."""

    name = "share"

    def __init__(self, state: str = "pending", changed: bool = True) -> None:
        self.state = state
        self.changed = changed
        self.decisions: list[tuple[str, bool, str | None]] = []
        self.told: list[Outcome] = []

    async def current(self, interaction: discord.Interaction, object_id: str) -> Outcome:
        return Outcome(discord.Embed(title=object_id), self.state, self.state == "pending", False)

    async def decide(
        self, interaction: discord.Interaction, object_id: str, approve: bool, reason: str | None
    ) -> Outcome:
        self.decisions.append((object_id, approve, reason))
        state = self.state if not self.changed else ("approved" if approve else "denied")
        return Outcome(discord.Embed(title=state), state, changed=self.changed)

    async def decided(self, interaction: discord.Interaction, outcome: Outcome) -> None:
        self.told.append(outcome)


def custom_ids(view: discord.ui.View) -> list[str]:
    return [item.custom_id for item in view.children]  # type: ignore[attr-defined]


def labels(view: discord.ui.View) -> list[str | None]:
    return [item.item.label for item in view.children]  # type: ignore[attr-defined]


def test_buttons_and_form_carry_subject_and_id_and_keep_the_old_ids() -> None:
    # The ids of messages posted before this component existed still match.
    assert custom_ids(decide_view("approval", "abcd2345")) == [
        "approval:approve:abcd2345",
        "approval:deny:abcd2345",
    ]
    assert custom_ids(decide_view("share", 17)) == ["share:approve:17", "share:deny:17"]
    for custom_id in ("approval:approve:abcd2345", "share:deny:17"):
        assert re.fullmatch(BUTTON, custom_id)
    assert re.fullmatch(REASON_FORM, "share:reason:17")
    # Other features' ids are not taken for decisions.
    for other in ("video:share:abcd2345", "report:delete:3", "showcase:vote:2", "event:vote:1"):
        assert re.fullmatch(BUTTON, other) is None
        assert re.fullmatch(REASON_FORM, other) is None


def test_labels_and_form_are_in_the_readers_language() -> None:
    english = labels(decide_view("share", 1))
    korean = labels(decide_view("share", 1, "ko"))
    assert english == ["Approve share", "Deny share"]
    assert korean == ["공유 승인", "공유 거절"]
    form = reason_form("approval", "abcd2345", "ko")
    assert form.custom_id == "approval:reason:abcd2345"
    assert form.title == "이 영상 거절하기"
    [label] = form.children
    assert label.text == "사유(멤버에게 보여요)"  # type: ignore[attr-defined]
    assert already_decided("en", "share", "posted") == (
        "This share was already decided (approved and posted) before your form arrived; "
        "nothing was changed."
    )


async def test_a_pressed_button_is_rebuilt_from_its_custom_id() -> None:
    match = re.fullmatch(BUTTON, "approval:deny:abcd2345")
    assert match is not None
    item = discord.ui.Button(custom_id="approval:deny:abcd2345")
    button = await DecideButton.from_custom_id(None, item, match)  # type: ignore[arg-type]
    assert (button.subject, button.verdict, button.object_id) == ("approval", "deny", "abcd2345")


async def test_approve_decides_at_once_and_replaces_the_buttons() -> None:
    decisions, subject = Decisions(FormRouter()), Recorder()
    decisions.add(subject)
    pressed = interaction()
    await decisions.press(pressed, "share", "approve", "7")
    assert subject.decisions == [("7", True, None)]
    pressed.response.edit_message.assert_awaited_once()
    assert pressed.response.edit_message.call_args.kwargs["view"] is None
    pressed.followup.send.assert_not_awaited()
    assert [o.state for o in subject.told] == ["approved"]


async def test_deny_asks_for_the_reason_then_the_form_decides() -> None:
    router = FormRouter()
    decisions, subject = Decisions(router), Recorder()
    decisions.add(subject)
    pressed = interaction(locale="ko")
    await decisions.press(pressed, "share", "deny", "7")
    [modal] = pressed.response.send_modal.call_args.args
    assert modal.custom_id == "share:reason:7"
    assert subject.decisions == []

    submitted = interaction(message=False)
    match = re.fullmatch(REASON_FORM, modal.custom_id)
    assert match is not None
    await decisions.on_reason_form(submitted, match, {"reason": "off topic"})
    assert subject.decisions == [("7", False, "off topic")]
    submitted.response.defer.assert_awaited_once()  # no message to edit: just acknowledged


async def test_someone_decided_first_the_moderator_is_told_privately() -> None:
    decisions, subject = Decisions(FormRouter()), Recorder(state="approved", changed=False)
    decisions.add(subject)
    pressed = interaction()
    await decisions.press(pressed, "share", "deny", "7")  # no form: nothing left to deny
    pressed.response.send_modal.assert_not_awaited()
    pressed.response.edit_message.assert_awaited_once()
    assert "already decided (approved)" in sent_text(pressed.followup.send)
    assert pressed.followup.send.call_args.kwargs["ephemeral"] is True


@pytest.mark.parametrize("who", ["member", "owner"])
async def test_only_moderators_and_owners_decide(who: str) -> None:
    decisions, subject = Decisions(FormRouter()), Recorder()
    decisions.add(subject)
    if who == "member":
        with pytest.raises(UserError) as refused:
            await decisions.press(
                interaction(user_id=MEMBER_ID, moderator=False), "share", "approve", "7"
            )
        assert isinstance(refused.value.message, Text)
        assert refused.value.message.key == "decide.moderators_only"
        assert subject.decisions == []
    else:
        await decisions.press(
            interaction(user_id=OWNER_ID, moderator=False), "share", "approve", "7"
        )
        assert subject.decisions == [("7", True, None)]


async def test_a_subject_whose_feature_is_not_loaded_is_unavailable() -> None:
    decisions = Decisions(FormRouter())
    decisions.add(Recorder())
    decisions.remove("share")
    with pytest.raises(UserError) as refused:
        await decisions.press(interaction(), "share", "approve", "7")
    assert refused.value.message.key == "buttons.unavailable"  # type: ignore[union-attr]


async def test_reason_forms_reach_the_decisions_through_the_form_router() -> None:
    router = FormRouter()
    decisions, subject = Decisions(router), Recorder()
    decisions.add(subject)
    submitted = interaction(message=False)
    submitted.type = discord.InteractionType.modal_submit
    submitted.data = {
        "custom_id": "share:reason:9",
        "components": [{"type": 18, "component": {"custom_id": "reason", "value": "spam"}}],
    }
    await router.dispatch(submitted)
    assert subject.decisions == [("9", False, "spam")]
