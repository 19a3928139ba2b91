"""Allowances, tiers, limits and usage through the real quotas, ledger and job service."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Collection
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.credits.quotas import CONCURRENT_JOBS, DAILY_SPEND, QuotaExceeded, Quotas
from bot.credits.rules import CreditRules, RuleError, allowance_defaults
from bot.credits.terms import DAY, Allowance, Tier, discounted, resolve_terms
from bot.credits.usage import UsageReports, usage_csv
from bot.db import Database
from bot.jobs.models import Delivery, Job, JobOrder, JobState
from bot.jobs.runner import ResultFile, RunnerSettings
from bot.ledger import InsufficientCredits, Ledger
from bot.providers.base import (
    InvalidRequest,
    JobUpdate,
    ProviderFailure,
    Submission,
    VideoRequest,
)
from tests.unit.conftest import ManualClock
from tests.unit.job_support import KvidDouble, Machinery, text_order

GUILD, CHANNEL = 1, 3
ALICE, BOB, CAROL = 11, 12, 13
MEMBER_ROLE, BOOSTER_ROLE = 501, 502
# kvid v2 at 720p / 480p in the packaged price table.
PRICE_720, PRICE_480 = 15, 10
DEFAULTS = Allowance(
    starting_credits=40,
    refill_amount=30,
    refill_cap=100,
    refill_period_hours=24,
    max_concurrent_jobs=3,
    daily_spend_cap=0,
)
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 500
REFUSED = ProviderFailure(code="content_policy_violation", member_message="No.", retryable=False)


class StubProvider(KvidDouble):
    """A provider that accepts every job; each poll answers from `outcomes` (default success)."""

    poll_interval = 1.0

    def __init__(self) -> None:
        self.failing: set[str] = set()

    async def submit(self, request: VideoRequest) -> Submission:
        return Submission(f"p-{request.prompt}", "queued")

    async def poll(self, provider_job_id: str) -> JobUpdate:
        if provider_job_id.removeprefix("p-") in self.failing:
            return JobUpdate(state="failed", provider_status="failed", failure=REFUSED)
        return JobUpdate(
            state="succeeded",
            provider_status="completed",
            video_url="https://cdn.example/v.mp4",
            provider_cost=2.5,
        )


class Quiet:
    """A presenter that shows nothing."""

    async def job_changed(self, job: Job, phase: str | None = None) -> None:
        return None

    async def deliver(
        self, job: Job, video: ResultFile | None, *, may_have_sent: bool
    ) -> tuple[Delivery, int | None]:
        return Delivery.NOTICE, None

    async def deliver_privately(
        self, job: Job, video: ResultFile | None
    ) -> tuple[Delivery, int | None]:
        return Delivery.NOTICE, None


class Economy(Machinery[StubProvider]):
    """The credit machinery wired as the composition root wires it, on one database file."""

    def __init__(
        self, db: Database, clock: ManualClock, work_dir: Path, defaults: Allowance = DEFAULTS
    ) -> None:
        ledger = Ledger(db, starting_credits=defaults.starting_credits, clock=clock)
        self.rules = CreditRules(db, defaults, clock=clock)
        self.quotas = Quotas(db, ledger, self.rules, clock=clock)
        super().__init__(db, clock, StubProvider(), ledger, quotas=self.quotas)
        self.usage = UsageReports(db, clock=clock)
        settings = RunnerSettings(deadline_seconds=3600)
        self.runner = self.new_runner(Quiet(), VIDEO_BYTES, settings, work_dir)
        self._next_interaction = 1

    def order(
        self,
        user_id: int,
        *,
        resolution: str = "720p",
        interaction_id: int | None = None,
        prompt: str = "a cat",
    ) -> JobOrder:
        if interaction_id is None:
            interaction_id = self._next_interaction
            self._next_interaction += 1
        return text_order(interaction_id, GUILD, CHANNEL, user_id, prompt, resolution=resolution)

    async def start(
        self, user_id: int, roles: Collection[int] | None = (MEMBER_ROLE,), **kwargs: object
    ) -> Job:
        return await self.service.start(self.order(user_id, **kwargs), role_ids=roles)  # type: ignore[arg-type]

    async def finish_all(self) -> None:
        """Run the runner until no job is active (submit, then poll to the end)."""
        for _ in range(10):
            await self.runner.run_due()
            self.clock.advance(2)
            active = await self.db.fetchone(
                "SELECT COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'submitting', 'running')"
            )
            if active is not None and active["n"] == 0:
                return
        raise AssertionError("jobs did not finish")


@pytest.fixture
def economy(db: Database, clock: ManualClock, tmp_path: Path) -> Economy:
    return Economy(db, clock, tmp_path)


async def refills(db: Database, user_id: int) -> list[tuple[int, int]]:
    rows = await db.fetchall(
        "SELECT period_start, amount FROM refills WHERE guild_id = ? AND user_id = ? "
        "ORDER BY period_start",
        (GUILD, user_id),
    )
    return [(r["period_start"], r["amount"]) for r in rows]


# -- pure rules ---------------------------------------------------------------------------------


def test_a_member_gets_the_best_of_each_value_across_tiers() -> None:
    tiers = [
        Tier("Booster", refill_amount=50, refill_cap=80),
        Tier("VIP", refill_cap=300, discount_percent=20, max_concurrent_jobs=5),
        Tier("Friend", discount_percent=10, max_concurrent_jobs=0),
    ]
    terms = resolve_terms(DEFAULTS, tiers)
    assert terms.tiers == ("Booster", "Friend", "VIP")
    assert (terms.refill_amount, terms.refill_cap, terms.discount_percent) == (50, 300, 20)
    assert terms.max_concurrent_jobs == 0  # "no limit" beats any number
    lower = resolve_terms(DEFAULTS, [Tier("Lesser", refill_amount=5, refill_cap=10)])
    assert (lower.refill_amount, lower.refill_cap) == (30, 100)  # a tier never lowers a value
    assert resolve_terms(DEFAULTS, []).tiers == ()


@pytest.mark.parametrize(
    ("price", "percent", "expected"),
    [(15, 0, 15), (15, 10, 14), (15, 20, 12), (45, 50, 23), (7, 100, 0)],
)
def test_discounts_round_half_up_to_whole_credits(price: int, percent: int, expected: int) -> None:
    assert discounted(price, percent) == expected


def test_refill_periods_are_aligned_to_utc_and_never_pass_the_cap() -> None:
    terms = resolve_terms(DEFAULTS, [])
    now = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert terms.period_start(now) == 1_699_920_000  # 2023-11-14 00:00 UTC
    assert terms.next_refill_at(now) == 1_699_920_000 + DAY
    assert [terms.refill_for(b) for b in (0, 69, 70, 95, 100, 150)] == [30, 30, 30, 5, 0, 0]
    none = resolve_terms(DEFAULTS.overridden(refill_amount=0), [])
    assert none.next_refill_at(now) is None


def test_credit_settings_come_from_the_environment_with_clear_errors() -> None:
    settings = Settings.from_env(
        {
            "STARTING_CREDITS": "60",
            "REFILL_AMOUNT": "25",
            "REFILL_PERIOD_HOURS": "12",
            "MAX_CONCURRENT_JOBS": "0",
            "DAILY_SPEND_CAP": "5000",
        }
    )
    assert allowance_defaults(settings) == Allowance(60, 25, 60, 12, 0, 5000)
    for name, bad in (
        ("REFILL_AMOUNT", "-5"),
        ("REFILL_CAP", "lots"),
        ("REFILL_PERIOD_HOURS", "0"),
        ("MAX_CONCURRENT_JOBS", "101"),
        ("DAILY_SPEND_CAP", "1.5"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: bad})


# -- refills ------------------------------------------------------------------------------------


async def test_refill_is_lazy_capped_and_once_per_period(economy: Economy) -> None:
    first = await economy.quotas.standing(GUILD, ALICE, [MEMBER_ROLE])
    # Welcome grant of 40, then today's refill of 30 (under the cap of 100).
    assert (first.balance.balance, first.refilled) == (70, 30)
    again = await economy.quotas.standing(GUILD, ALICE, [MEMBER_ROLE])
    assert (again.balance.balance, again.refilled) == (70, 0)
    economy.clock.advance(DAY)
    assert (await economy.quotas.standing(GUILD, ALICE, [])).balance.balance == 100
    economy.clock.advance(DAY)
    assert (await economy.quotas.standing(GUILD, ALICE, [])).balance.balance == 100
    assert [amount for _, amount in await refills(economy.db, ALICE)] == [30, 30, 0]
    kinds = await economy.db.fetchall(
        "SELECT kind, balance_delta, reason FROM ledger WHERE user_id = ? ORDER BY id", (ALICE,)
    )
    assert [tuple(r) for r in kinds] == [
        ("grant", 40, "welcome grant"),
        ("grant", 30, "daily allowance"),
        ("grant", 30, "daily allowance"),
    ]


async def test_concurrent_commands_refill_exactly_once(economy: Economy) -> None:
    await economy.ledger.take(GUILD, ALICE, 40, "start from zero", actor_id=None)
    economy.clock.advance(DAY)

    async def balance() -> int:
        return (await economy.quotas.standing(GUILD, ALICE, [MEMBER_ROLE])).balance.balance

    async def video() -> str:
        try:
            await economy.start(ALICE, resolution="480p")
        except (InsufficientCredits, QuotaExceeded) as exc:
            return type(exc).__name__
        return "started"

    results = await asyncio.gather(*(video() for _ in range(20)), *(balance() for _ in range(20)))
    assert results[:20].count("started") == 3  # 30 refilled credits, 10 each
    assert [amount for _, amount in await refills(economy.db, ALICE)] == [30]
    assert (await economy.ledger.balance(GUILD, ALICE)).held == 30


async def test_unknown_roles_mean_no_refill_rather_than_the_wrong_one(economy: Economy) -> None:
    await economy.rules.set_tier(GUILD, None, "Booster", refill_amount=60, refill_cap=200)
    await economy.rules.link_role(GUILD, BOOSTER_ROLE, "booster")
    blind = await economy.quotas.standing(GUILD, ALICE, None)
    assert (blind.balance.balance, blind.refilled, blind.terms.tiers) == (40, 0, ())
    seen = await economy.quotas.standing(GUILD, ALICE, [MEMBER_ROLE, BOOSTER_ROLE])
    assert (seen.balance.balance, seen.refilled, seen.terms.tiers) == (100, 60, ("Booster",))


async def test_server_settings_override_the_defaults(economy: Economy) -> None:
    allowance = await economy.rules.configure(
        GUILD, 7, starting_credits=5, refill_amount=0, max_concurrent_jobs=1
    )
    assert allowance == DEFAULTS.overridden(
        starting_credits=5, refill_amount=0, max_concurrent_jobs=1
    )
    standing = await economy.quotas.standing(GUILD, ALICE, [MEMBER_ROLE])
    assert (standing.balance.balance, standing.next_refill_at) == (5, None)
    await economy.rules.configure(GUILD, 7, refill_cap=250)
    assert (await economy.rules.allowance(GUILD)).starting_credits == 5  # others kept
    assert await economy.rules.configure(GUILD, 7, reset=True) == DEFAULTS
    with pytest.raises(RuleError, match="refill_period_hours` must be from 1 to 8760"):
        await economy.rules.configure(GUILD, 7, refill_period_hours=0)
    other_guild = await economy.rules.allowance(GUILD + 1)
    assert other_guild == DEFAULTS


# -- tiers and prices ---------------------------------------------------------------------------


async def test_tier_discount_is_applied_when_the_job_is_held(economy: Economy) -> None:
    await economy.rules.set_tier(GUILD, None, "VIP", discount_percent=20)
    await economy.rules.assign(GUILD, BOB, "vip")
    vip = await economy.start(BOB)
    plain = await economy.start(ALICE)
    assert (vip.price, plain.price) == (12, 15)
    terms = await economy.db.run(economy.quotas.admit_in, GUILD, BOB, [MEMBER_ROLE], PRICE_720)
    assert (terms.price, terms.list_price, terms.tiers) == (12, 15, ("VIP",))
    held = await economy.db.fetchone("SELECT amount FROM holds WHERE job_id = ?", (vip.id,))
    assert held is not None
    assert held["amount"] == 12


async def test_role_tiers_and_member_tiers_combine(economy: Economy) -> None:
    await economy.rules.set_tier(GUILD, None, "Booster", max_concurrent_jobs=5)
    await economy.rules.set_tier(GUILD, None, "VIP", discount_percent=10)
    await economy.rules.link_role(GUILD, BOOSTER_ROLE, "Booster")
    await economy.rules.assign(GUILD, CAROL, "VIP")
    terms = await economy.rules.terms(GUILD, CAROL, [BOOSTER_ROLE])
    assert (terms.tiers, terms.max_concurrent_jobs, terms.discount_percent) == (
        ("Booster", "VIP"),
        5,
        10,
    )
    await economy.rules.assign(GUILD, CAROL, None)
    await economy.rules.link_role(GUILD, BOOSTER_ROLE, None)
    assert (await economy.rules.terms(GUILD, CAROL, [BOOSTER_ROLE])).tiers == ()
    with pytest.raises(RuleError, match="There is no tier `Gold`"):
        await economy.rules.assign(GUILD, CAROL, "Gold")
    assert await economy.rules.remove_tier(GUILD, "vip")
    assert not await economy.rules.remove_tier(GUILD, "vip")
    assert [info.tier.name for info in await economy.rules.tiers(GUILD)] == ["Booster"]


async def test_removing_a_tier_removes_its_links(economy: Economy) -> None:
    await economy.rules.set_tier(GUILD, None, "Gold", refill_cap=500)
    await economy.rules.link_role(GUILD, BOOSTER_ROLE, "Gold")
    await economy.rules.assign(GUILD, ALICE, "Gold")
    [info] = await economy.rules.tiers(GUILD)
    assert (info.role_ids, info.members) == ((BOOSTER_ROLE,), 1)
    await economy.rules.remove_tier(GUILD, "GOLD")
    links = await economy.db.fetchall("SELECT * FROM credit_tier_roles")
    members = await economy.db.fetchall("SELECT * FROM credit_tier_members")
    assert (links, members) == ([], [])


async def test_bad_tier_values_are_refused(economy: Economy) -> None:
    with pytest.raises(RuleError, match="discount_percent` must be from 0 to 100"):
        await economy.rules.set_tier(GUILD, None, "Too good", discount_percent=150)
    with pytest.raises(RuleError, match="1 to 32 characters"):
        await economy.rules.set_tier(GUILD, None, "   ")
    assert await economy.rules.tiers(GUILD) == []


# -- limits -------------------------------------------------------------------------------------


async def test_concurrent_job_limit_refuses_before_any_hold(economy: Economy) -> None:
    await economy.ledger.grant(GUILD, ALICE, 500, "rich", actor_id=None)
    for _ in range(3):
        await economy.start(ALICE)
    with pytest.raises(QuotaExceeded) as info:
        await economy.start(ALICE)
    assert info.value.limit == CONCURRENT_JOBS
    assert info.value.frees_at is None
    assert "3 videos in progress" in str(info.value)
    assert isinstance(info.value, InvalidRequest)  # cogs that only know InvalidRequest still cope
    holds = await economy.db.fetchall("SELECT * FROM holds WHERE user_id = ?", (ALICE,))
    assert len(holds) == 3
    await economy.finish_all()
    assert (await economy.start(ALICE)).state is JobState.QUEUED


async def test_daily_spend_cap_counts_the_whole_server_and_resets_at_midnight(
    economy: Economy,
) -> None:
    await economy.rules.configure(GUILD, None, daily_spend_cap=40)
    await economy.start(ALICE)
    await economy.start(BOB)
    with pytest.raises(QuotaExceeded) as info:
        await economy.start(CAROL)
    assert info.value.limit == DAILY_SPEND
    assert "30 spent or on hold today" in info.value.what
    tomorrow = (int(economy.clock.now) // DAY + 1) * DAY
    assert info.value.frees_at == tomorrow
    assert "It frees up at" in str(info.value)
    assert (await economy.start(CAROL, resolution="480p")).price == PRICE_480  # 40 exactly
    economy.provider.failing.add("a cat")
    await economy.finish_all()  # every job fails: released holds no longer count
    assert (await economy.start(CAROL)).price == PRICE_720
    economy.clock.now = tomorrow
    await economy.start(ALICE)


async def test_insufficient_credits_say_when_the_allowance_refills(economy: Economy) -> None:
    await economy.quotas.standing(GUILD, ALICE, [MEMBER_ROLE])
    await economy.ledger.take(GUILD, ALICE, 60, "spent elsewhere", actor_id=None)
    with pytest.raises(InsufficientCredits) as info:
        await economy.start(ALICE)
    exc = info.value
    assert (exc.price, exc.available, exc.refill_amount, exc.refill_cap) == (15, 10, 30, 100)
    assert exc.next_refill_at == (int(economy.clock.now) // DAY + 1) * DAY
    assert await economy.db.fetchall("SELECT * FROM jobs") == []


async def test_a_repeated_interaction_is_not_refused_by_the_limits(economy: Economy) -> None:
    await economy.rules.configure(GUILD, None, max_concurrent_jobs=1)
    first = await economy.start(ALICE, interaction_id=99)
    again = await economy.start(ALICE, interaction_id=99)
    assert first.id == again.id
    with pytest.raises(QuotaExceeded):
        await economy.start(ALICE, interaction_id=100)


# -- usage --------------------------------------------------------------------------------------


async def test_usage_report_counts_spend_failures_refunds_and_provider_cost(
    economy: Economy,
) -> None:
    await economy.rules.configure(GUILD, None, max_concurrent_jobs=0)
    await economy.start(ALICE, roles=[MEMBER_ROLE, BOOSTER_ROLE], prompt="ok")
    await economy.start(ALICE, roles=[MEMBER_ROLE, BOOSTER_ROLE], prompt="ok")
    await economy.start(BOB, prompt="bad")
    await economy.start(BOB, roles=[MEMBER_ROLE], resolution="480p", prompt="ok")
    economy.provider.failing.add("bad")
    await economy.finish_all()
    running = await economy.start(CAROL, roles=[GUILD], prompt="later")

    report = await economy.usage.report(GUILD, "today")
    total = report.total
    assert (total.jobs, total.succeeded, total.failed) == (5, 3, 1)
    assert (total.spent, total.refunds, total.refunded, total.on_hold) == (40, 1, 15, 15)
    assert total.provider_cost == pytest.approx(7.5)  # 2.5 for each finished success
    by_member = {line.key: line for line in report.members}
    assert (by_member[str(ALICE)].spent, by_member[str(BOB)].spent) == (30, 10)
    assert by_member[str(BOB)].refunds == 1
    assert report.members[0].key == str(ALICE)  # biggest spender first
    by_role = {line.key: line.spent for line in report.roles}
    # @everyone (the guild's id) is left out; Carol had no other role.
    assert by_role == {str(MEMBER_ROLE): 40, str(BOOSTER_ROLE): 30, "0": 0}
    [provider] = report.providers
    assert (provider.key, provider.jobs) == ("kvid", 5)

    table = list(csv.DictReader(io.StringIO(usage_csv(report, {ALICE: "alice"}, {}))))
    alice = next(row for row in table if row["scope"] == "member" and row["id"] == str(ALICE))
    assert (alice["name"], alice["spent"], alice["jobs"]) == ("alice", "30", "2")
    assert next(row for row in table if row["scope"] == "total")["failed"] == "1"
    assert running.state is JobState.QUEUED

    economy.clock.advance(2 * DAY)
    assert (await economy.usage.report(GUILD, "today")).total.jobs == 0
    assert (await economy.usage.report(GUILD, "7d")).total.jobs == 5
    assert (await economy.usage.report(GUILD + 1, "all")).total.jobs == 0


def test_csv_cells_never_start_a_formula() -> None:
    from bot.credits.usage import UsageLine, UsageReport

    line = UsageLine(key=str(ALICE), jobs=1)
    report = UsageReport(GUILD, "all", 0, 1, line, (), (line,), ())
    text = usage_csv(report, {ALICE: "=HYPERLINK(evil)"}, {})
    assert "'=HYPERLINK(evil)" in text


def test_refusal_messages_say_the_price_the_balance_and_when() -> None:
    from bot.ui.cards import insufficient_message, limit_message

    midnight = 1_700_006_400  # 2023-11-15 00:00 UTC
    short = InsufficientCredits(15, 10, next_refill_at=midnight, refill_amount=30, refill_cap=100)
    text = insufficient_message(short)
    assert "This video costs 15 credits and you have 10 available." in text
    assert f"adds up to 30 credits <t:{midnight}:R> (it tops you up to 100)" in text
    assert "no periodic refill" in insufficient_message(InsufficientCredits(15, 10))
    limit = QuotaExceeded(DAILY_SPEND, "The daily limit is reached.", midnight)
    assert limit_message(limit) == f"The daily limit is reached. It resets <t:{midnight}:R>."
    assert str(limit) == "The daily limit is reached. It frees up at 2023-11-15 00:00 UTC."
    busy = QuotaExceeded(CONCURRENT_JOBS, "Too many at once.", None)
    assert limit_message(busy) == str(busy) == "Too many at once."
