"""Reports: the Report button on a result, and Delete / Dismiss under a report."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import AsyncMock

import pytest

from bot.community.moderation import ModerationError, Report
from bot.i18n import Text
from bot.ui.errors import UserError
from cogs.server.reports import report_job, report_view, resolve_report
from tests.ui.fakes import GUILD_ID, MEMBER_ID, OWNER_ID, interaction, sent_text


def client_with(reports: SimpleNamespace) -> SimpleNamespace:
    community = SimpleNamespace(
        reports=reports,
        showcase=SimpleNamespace(job=AsyncMock(return_value=None), by_job=AsyncMock()),
    )
    settings = SimpleNamespace(bot_owner_ids=frozenset({OWNER_ID}))
    return SimpleNamespace(services=SimpleNamespace(community=community, settings=settings))


def report(state: str = "open", guild_id: int = GUILD_ID) -> Report:
    return Report(5, guild_id, "abcd2345", MEMBER_ID, None, state, 0.0, None)


@pytest.mark.parametrize(
    ("created", "locale", "expected"),
    [
        (True, "en-US", "Thank you: the moderators have been told."),
        (False, "ko", "이미 신고한 영상이에요. 모더레이터가 확인하고 있어요."),
    ],
)
async def test_a_member_reports_a_result_in_their_language(
    created: bool, locale: str, expected: str
) -> None:
    reports = SimpleNamespace(report=AsyncMock(return_value=(report(), created)))
    pressed = interaction(user_id=MEMBER_ID, moderator=False, locale=locale)
    pressed.client = client_with(reports)
    await report_job(pressed, "report", "abcd2345")
    reports.report.assert_awaited_once_with(GUILD_ID, "abcd2345", MEMBER_ID, None)
    assert sent_text(pressed.response.send_message) == expected


async def test_a_refused_report_keeps_its_translatable_reason() -> None:
    refusal = Text("community.reports.no_video", job="abcd2345")
    reports = SimpleNamespace(report=AsyncMock(side_effect=ModerationError(refusal)))
    pressed = interaction(user_id=MEMBER_ID, moderator=False)
    pressed.client = client_with(reports)
    with pytest.raises(UserError) as refused:
        await report_job(pressed, "report", "abcd2345")
    assert refused.value.message is refusal


async def test_dismissing_a_report_shows_who_did_it_in_the_servers_language() -> None:
    reports = SimpleNamespace(
        get=AsyncMock(side_effect=[report(), report("dismissed")]),
        resolve=AsyncMock(return_value=True),
    )
    pressed = interaction(locale="ko")
    pressed.client = client_with(reports)
    await resolve_report(pressed, 5, "dismiss")
    reports.resolve.assert_awaited_once_with(5, pressed.user.id, "dismissed")
    embed = pressed.response.edit_message.call_args.kwargs["embed"]
    assert embed.fields[-1].value == f"<@{pressed.user.id}> 님이 무시했어요."
    assert pressed.response.edit_message.call_args.kwargs["view"] is None


@pytest.mark.parametrize(
    ("who", "found", "key"),
    [
        ("member", report(), "decide.moderators_only"),
        ("moderator", report(guild_id=GUILD_ID + 1), "reports.not_here"),
        ("moderator", None, "reports.not_here"),
    ],
)
async def test_only_this_servers_moderators_resolve_its_reports(
    who: str, found: Report | None, key: str
) -> None:
    reports = SimpleNamespace(get=AsyncMock(return_value=found), resolve=AsyncMock())
    pressed = interaction(user_id=MEMBER_ID, moderator=who == "moderator")
    pressed.client = client_with(reports)
    with pytest.raises(UserError) as refused:
        await resolve_report(pressed, 5, "delete")
    assert refused.value.message.key == key  # type: ignore[union-attr]
    reports.resolve.assert_not_awaited()


def test_report_buttons_carry_the_report_and_read_in_the_servers_language() -> None:
    view = report_view(5, "ko")
    assert [(b.custom_id, b.item.label) for b in view.children] == [  # type: ignore[attr-defined]
        ("report:delete:5", "결과 삭제"),
        ("report:dismiss:5", "무시"),
    ]
