"""Message catalogues and command translations: complete in every language, and well-formed."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import discord
import pytest
from discord import app_commands

from bot.app import EXTENSIONS, VideoBot
from bot.camera import MOVES, CameraMove
from bot.community import approval
from bot.credits.quotas import QuotaExceeded
from bot.credits.rules import RuleError
from bot.credits.usage import PERIOD_LABELS
from bot.i18n import (
    DEFAULT_LANGUAGE,
    Catalogue,
    Messages,
    Text,
    default_catalogue,
    failure_text,
    language_of,
    placeholders,
    text_of,
    tr,
)
from bot.i18n.catalogue import plural_form, required_plural_forms
from bot.jobs import runner
from bot.ledger import InsufficientCredits
from bot.providers import kling, kvid, local
from bot.ui.commands import (
    MAX_CHOICE_NAME,
    MAX_DESCRIPTION,
    CatalogueTranslator,
    keys_for,
    name_problem,
)
from bot.ui.credit_cards import insufficient_message, limit_message
from bot.ui.errors import UserError

BOT_SOURCES = Path(__file__).resolve().parents[2] / "bot"
CATALOGUE = default_catalogue()
LANGUAGES = sorted(CATALOGUE.languages)
EN_KEYS = sorted(CATALOGUE.keys(DEFAULT_LANGUAGE))


def test_korean_and_english_are_shipped() -> None:
    assert LANGUAGES == ["en", "ko"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_exactly_the_english_keys(language: str) -> None:
    keys = CATALOGUE.keys(language)
    assert sorted(set(EN_KEYS) - keys) == [], f"missing in {language}.toml"
    assert sorted(keys - set(EN_KEYS)) == [], f"only in {language}.toml (typo?)"


@pytest.mark.parametrize("key", EN_KEYS)
def test_every_message_has_the_same_placeholders_in_every_language(key: str) -> None:
    english = placeholders(CATALOGUE.message(DEFAULT_LANGUAGE, key))
    for language in LANGUAGES:
        message = CATALOGUE.message(language, key)
        assert message is not None, f"{key} is missing in {language}.toml"
        assert placeholders(message) == english, f"{key} in {language}.toml"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_formats_and_plurals_have_their_forms(language: str) -> None:
    for key in CATALOGUE.keys(language):
        message = CATALOGUE.message(language, key)
        templates = [message] if isinstance(message, str) else list(message.values())
        if not isinstance(message, str):
            assert required_plural_forms(language) <= set(message), f"{key} needs those forms"
        for template in templates:
            params = dict.fromkeys(placeholders(template), 7)
            assert template.format(**params), key
            # No stray spaces at either end; `ledger.job` is a suffix and starts with " · ".
            assert template == template.strip(" ") or template.startswith(" · "), key


def test_korean_messages_are_translated() -> None:
    # Only these read the same in both languages: markup around other messages.
    same_everywhere = {"ledger.line", "video.attachment_problem"}
    untranslated = [
        key
        for key in EN_KEYS
        if CATALOGUE.message("ko", key) == CATALOGUE.message("en", key)
        and key not in same_everywhere
    ]
    assert untranslated == []


# -- tr, Messages, Text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("ko", "ko"),
        ("ko-KR", "ko"),
        (discord.Locale.korean, "ko"),
        ("en-US", "en"),
        ("en-GB", "en"),
        (discord.Locale.american_english, "en"),
        ("fr", "en"),
        ("ja", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_locale_picks_korean_or_falls_back_to_english(locale: object, language: str) -> None:
    assert language_of(locale) == language
    assert Messages(locale).language == language


def test_tr_formats_in_the_members_language() -> None:
    assert tr("en-US", "credits.tier_deleted", tier="VIP") == "Tier **VIP** deleted."
    assert tr("ko", "credits.tier_deleted", tier="VIP") == "**VIP** 등급을 삭제했어요."
    assert tr("fr", "credits.tier_deleted", tier="VIP") == "Tier **VIP** deleted."
    assert tr(discord.Locale.korean, "errors.manage_server_only") == (
        "이 작업은 서버 관리 권한이 있는 멤버만 할 수 있어요."
    )


def test_plural_forms() -> None:
    assert tr("en-US", "usage.videos", count=1) == "1 video"
    assert tr("en-US", "usage.videos", count=2) == "2 videos"
    assert tr("en-US", "usage.videos", count=0) == "0 videos"
    assert tr("ko", "usage.videos", count=1) == "영상 1개"
    assert tr("ko", "usage.videos", count=3) == "영상 3개"
    assert plural_form("en", "x") == "other"


def test_text_renders_later_and_reads_english_as_a_string() -> None:
    text = Text("rules.no_tier", tier="Gold")
    assert str(text) == "There is no tier `Gold`. Create it first with `/credits tier set`."
    assert text.render("ko") == "`Gold` 등급은 없어요. 먼저 `/크레딧 등급 설정`으로 만들어 주세요."
    error = RuleError(text)
    assert str(error) == str(text)
    assert text_of(error) is text
    assert text_of(ValueError("plain")) == "plain"
    assert UserError(text).message is text
    # A Text parameter renders in the same language as the message around it.
    nested = Text(
        "quota.frees_at",
        what=Text("quota.daily_spend", cap=20, spent=15, price=15),
        when="2030-01-01 00:00 UTC",
    )
    assert nested.render("ko").startswith("이 서버의 하루 한도인 20 크레딧에 도달했어요.")
    assert str(nested).endswith("It frees up at 2030-01-01 00:00 UTC.")


def test_quota_and_credit_refusals_in_both_languages() -> None:
    refused = QuotaExceeded("concurrent_jobs", Text("quota.concurrent", count=1, limit=1), None)
    assert "1 video in progress, the most this server allows at once (1)" in str(refused)
    assert limit_message(refused, "ko").startswith("이미 영상 1개를 만들고 있어요.")
    daily = QuotaExceeded(
        "daily_spend", Text("quota.daily_spend", cap=20, spent=15, price=15), 1_900_000_000
    )
    assert "It frees up at" in str(daily)
    assert limit_message(daily).endswith("It resets <t:1900000000:R>.")
    assert limit_message(daily, "ko").endswith("<t:1900000000:R>에 초기화돼요.")
    short = InsufficientCredits(
        15, 3, next_refill_at=1_900_000_000, refill_amount=20, refill_cap=100
    )
    assert insufficient_message(short) == (
        "This video costs 15 credits and you have 3 available. Your allowance adds up to 20 "
        "credits <t:1900000000:R> (it tops you up to 100). Pick a cheaper model or resolution, "
        "or ask a moderator for credits."
    )
    assert insufficient_message(short, "ko").startswith(
        "이 영상에는 15 크레딧이 필요한데, 지금 사용할 수 있는 크레딧은 3 크레딧이에요."
    )


# -- fallbacks never crash --------------------------------------------------------------------


def small_catalogue() -> Catalogue:
    return Catalogue(
        {
            "en": {"hello": "Hello {name}", "only.en": "English only", "bad": "Hi {name}"},
            "ko": {"hello": "안녕하세요 {name}님", "bad": "안녕 {nam}"},
        }
    )


def test_missing_korean_falls_back_to_english_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalogue = small_catalogue()
    with caplog.at_level(logging.WARNING, logger="bot.i18n.catalogue"):
        assert catalogue.format("ko", "only.en") == "English only"
        assert catalogue.format("ko", "only.en") == "English only"
    assert [r.getMessage() for r in caplog.records] == [
        "message 'only.en' is missing in the ko catalogue; falling back to en"
    ]
    assert catalogue.format("ko", "hello", name="민지") == "안녕하세요 민지님"


def test_broken_or_unknown_messages_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    catalogue = small_catalogue()
    with caplog.at_level(logging.WARNING, logger="bot.i18n.catalogue"):
        # A Korean placeholder typo: the English text is used instead.
        assert catalogue.format("ko", "bad", name="x") == "Hi x"
        # A parameter the caller forgot, and a key nobody has: the key comes back.
        assert catalogue.format("en", "bad") == "bad"
        assert catalogue.format("ko", "no.such.key") == "no.such.key"
    assert any("cannot be formatted" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_catalogue_files_load_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text(
        '[a]\nb = "B {x}"\nn = { one = "1 n", other = "{count} n" }\n'
    )
    (tmp_path / "ko.toml").write_text('[a]\nb = "비 {x}"\n')
    catalogue = Catalogue.load(tmp_path)
    assert catalogue.keys("en") == {"a.b", "a.n"}
    assert catalogue.format("ko", "a.b", x=1) == "비 1"
    assert catalogue.format("ko", "a.n", count=2) == "2 n"
    (tmp_path / "ko.toml").write_text("[a]\nb = 3\n")
    with pytest.raises(ValueError, match="must be text"):
        Catalogue.load(tmp_path)


# -- keys other code needs ----------------------------------------------------------------------


def failure_codes() -> set[str]:
    """Every failure code the providers and the runner can report."""
    codes = set(kvid.ERROR_TABLE) | set(kling.ERROR_TABLE)
    codes |= {row.reported_as for row in kling.ERROR_TABLE.values() if row.reported_as}
    codes |= {
        local.RENDER_LOST,
        local.RENDER_FAILED,
        local.RENDER_CRASHED,
        local.IMAGE_UNAVAILABLE,
        local.IMAGE_REFUSED,
        local.PROVIDER_CLOSED,
        runner.RESTART_DURING_SUBMIT.code,
        runner.TIMED_OUT.code,
        approval.DENIED_CODE,
        approval.EXPIRED_CODE,
    }
    # Codes written as literals where a failure is built.
    literal = re.compile(r"""(?:ProviderFailure\(\s*|code=|failure_code=)["']([A-Za-z_]+)["']""")
    for folder in ("providers", "jobs"):
        for source in (BOT_SOURCES / folder).glob("*.py"):
            codes |= set(literal.findall(source.read_text(encoding="utf-8")))
    return codes


COG_SOURCES = BOT_SOURCES.parent / "cogs"


def message_keys_in_code() -> dict[str, str]:
    """Every catalogue key written as a literal where a message is rendered, and where.

    `Text("k")`, `tr(locale, "k")`, `m("k")` (a `Messages` bound to a reader) and
    `Messages(locale)("k")`.
    """
    found: dict[str, str] = {}
    sources = [*BOT_SOURCES.rglob("*.py"), *COG_SOURCES.rglob("*.py")]
    for source in sources:
        if "sandbox" in source.parts:
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            index = None
            if isinstance(func, ast.Name) and func.id in ("Text", "m"):
                index = 0
            elif isinstance(func, ast.Name) and func.id == "tr":
                index = 1
            elif isinstance(func, ast.Call) and getattr(func.func, "id", None) == "Messages":
                index = 0
            if index is None or len(node.args) <= index:
                continue
            arg = node.args[index]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found[arg.value] = f"{source.name}:{node.lineno}"
    return found


def test_every_message_the_code_renders_is_in_the_catalogues() -> None:
    keys = message_keys_in_code()
    # The scan does find the messages of the community features and their refusals.
    assert {"decide.moderators_only", "server.saved", "community.events.own_entry"} <= set(keys)
    missing = sorted(f"{key} ({where})" for key, where in keys.items() if not CATALOGUE.has(key))
    assert missing == []


@pytest.mark.parametrize("subject", ["approval", "share"])
def test_every_decision_subject_has_its_words(subject: str) -> None:
    # Built from the subject's name (bot.ui.decide), so the scan above cannot see them.
    for name in ("approve", "deny", "form_title", "already", "not_here"):
        assert CATALOGUE.has(f"decide.{subject}.{name}"), name
    states = {"pending", "approved", "denied", "expired", "withdrawn", "ready", "posted"}
    assert all(CATALOGUE.has(f"decide.state.{state}") for state in states)


def test_every_failure_code_has_a_message() -> None:
    codes = failure_codes()
    assert {"generation_failed", "timeout", "network_error", "canceled"} <= codes
    assert sorted(c for c in codes if not CATALOGUE.has(f"failure.{c}")) == []


def test_failure_text() -> None:
    english = "kvidAI could not make this video. Try again, perhaps with another prompt or image."
    assert failure_text("en-US", "JOB_FAILED", provider="kvidAI", fallback=english) == english
    assert failure_text("ko", "JOB_FAILED", provider="kvidAI", fallback=english) == (
        "kvidAI에서 이 영상을 만들지 못했어요. 다른 프롬프트나 이미지로 다시 시도해 보세요."
    )
    assert failure_text("ko", "http_418", provider="Kling", fallback="Teapot.") == (
        "Kling에서 이 영상을 만들지 못했어요. 잠시 후 다시 시도해 주세요."
    )
    assert failure_text("en-US", "http_418", provider="Kling") == (
        "Kling could not make this video. Try again in a little while."
    )


def test_a_finished_jobs_notice_counts_its_credits() -> None:
    """One credit is "credit was", more are "credits were" (Korean has one form)."""
    notice = {"job": "abcd2345", "reason": "Kling had an internal error."}
    assert tr("en", "delivery.failed", count=1, **notice).endswith("Your 1 credit was returned.")
    assert tr("en", "delivery.failed", count=15, **notice).endswith("15 credits were returned.")
    assert tr("en", "delivery.cancelled", job="abcd2345", count=1).endswith(
        "1 credit was returned."
    )
    assert tr("ko", "delivery.cancelled", job="abcd2345", count=1).endswith(
        "1 크레딧은 돌려드렸어요."
    )


def test_camera_moves_and_periods_have_their_words() -> None:
    for move in CameraMove:
        assert CATALOGUE.lookup("en", f"choices.camera.{move.value}") == MOVES[move].label
    for period, label in PERIOD_LABELS.items():
        assert CATALOGUE.lookup("en", f"choices.period.{period}") == label
        assert CATALOGUE.lookup("en", f"usage.period.{period}") == label


# -- slash commands ---------------------------------------------------------------------------


@pytest.fixture
async def command_payloads() -> list[dict[str, Any]]:
    """The commands as the bot would sync them, with their translations."""
    services = MagicMock()
    services.providers = {}
    bot = VideoBot(services)
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    translator = CatalogueTranslator()
    await bot.tree.set_translator(translator)
    try:
        return [
            await command.get_translated_payload(bot.tree, translator)
            for command in bot.tree.get_commands()
        ]
    finally:
        await bot.tree.set_translator(None)


def walk(
    items: list[dict[str, Any]], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dict[str, Any], list[dict[str, Any]]]]:
    """(path, item, its siblings) for every command, subcommand, option; depth first."""
    out = []
    for item in items:
        here = (*path, item["name"])
        out.append((here, item, items))
        out.extend(walk(item.get("options", []), here))
    return out


async def test_every_command_and_option_has_valid_korean(command_payloads) -> None:
    problems = []
    for path, item, siblings in walk(command_payloads):
        where = " ".join(path)
        ko_name = (item.get("name_localizations") or {}).get("ko")
        ko_description = (item.get("description_localizations") or {}).get("ko")
        if ko_name is None or ko_description is None:
            problems.append(f"{where}: no Korean name or description")
            continue
        if problem := name_problem(ko_name):
            problems.append(f"{where}: Korean name {ko_name!r}: {problem}")
        if not 1 <= len(ko_description) <= MAX_DESCRIPTION:
            problems.append(f"{where}: Korean description is {len(ko_description)} characters")
        others = [(s.get("name_localizations") or {}).get("ko") for s in siblings if s is not item]
        if ko_name in others:
            problems.append(f"{where}: Korean name {ko_name!r} is used twice")
        for choice in item.get("choices", []):
            ko_choice = (choice.get("name_localizations") or {}).get("ko")
            if not ko_choice or len(ko_choice) > MAX_CHOICE_NAME:
                problems.append(f"{where}: choice {choice['value']!r} has no valid Korean name")
        # English is the code's own default: no duplicate en-US localizations.
        assert "en-US" not in (item.get("name_localizations") or {})
    assert problems == []
    names = {path: item["name_localizations"]["ko"] for path, item, _ in walk(command_payloads)}
    assert names[("video",)] == "비디오"
    assert names[("video", "text")] == "텍스트"
    assert names[("credits", "balance")] == "잔액"


async def test_english_catalogue_matches_the_code(command_payloads) -> None:
    """en.toml holds the commands' English too, for translators: it must not drift."""
    mismatches = []
    for path, item, _ in walk(command_payloads):
        option = item.get("type") not in (None, 1, 2)
        if option:
            command, name = ".".join(path[:-1]), path[-1]
            keys = [f"commands.{command}.options.{name}", f"options.{name}"]
        else:
            keys = [f"commands.{'.'.join(path)}"]
        for field in ("name", "description"):
            found = next(
                (
                    CATALOGUE.lookup("en", f"{k}.{field}")
                    for k in keys
                    if CATALOGUE.has(f"{k}.{field}")
                ),
                None,
            )
            if found != item[field]:
                mismatches.append(f"{' '.join(path)} {field}: code {item[field]!r}, en {found!r}")
        for choice in item.get("choices", []):
            key = f"choices.{path[-1]}.{choice['value']}"
            if CATALOGUE.lookup("en", key) != choice["name"]:
                mismatches.append(f"{key}: code {choice['name']!r}")
    assert mismatches == []


def test_translator_keys() -> None:
    group = app_commands.Group(name="credits", description="Your video credits")
    tier = app_commands.Group(name="tier", description="Tiers", parent=group)

    @tier.command(name="set", description="Create or change a tier")
    async def tier_set(interaction: discord.Interaction, name: str) -> None: ...

    where = app_commands.TranslationContextLocation
    context = app_commands.TranslationContext(location=where.command_name, data=tier_set)
    assert keys_for(app_commands.locale_str("set"), context) == ["commands.credits.tier.set.name"]
    param = tier_set.parameters[0]
    context = app_commands.TranslationContext(location=where.parameter_description, data=param)
    assert keys_for(app_commands.locale_str("x"), context) == [
        "commands.credits.tier.set.options.name.description",
        "options.name.description",
    ]
    assert keys_for(app_commands.locale_str("x", key="a.b"), context) == ["a.b"]


def command_references(text: str) -> list[list[str]]:
    """The words after each `/` that starts a word: `/credits tier set` → [credits, tier, set]."""
    return [
        m.split(" ") for m in re.findall(r"(?:^|(?<=[\s`(]))/([^\s`/]+(?: [^\s`/]+){0,2})", text)
    ]


async def test_messages_name_commands_as_that_language_shows_them(command_payloads) -> None:
    """Korean members see Korean command names, so Korean messages must use those."""

    def tree(language: str) -> dict[str, Any]:
        def node(items: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                (i["name_localizations"] or {}).get(language, i["name"])
                if language != "en"
                else i["name"]: node(i.get("options", []))
                for i in items
                if i.get("type", 1) in (1, 2)
            }

        return node(command_payloads)

    problems = []
    for language in LANGUAGES:
        commands = tree(language)
        for key in CATALOGUE.keys(language):
            message = CATALOGUE.message(language, key)
            for template in [message] if isinstance(message, str) else message.values():
                for words in command_references(template):
                    level, ok = commands, False
                    for word in words:
                        match = max((n for n in level if word.startswith(n)), key=len, default=None)
                        if match is None:
                            break
                        level = level[match]
                        if not level:  # a command one can run
                            ok = True
                            break
                        if match != word:
                            break
                    if not ok and not key.startswith(("commands.", "help.")):
                        problems.append(f"{language} {key}: /{' '.join(words)}")
    assert problems == []
