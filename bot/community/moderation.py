"""Moderation: blocked terms (with safe patterns), generation bans and reports of results.

Every change here is written to the moderation log in the transaction that makes it. Blocked
terms are matched on every prompt inside the job's own write transaction, so matching must be
fast whatever an admin typed: patterns are limited to a subset of regular expressions that
Python's backtracking engine runs in (at worst) about quadratic time on a 2,500-character
prompt, and every rule is compiled once and cached.
"""

from __future__ import annotations

import re

# `re`'s own parser (3.11+; sre_parse is its deprecated alias); typeshed has no stubs for it.
import re._constants as _sre  # type: ignore[import-not-found]
import re._parser as _sre_parse  # type: ignore[import-not-found]
import unicodedata
from dataclasses import dataclass

from bot.community.log import CommunityDeps, Logged
from bot.db import Transaction, execute_alone
from bot.errors import UserError
from bot.i18n import Text

MAX_TERM_CHARS = 100
MAX_PATTERN_CHARS = 100
MAX_NAME_CHARS = 60
MAX_RULES = 50
MAX_PROMPT_CHARS = 4000
# A repeat allowing more than this many extra repetitions counts as unbounded.
_WIDE_SPAN = 16
# The longest text a rule is matched against, standing in for "unbounded" in the cost.
_WIDE_COST = 2500
# Roughly: one unbounded repeat, times a few small alternatives or bounded repeats.
_MAX_COST = 4 * _WIDE_COST

_SINGLE_CHAR = {_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN}
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT)}
_ATOMIC = getattr(_sre, "ATOMIC_GROUP", None)
_REFUSED = {
    _sre.GROUPREF: "back-references (\\1)",
    _sre.GROUPREF_EXISTS: "conditional groups",
    _sre.ASSERT: "lookahead/lookbehind",
    _sre.ASSERT_NOT: "negative lookahead/lookbehind",
}
# Characters that render as nothing (zero-width spaces, joiners, soft hyphens): stripped so
# "n\u200bude" is still "nude".
_INVISIBLE = {"Cf"}


class TermError(UserError):
    """A blocked term or pattern was refused; the message says what to change."""


class ModerationError(UserError):
    """A moderation action was refused; the message says why."""


@dataclass(frozen=True)
class BlockedRule:
    """A rule as admins see it (with its term) in `/server settings`."""

    id: int
    kind: str
    term: str
    name: str


@dataclass(frozen=True)
class RuleMatch:
    """Which rule refused a prompt: its name and kind, never its term or pattern."""

    rule_id: int
    name: str
    kind: str


@dataclass(frozen=True)
class Ban:
    """A member a moderator stopped from generating."""

    user_id: int
    reason: str | None
    banned_by: int | None
    created_at: float


@dataclass(frozen=True)
class Report:
    """A member's report of a result."""

    id: int
    guild_id: int
    job_id: str
    reporter_id: int
    reason: str | None
    state: str
    created_at: float
    message_id: int | None


# -- text and patterns -------------------------------------------------------------------------


def normalize(text: str) -> str:
    """What rules are matched against: NFKC, case-folded, invisible characters removed."""
    folded = unicodedata.normalize("NFKC", text[:MAX_PROMPT_CHARS]).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch) not in _INVISIBLE)


def normalize_word(term: str) -> str:
    """A word rule as stored: normalised, words separated by single spaces."""
    words = normalize(term).split()
    word = " ".join(words)
    if not word:
        raise TermError(Text("community.terms.word_empty"))
    if len(word) > MAX_TERM_CHARS:
        raise TermError(Text("community.terms.word_long", most=MAX_TERM_CHARS))
    if not re.search(r"\w", word):
        raise TermError(Text("community.terms.word_no_letter"))
    return word


def word_regex(word: str) -> re.Pattern[str]:
    """A whole-word (or whole-phrase) matcher; words may be split by any punctuation run."""
    # Literal words separated by non-word runs: no two parts can match the same characters,
    # so this never backtracks more than linearly.
    body = r"[\W_]+".join(re.escape(part) for part in word.split(" "))
    return re.compile(rf"(?<!\w){body}(?!\w)")


def check_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an admin's pattern if it is in the safe subset, or raise TermError saying why."""
    if not pattern.strip():
        raise TermError(Text("community.terms.pattern_empty"))
    if len(pattern) > MAX_PATTERN_CHARS:
        raise TermError(Text("community.terms.pattern_long", most=MAX_PATTERN_CHARS))
    try:
        parsed = _sre_parse.parse(pattern, re.IGNORECASE)
        compiled = re.compile(pattern, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError) as exc:
        raise TermError(Text("community.terms.bad_regex", error=str(exc))) from None
    cost = _cost(list(parsed), inside_repeat=False)
    if cost > _MAX_COST:
        raise TermError(Text("community.terms.too_slow"))
    if compiled.search(""):
        raise TermError(Text("community.terms.matches_empty"))
    return compiled


