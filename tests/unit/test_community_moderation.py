"""Blocked terms (safe patterns, named rules), bans, reports, and the moderation log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.community import Admission, AdmissionQuery, Community
from bot.community.moderation import ModerationError, TermError, check_pattern, normalize
from bot.db import Database
from tests.unit.community_support import (
    ADMIN,
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    community_fixture,  # noqa: F401 (a fixture)
    make_job,
)

Admit = Callable[..., Awaitable[Admission]]


@pytest.fixture
def admit(community: Community, db: Database) -> Admit:
    """Screen a prompt as `/video` does (a refusal is logged), with defaults for the rest."""

    async def screen(prompt: str, **kwargs: Any) -> Admission:
        defaults: dict[str, Any] = dict(
            guild_id=GUILD,
            channel_id=CHANNEL,
            user_id=ALICE,
            role_ids=[],
            joined_at=None,
            prompt=prompt,
            channel_is_age_restricted=False,
        )
        defaults.update(kwargs)
        return await db.run(community.screen_in, AdmissionQuery(**defaults))

    return screen


async def test_a_blocked_prompt_is_refused_naming_the_rule_never_the_term(community, admit) -> None:
    await community.terms.add(GUILD, ADMIN, "word", "Gore", "Graphic violence")
    await community.terms.add(GUILD, ADMIN, "pattern", r"free\s*crypto", "Scams")

    verdict = await admit("a cat, lots of GORE, at dawn")
    assert not verdict.allowed
    assert verdict.reason_key == "blocked_term"
    assert verdict.rule is not None
    assert verdict.rule.name == "Graphic violence"
    assert '"Graphic violence"' in str(verdict.message)
    # In the member's language: the rule's name, never the term.
    assert verdict.message is not None
    assert '"Graphic violence" 규칙에 걸려서' in verdict.message.render("ko")
    assert "gore" not in str(verdict.message).lower()

    scam = await admit("FREE   Crypto giveaway banner")
    assert scam.rule.name == "Scams"
    assert "crypto" not in str(scam.message).lower()
    assert "\\s" not in str(scam.message)

    assert (await admit("a goregeous sunset")).allowed  # whole words only
    assert (await admit("freedom of crypto")).allowed is True


async def test_word_rules_see_through_case_width_invisible_characters_and_punctuation(
    community, admit
) -> None:
    await community.terms.add(GUILD, ADMIN, "word", "blood bath", None)
    for prompt in ("BLOOD-BATH tonight", "ｂｌｏｏｄ bath", "blo\u200bod   bath", "blood_bath"):
        verdict = await admit(prompt)
        assert not verdict.allowed, prompt
        assert verdict.rule.name == "word rule 1"
    assert (await admit("bloodbaths and bloody baths")).allowed


async def test_a_refusal_is_logged_for_moderators_with_the_rule(community, db, admit) -> None:
    await community.terms.add(GUILD, ADMIN, "word", "gore", "Graphic violence")
    await admit("gore everywhere")
    lines = await community.log.recent(GUILD)
    assert lines[0].action == "prompt refused"
    assert 'rule "Graphic violence"' in lines[0].detail
    assert lines[0].target_user_id == ALICE
    # Adding the rule was logged too, by name only.
    assert lines[1].action == "block"
    assert "gore" not in lines[1].detail


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",  # nested repeats: exponential
        r"(a|a)*b",  # alternatives under a repeat
        r"(x+x+)+y",
        r"a.*a.*b",  # two unbounded repeats: cubic on a long prompt
        r"\w*\w*\w*x",
        r"(a)\1",  # back-reference
        r"(?=a)b",  # lookahead
        r"(.*a){12}",
        r"x*",  # matches the empty prompt
        "a" * 101,  # too long
        r"(unclosed",
    ],
)
def test_unsafe_or_invalid_patterns_are_refused_with_a_reason(pattern: str) -> None:
    with pytest.raises(TermError) as refused:
        check_pattern(pattern)
    assert str(refused.value)


@pytest.mark.parametrize(
    "pattern",
    [r"free\s*money", r"(?:buy|cheap)\s+pills", r"\bnud(e|ity)\b", r"k[i1!]ll", r"[a-z]{3,8}x"],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert check_pattern(pattern).search(normalize("Buy PILLS, free money, nudity, k1ll, abcdx"))


async def test_rules_are_named_unique_and_removable_by_name(community, admit) -> None:
    first = await community.terms.add(GUILD, ADMIN, "word", "spam", None)
    assert first.name == "word rule 1"
    with pytest.raises(TermError, match="already blocked"):
        await community.terms.add(GUILD, ADMIN, "word", "SPAM", "Other")
    with pytest.raises(TermError, match="already a rule named"):
        await community.terms.add(GUILD, ADMIN, "pattern", "eggs+", "WORD RULE 1")
    with pytest.raises(TermError, match="nest repeats"):
        await community.terms.add(GUILD, ADMIN, "pattern", "(a+)+", "Bad")
    assert [r.name for r in await community.terms.rules(GUILD)] == ["word rule 1"]
    removed = await community.terms.remove(GUILD, ADMIN, "Word Rule 1")
    assert removed is not None
    assert removed.term == "spam"
    assert await community.terms.remove(GUILD, ADMIN, "word rule 1") is None
    assert (await admit("spam")).allowed
    actions = [line.action for line in await community.log.recent(GUILD)]
    assert actions == ["unblock", "block"]


async def test_a_banned_member_is_refused_until_unbanned(community, admit) -> None:
    assert await community.bans.ban(GUILD, ADMIN, ALICE, "spamming")
    verdict = await admit("a kite")
    assert (verdict.allowed, verdict.reason_key) == (False, "banned")
    assert "spamming" in str(verdict.message)
    assert (await admit("a kite", user_id=BOB)).allowed
    assert not await community.bans.ban(GUILD, ADMIN, ALICE, "again")  # already banned
    assert await community.bans.unban(GUILD, ADMIN, ALICE)
    assert not await community.bans.unban(GUILD, ADMIN, ALICE)
    assert (await admit("a kite")).allowed
    lines = await community.log.recent(GUILD)
    assert [(line.action, line.actor_id, line.target_user_id) for line in lines[:4]] == [
        ("unban", ADMIN, ALICE),
        ("ban", ADMIN, ALICE),
        ("prompt refused", None, ALICE),
        ("ban", ADMIN, ALICE),
    ]


async def test_reports_are_filed_once_and_resolved_once(community, db, ledger, clock) -> None:
    job = await make_job(db, ledger, clock(), ALICE)
    report, created = await community.reports.report(GUILD, job, BOB, "not ok")
    assert created
    again, created = await community.reports.report(GUILD, job, BOB, "still")
    assert (again.id, created) == (report.id, False)
    other, _ = await community.reports.report(GUILD, job, ADMIN, None)
    with pytest.raises(ModerationError):
        await community.reports.report(GUILD, "nosuchjb", BOB, None)
    assert [r.id for r in await community.reports.unposted()] == [report.id, other.id]

    closed = await community.reports.resolve(report.id, ADMIN, "deleted")
    assert {r.id for r in closed} == {report.id, other.id}  # deleting closes every report
    assert await community.reports.resolve(other.id, ADMIN, "dismissed") == []
    assert (await community.reports.get(other.id)).state == "deleted"
    assert await community.reports.unposted() == []


async def test_the_log_is_append_only_but_remembers_relaying(community, db) -> None:
    await community.bans.ban(GUILD, ADMIN, ALICE, None)
    await community.settings.set_channel(GUILD, ADMIN, "audit_channel_id", 777)
    await community.bans.ban(GUILD, ADMIN, BOB, None)
    pending = await community.log.unrelayed()
    # The channel's own setting is its first line; a line written before it has none.
    assert [(line.action, line.audit_channel_id) for line in pending] == [
        ("settings", 777),
        ("ban", 777),
    ]
    for line in pending:
        await community.log.mark_relayed(line.id)
    assert await community.log.unrelayed() == []
    async with db.transaction() as tx:
        with pytest.raises(Exception, match="append-only"):
            await tx.execute("UPDATE moderation_log SET detail = 'x'")
    async with db.transaction() as tx:
        with pytest.raises(Exception, match="append-only"):
            await tx.execute("DELETE FROM moderation_log")
