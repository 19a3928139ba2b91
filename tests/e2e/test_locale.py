"""Members read the bot in their own Discord language: Korean for `ko`, English otherwise."""

from __future__ import annotations

from typing import Any

from bot.i18n import tr
from bot.ui.commands import MAX_DESCRIPTION, name_problem
from tests.e2e.conftest import Stack
from tests.fakes.kvid import KvidScenario

KOREAN_MEMBER = 777_000_000_000_000_001


async def private_embed(interaction) -> dict[str, Any]:
    message = await interaction.wait_for_original(lambda m: m.embeds, timeout=10)
    assert message.ephemeral
    return message.embed


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def test_balance_in_korean_and_in_english(stack: Stack) -> None:
    korean = await private_embed(await stack.invoke("credits balance", locale="ko"))
    assert korean["title"].endswith("님의 크레딧")
    assert fields(korean) == {"사용 가능": "100", "보류 중": "0", "잔액": "100"}
    assert "**등급:** 기본" in korean["description"]
    assert "**정기 충전:** 매일 +20 크레딧, 최대 100 크레딧까지" in korean["description"]
    assert "**진행 중인 영상:** 0개 (동시에 최대 3개)" in korean["description"]

    english = await private_embed(await stack.invoke("credits balance", locale="en-US"))
    assert english["title"].startswith("Credits of ")
    assert fields(english) == {"Available": "100", "On hold": "0", "Balance": "100"}
    assert "**Allowance:** +20 credits every day, up to 100" in english["description"]


async def test_a_refused_admin_command_answers_in_the_members_language(stack: Stack) -> None:
    grant = {"user": stack.ids.other_user_id, "amount": 50}
    korean = await stack.invoke("credits grant", grant, locale="ko")
    reply = await stack.private_reply(korean)
    assert reply == "이 작업은 서버 관리 권한이 있는 멤버만 할 수 있어요."

    english = await stack.invoke("credits grant", grant, locale="en-US")
    reply = await stack.private_reply(english)
    assert reply == "Only members with the Manage Server permission can do this."
    assert (
        stack.db.rows("SELECT kind FROM ledger WHERE kind = 'grant' AND actor_id IS NOT NULL") == []
    )


async def test_the_language_comes_from_each_members_own_discord_setting(stack: Stack) -> None:
    """No locale given: the fake Discord sends the member's own, as Discord does."""
    stack.discord.add_member(stack.ids.guild_id, KOREAN_MEMBER, "minji", locale="ko")
    balance = await private_embed(await stack.invoke("credits balance", user_id=KOREAN_MEMBER))
    assert balance["title"] == "minji님의 크레딧"
    korean = await private_embed(await stack.invoke("credits history", user_id=KOREAN_MEMBER))
    assert korean["title"] == "크레딧 내역"
    assert "**+100 지급** · 가입 환영 크레딧" in korean["description"]
    assert korean["footer"]["text"] == "1/1 페이지 · 총 1건"

    await private_embed(await stack.invoke("credits balance"))  # alice: en-US
    english = await private_embed(await stack.invoke("credits history"))
    assert english["title"] == "Your credit history"
    assert "**+100 granted** · welcome grant" in english["description"]
    assert english["footer"]["text"] == "Page 1 of 1 · 1 movement"


async def test_admin_replies_and_rule_errors_in_korean(stack: Stack) -> None:
    owner = stack.ids.owner_id
    grant = await stack.invoke(
        "credits grant", {"user": stack.ids.user_id, "amount": 50}, user_id=owner, locale="ko"
    )
    assert await stack.private_reply(grant) == (
        f"<@{stack.ids.user_id}>님에게 50 크레딧을 지급했어요. "
        "지금 사용 가능한 크레딧은 150 크레딧이에요(보류 중 0 크레딧)."
    )
    take = await stack.invoke(
        "credits take", {"user": stack.ids.user_id, "amount": 500}, user_id=owner, locale="ko"
    )
    assert "최대 150 크레딧까지만 차감할 수 있어요." in await stack.private_reply(take)
    missing = await stack.invoke(
        "credits tier role",
        {"role": stack.ids.member_role_id, "tier": "Nope"},
        user_id=owner,
        locale="ko",
    )
    assert await stack.private_reply(missing) == (
        "`Nope` 등급은 없어요. 먼저 `/크레딧 등급 설정`으로 만들어 주세요."
    )
    settings = await stack.invoke("credits settings", user_id=owner, locale="ko")
    embed = await private_embed(settings)
    assert embed["title"] == "이 서버의 크레딧 설정"
    assert fields(embed)["정기 충전"] == "매일 +20"