def _cost(items: list, *, inside_repeat: bool) -> int:
    """How many ways the pattern can try to match at one position (worst case, roughly)."""
    total = 1
    for op, av in items:
        if op in _REFUSED:
            raise TermError(Text("community.terms.refused_feature", feature=_REFUSED[op]))
        if op in _SINGLE_CHAR or op is _sre.AT:
            continue
        if op is _sre.SUBPATTERN:
            total *= _cost(list(av[-1]), inside_repeat=inside_repeat)
        elif _ATOMIC is not None and op is _ATOMIC:
            total *= _cost(list(av), inside_repeat=inside_repeat)
        elif op is _sre.BRANCH:
            if inside_repeat:
                raise TermError(Text("community.terms.repeated_alternatives"))
            total *= sum(_cost(list(alt), inside_repeat=False) for alt in av[1])
        elif op in _REPEATS:
            low, high, body = av
            if inside_repeat:
                raise TermError(Text("community.terms.nested_repeats"))
            _cost(list(body), inside_repeat=True)
            if not _fixed_width(list(body)):
                raise TermError(Text("community.terms.repeat_what"))
            span = _WIDE_COST if high == _sre.MAXREPEAT or high - low > _WIDE_SPAN else high - low
            total *= span + 1
        else:
            raise TermError(Text("community.terms.unsupported"))
    return min(total, _MAX_COST * 10)


def _fixed_width(items: list) -> bool:
    for op, av in items:
        if op in _SINGLE_CHAR or op is _sre.AT:
            continue
        if op is _sre.SUBPATTERN and _fixed_width(list(av[-1])):
            continue
        return False
    return True


# -- blocked terms -----------------------------------------------------------------------------


