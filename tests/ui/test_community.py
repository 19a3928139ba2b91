"""The community embeds (bot.ui.community) read in the reader's language."""

from __future__ import annotations

import discord

from bot.community.approval import ApprovalRequest
from bot.community.events import Entry, Event, EventResult, Payout
from bot.community.pool import PoolStatus
from bot.community.settings import ApprovalMode, CommunitySettings
from bot.ui import community

NOW = 1_900_000_000.0


def text(embed: discord.Embed) -> str:
    parts = [embed.title or "", embed.description or ""]
    parts += [f"{f.name}: {f.value}" for f in embed.fields]
    parts.append(embed.footer.text or "")
    return "\n".join(parts)


def decided(state: str) -> ApprovalRequest:
    return ApprovalRequest(
        "abcd2345", 2, 4, 3, "new member", state, NOW, NOW + 9, NOW, 7, "off topic", 8, 9
    )


def test_a_decided_request_says_who_decided_and_why() -> None:
    english = community.approval_request_embed(decided("denied"), "a cat", "kvidAI", "v1", 15)
    assert "Decision: ⛔ Denied by <@7>: off topic" in text(english)
    korean = community.approval_request_embed(decided("denied"), "a cat", "kvidAI", "v1", 15, "ko")
    assert "결정: ⛔ 거절됨 · <@7>: off topic" in text(korean)
    assert korean.title == "승인 필요 · 영상 `abcd2345`"


def test_settings_in_korean() -> None:
    settings = CommunitySettings(
        guild_id=2, approval_mode=ApprovalMode.NEW_MEMBERS, new_member_days=3
    )
    pool = PoolStatus(100, 0, 5)
    embed = community.settings_embed(settings, [], [], pool, 2, "ko")
    shown = text(embed)
    assert embed.title == "이 서버의 커뮤니티 설정"
    assert "가입한 지 3일이 안 된 멤버의 영상" in shown
    assert " · 지금 2건 대기 중" in shown
    assert "Where videos" not in shown
    english = text(community.settings_embed(settings, [], [], pool, 2))
    assert "videos of members who joined less than 3 days ago" in english


def test_event_results_count_votes_in_each_language() -> None:
    event = Event(1, 2, 3, "harbours", 50, "closed", 4, NOW - 99, NOW, NOW, 4, NOW, entries=1)
    entry = Entry(1, 1, "abcd2345", 4, NOW, 3, 11, votes=1)
    result = EventResult(event, (entry,), (Payout(4, 1, 1, 50),))
    english = community.event_result_embed(result)
    assert english.description == (
        "Winner: <@4> with 1 vote. The prize is **50 credits** from the server pool."
    )
    korean = community.event_result_embed(result, "ko")
    assert korean.description == (
        "우승: <@4>, 1표. 상금은 서버 공용 크레딧에서 **50 크레딧**이에요."
    )
    assert korean.title == "🏆 결과: harbours"