async def test_registered_commands_carry_korean_localizations(stack: Stack) -> None:
    commands = {c["name"]: c for c in stack.discord.registered_commands}
    assert commands["video"]["name_localizations"]["ko"] == "비디오"
    assert commands["credits"]["name_localizations"]["ko"] == "크레딧"

    problems: list[str] = []

    def check(item: dict[str, Any], path: str) -> None:
        names = item.get("name_localizations") or {}
        descriptions = item.get("description_localizations") or {}
        if "ko" not in names or "ko" not in descriptions:
            problems.append(f"{path}: no Korean")
        else:
            if problem := name_problem(names["ko"]):
                problems.append(f"{path}: {names['ko']!r} {problem}")
            if not 1 <= len(descriptions["ko"]) <= MAX_DESCRIPTION:
                problems.append(f"{path}: description length {len(descriptions['ko'])}")
        for choice in item.get("choices") or []:
            if not (choice.get("name_localizations") or {}).get("ko"):
                problems.append(f"{path}: choice {choice['value']!r} has no Korean")
        for option in item.get("options") or []:
            check(option, f"{path} {option['name']}")

    for name, command in commands.items():
        check(command, name)
    assert problems == []

    video = {o["name"]: o for o in commands["video"]["options"]}
    assert video["text"]["name_localizations"]["ko"] == "텍스트"
    camera = {o["name"]: o for o in video["text"]["options"]}["camera"]
    zoom = next(c for c in camera["choices"] if c["value"] == "zoom_in")
    assert zoom["name"] == "Zoom in"
    assert zoom["name_localizations"]["ko"] == tr("ko", "choices.camera.zoom_in") == "줌 인"


# -- the video side: cards, refusals and /help ------------------------------------------------


def buttons(message) -> dict[str, dict]:
    return {c["label"]: c for row in message.components for c in row["components"]}


async def test_a_korean_member_gets_a_korean_job_card(stack: Stack) -> None:
    stack.kvid.set_default(KvidScenario(processing_polls=1))
    stack.discord.add_member(stack.ids.guild_id, KOREAN_MEMBER, "minji", locale="ko")
    interaction = await stack.invoke(
        "video text", {"prompt": "새벽의 항구", "seed": 7}, user_id=KOREAN_MEMBER
    )

    done = await stack.card(interaction, lambda m: m.attachments)
    [row] = stack.job_rows()
    assert row["locale"] == "ko"
    embed = done.embed
    assert embed["title"] == f"영상 작업 `{row['id']}`"
    card = fields(embed)
    assert card["상태"] == "✅ 완료"
    assert card["모델"] == "kvidAI v2"
    assert card["시드"] == "7"
    assert card["크레딧"] == "15 크레딧 사용"
    assert {"경과 시간", "해상도"} <= set(card)
    assert not {"State", "Model", "Credits"} & set(card)
    assert embed["footer"]["text"] == f"/비디오 상태 작업:{row['id']}"
    assert done.content == "영상이 완성됐어요."
    assert set(buttons(done)) == {"다시 만들기", "리믹스", "삭제"}

    # Anyone may read the card; /video status answers in the reader's own language.
    status = await stack.invoke("video status", {"job": row["id"]}, user_id=KOREAN_MEMBER)
    assert fields(await private_embed(status))["상태"] == "✅ 완료"
    history = await private_embed(await stack.invoke("video history", user_id=KOREAN_MEMBER))
    assert history["title"] == "최근 영상"
    assert "✅ 완료" in history["description"]
    assert "15 크레딧" in history["description"]


async def test_an_unsupported_option_is_refused_in_korean(stack: Stack) -> None:
    refused = await stack.invoke(
        "video text",
        {"prompt": "여우", "model": "v1", "resolution": "1080p"},
        locale="ko",
    )
    assert await stack.private_reply(refused) == (
        "kvidAI v1 모델은 1080p 영상을 만들지 않아요. 다음 중에서 골라 주세요: 480p, 720p"
    )
    unknown = await stack.invoke("video status", {"job": "zzzzzzzz"}, locale="ko")
    assert await stack.private_reply(unknown) == (
        "여기에는 `zzzzzzzz` 작업이 없어요. 내 작업은 `/비디오 기록`에서 볼 수 있어요."
    )
    assert stack.job_rows() == []
    assert stack.kvid.submissions == []

    english = await stack.invoke(
        "video text", {"prompt": "a fox", "model": "v1", "resolution": "1080p"}, locale="en-US"
    )
    assert await stack.private_reply(english) == (
        "kvidAI v1 does not make 1080p videos. Choose one of: 480p, 720p."
    )


async def test_help_in_korean_and_in_english(stack: Stack) -> None:
    korean = await private_embed(await stack.invoke("help", locale="ko"))
    assert korean["title"] == "영상 봇 사용법"
    sections = fields(korean)
    assert list(sections) == ["영상 만들기", "크레딧", "서버, 쇼케이스, 이벤트", "카메라 움직임"]
    assert "`/쇼케이스 공유`" in sections["서버, 쇼케이스, 이벤트"]
    assert "`/비디오 텍스트`" in sections["영상 만들기"]
    assert "`/크레딧 잔액`" in sections["크레딧"]
    assert "줌 인" in sections["카메라 움직임"]
    assert "고정 샷" in sections["카메라 움직임"]

    english = await private_embed(await stack.invoke("help", locale="en-US"))
    assert english["title"] == "How to use the video bot"
    sections = fields(english)
    assert list(sections) == [
        "Making videos",
        "Credits",
        "Servers, showcase and events",
        "Camera moves",
    ]
    assert "`/event enter`" in sections["Servers, showcase and events"]
    assert "`/video text`" in sections["Making videos"]
    assert "Zoom in, Zoom out, Pan left" in sections["Camera moves"]