class BlockedTerms(Logged):
    """A server's blocked words and patterns; matching says which rule, by name."""

    def __init__(self, deps: CommunityDeps) -> None:
        super().__init__(deps)
        # (kind, term) -> compiled matcher: each rule is compiled once per process.
        self._compiled: dict[tuple[str, str], re.Pattern[str]] = {}

    def _matcher(self, kind: str, term: str) -> re.Pattern[str]:
        key = (kind, term)
        found = self._compiled.get(key)
        if found is None:
            found = word_regex(term) if kind == "word" else check_pattern(term)
            self._compiled[key] = found
        return found

    async def match_in(self, tx: Transaction, guild_id: int, text: str) -> RuleMatch | None:
        """The first rule (oldest first) that `text` breaks, or None."""
        rows = await tx.fetchall(
            "SELECT id, kind, term, name FROM blocked_terms WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        if not rows:
            return None
        normalized = normalize(text)
        for rule_id, kind, term, name in rows:
            try:
                matcher = self._matcher(kind, term)
            except TermError:
                continue  # stored before a rule tightened; never run an unchecked pattern
            if matcher.search(normalized):
                return RuleMatch(rule_id, name, kind)
        return None

    async def match(self, guild_id: int, text: str) -> RuleMatch | None:
        """Read-only check of a text against the server's rules."""
        rows = await self._db.fetchall(
            "SELECT id, kind, term, name FROM blocked_terms WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        normalized = normalize(text)
        for row in rows:
            try:
                matcher = self._matcher(row["kind"], row["term"])
            except TermError:
                continue
            if matcher.search(normalized):
                return RuleMatch(row["id"], row["name"], row["kind"])
        return None

    async def add(
        self, guild_id: int, actor_id: int | None, kind: str, term: str, name: str | None = None
    ) -> BlockedRule:
        """Add a rule; `name` is what members are told (default: `word rule 3`)."""
        if kind == "word":
            term = normalize_word(term)
        elif kind == "pattern":
            term = term.strip()
            check_pattern(term)
        else:
            raise TermError(Text("community.terms.kind"))
        clean_name = " ".join((name or "").split())
        if len(clean_name) > MAX_NAME_CHARS:
            raise TermError(Text("community.terms.name_long", most=MAX_NAME_CHARS))
        return await self._db.run(self._add_in, guild_id, actor_id, kind, term, clean_name)

    async def _add_in(
        self,
        tx: Transaction,
        guild_id: int,
        actor_id: int | None,
        kind: str,
        term: str,
        name: str,
    ) -> BlockedRule:
        count = await tx.fetchval(
            "SELECT COUNT(*) FROM blocked_terms WHERE guild_id = ?", (guild_id,)
        )
        if count >= MAX_RULES:
            raise TermError(Text("community.terms.too_many", most=MAX_RULES))
        same = await tx.fetchone(
            "SELECT name FROM blocked_terms WHERE guild_id = ? AND kind = ? AND term = ?",
            (guild_id, kind, term),
        )
        if same:
            raise TermError(Text("community.terms.duplicate", rule=same[0]))
        if not name:
            number = count + 1
            while await tx.fetchone(
                "SELECT 1 FROM blocked_terms WHERE guild_id = ? AND name = ?",
                (guild_id, f"{kind} rule {number}"),
            ):
                number += 1
            name = f"{kind} rule {number}"
        elif await tx.fetchone(
            "SELECT 1 FROM blocked_terms WHERE guild_id = ? AND name = ?", (guild_id, name)
        ):
            raise TermError(Text("community.terms.name_taken", rule=name))
        rule_id = await tx.insert(
            "INSERT INTO blocked_terms (guild_id, kind, term, name, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (guild_id, kind, term, name, self._clock(), actor_id),
        )
        assert rule_id is not None
        # The log is for moderators: it names the rule, not the term it blocks.
        await self._log.record_in(tx, guild_id, actor_id, "block", f'{kind} rule "{name}" added')
        return BlockedRule(rule_id, kind, term, name)

    async def remove(self, guild_id: int, actor_id: int | None, name: str) -> BlockedRule | None:
        """Delete the rule with this name (any case); None if there is none."""
        return await self._db.run(self._remove_in, guild_id, actor_id, " ".join(name.split()))

    async def _remove_in(
        self, tx: Transaction, guild_id: int, actor_id: int | None, name: str
    ) -> BlockedRule | None:
        row = await tx.fetchone(
            "SELECT id, kind, term, name FROM blocked_terms WHERE guild_id = ? AND name = ?",
            (guild_id, name),
        )
        if row is None:
            return None
        await tx.execute("DELETE FROM blocked_terms WHERE id = ?", (row[0],))
        await self._log.record_in(
            tx, guild_id, actor_id, "unblock", f'{row[1]} rule "{row[3]}" removed'
        )
        return BlockedRule(*row)

    async def rules(self, guild_id: int) -> list[BlockedRule]:
        """Every rule of the server, oldest first."""
        rows = await self._db.fetchall(
            "SELECT id, kind, term, name FROM blocked_terms WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        return [BlockedRule(*row) for row in rows]


# -- bans --------------------------------------------------------------------------------------


class Bans(Logged):
    """Members a moderator stopped from generating."""

    async def get_in(self, tx: Transaction, guild_id: int, user_id: int) -> Ban | None:
        """The member's ban, if any."""
        row = await tx.fetchone(
            "SELECT user_id, reason, banned_by, created_at FROM generation_bans "
            "WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return Ban(*row) if row else None

    async def get(self, guild_id: int, user_id: int) -> Ban | None:
        """The member's ban, if any (read-only)."""
        return await self._db.read(self.get_in, guild_id, user_id)

    async def ban(
        self, guild_id: int, actor_id: int | None, user_id: int, reason: str | None
    ) -> bool:
        """Stop a member from generating; False if they already were (the reason is updated)."""
        return await self._db.run(self._ban_in, guild_id, actor_id, user_id, reason)

    async def _ban_in(
        self,
        tx: Transaction,
        guild_id: int,
        actor_id: int | None,
        user_id: int,
        reason: str | None,
    ) -> bool:
        existed = await self.get_in(tx, guild_id, user_id) is not None
        await tx.execute(
            "INSERT INTO generation_bans (guild_id, user_id, reason, banned_by, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "reason = excluded.reason, banned_by = excluded.banned_by",
            (guild_id, user_id, reason, actor_id, self._clock()),
        )
        await self._log.record_in(
            tx,
            guild_id,
            actor_id,
            "ban",
            f"<@{user_id}> banned from generating",
            target_user_id=user_id,
            reason=reason,
        )
        return not existed

    async def unban(self, guild_id: int, actor_id: int | None, user_id: int) -> bool:
        """Let a member generate again; False if they were not banned."""
        return await self._db.run(self._unban_in, guild_id, actor_id, user_id)

    async def _unban_in(
        self, tx: Transaction, guild_id: int, actor_id: int | None, user_id: int
    ) -> bool:
        gone = await tx.execute(
            "DELETE FROM generation_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        if gone:
            await self._log.record_in(
                tx,
                guild_id,
                actor_id,
                "unban",
                f"<@{user_id}> may generate again",
                target_user_id=user_id,
            )
        return bool(gone)

    async def all(self, guild_id: int) -> list[Ban]:
        """Every banned member, oldest first."""
        rows = await self._db.fetchall(
            "SELECT user_id, reason, banned_by, created_at FROM generation_bans "
            "WHERE guild_id = ? ORDER BY created_at",
            (guild_id,),
        )
        return [Ban(*row) for row in rows]


# -- reports -----------------------------------------------------------------------------------

_REPORT_COLUMNS = "id, guild_id, job_id, reporter_id, reason, state, created_at, message_id"


class Reports(Logged):
    """Members' reports of results; a moderator deletes the result or dismisses the report."""

    async def report(
        self, guild_id: int, job_id: str, reporter_id: int, reason: str | None
    ) -> tuple[Report, bool]:
        """File a report (once per member and job); returns it and whether it is new."""
        return await self._db.run(self._report_in, guild_id, job_id, reporter_id, reason)

    async def _report_in(
        self,
        tx: Transaction,
        guild_id: int,
        job_id: str,
        reporter_id: int,
        reason: str | None,
    ) -> tuple[Report, bool]:
        job = await tx.fetchone("SELECT guild_id, user_id FROM jobs WHERE id = ?", (job_id,))
        if job is None or job[0] != guild_id:
            raise ModerationError(Text("community.reports.no_video", job=job_id))
        created = bool(
            await tx.execute(
                "INSERT INTO job_reports (guild_id, job_id, reporter_id, reason, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (guild_id, job_id, reporter_id, reason, self._clock()),
            )
        )
        if created:
            await self._log.record_in(
                tx,
                guild_id,
                reporter_id,
                "report",
                f"video `{job_id}` by <@{job[1]}> reported",
                target_user_id=job[1],
                job_id=job_id,
                reason=reason,
            )
        row = await tx.fetchone(
            f"SELECT {_REPORT_COLUMNS} FROM job_reports WHERE job_id = ? AND reporter_id = ?",
            (job_id, reporter_id),
        )
        assert row is not None  # inserted just now, or already there
        return Report(*row), created

    async def get(self, report_id: int) -> Report | None:
        """One report."""
        row = await self._db.fetchone(
            f"SELECT {_REPORT_COLUMNS} FROM job_reports WHERE id = ?", (report_id,)
        )
        return Report(*row) if row else None

    async def unposted(self) -> list[Report]:
        """Open reports not yet shown in a moderators' channel."""
        rows = await self._db.fetchall(
            f"SELECT {_REPORT_COLUMNS} FROM job_reports "
            "WHERE state = 'open' AND message_id IS NULL ORDER BY id"
        )
        return [Report(*row) for row in rows]

    async def mark_posted(self, report_id: int, channel_id: int, message_id: int) -> None:
        """Remember where the report was shown to moderators."""
        await execute_alone(
            self._db,
            "UPDATE job_reports SET message_id = ?, message_channel_id = ? WHERE id = ?",
            (message_id, channel_id, report_id),
        )

    async def resolve(self, report_id: int, actor_id: int, outcome: str) -> list[Report]:
        """Delete the result (closing every open report of that job) or dismiss one report.

        Returns the reports this closed; empty if the report was already resolved.
        """
        if outcome not in ("deleted", "dismissed"):
            raise ModerationError(Text("community.reports.outcome"))
        return await self._db.run(self._resolve_in, report_id, actor_id, outcome)

    async def _resolve_in(
        self, tx: Transaction, report_id: int, actor_id: int, outcome: str
    ) -> list[Report]:
        row = await tx.fetchone(
            f"SELECT {_REPORT_COLUMNS} FROM job_reports WHERE id = ?", (report_id,)
        )
        if row is None:
            raise ModerationError(Text("community.reports.gone"))
        report = Report(*row)
        scope = "job_id = ?" if outcome == "deleted" else "id = ?"
        key = report.job_id if outcome == "deleted" else report.id
        closing = [
            Report(*r)
            for r in await tx.fetchall(
                f"SELECT {_REPORT_COLUMNS} FROM job_reports WHERE {scope} AND state = 'open'",
                (key,),
            )
        ]
        if not any(r.id == report.id for r in closing):
            return []
        await tx.execute(
            f"UPDATE job_reports SET state = ?, resolved_at = ?, resolved_by = ? "
            f"WHERE {scope} AND state = 'open'",
            (outcome, self._clock(), actor_id, key),
        )
        verb = "deleted after a report" if outcome == "deleted" else "report dismissed"
        await self._log.record_in(
            tx,
            report.guild_id,
            actor_id,
            f"report {outcome}",
            f"video `{report.job_id}` {verb}",
            job_id=report.job_id,
        )
        return closing
