"""Hundreds of concurrent commands from the same members through the real job service."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from bot.credits.quotas import CONCURRENT_JOBS, QuotaExceeded
from bot.credits.terms import DAY
from bot.db import Database
from bot.ledger import InsufficientCredits
from tests.unit.conftest import ManualClock
from tests.unit.test_ledger_properties import check_ledger_invariants
from tests.unit.test_quotas import DEFAULTS as QUOTA_DEFAULTS
from tests.unit.test_quotas import GUILD, Economy

PLAIN, VIP, RICH, BROKE = 201, 202, 203, 204
MEMBERS = (PLAIN, VIP, RICH, BROKE)
ROLE = 777
PER_MEMBER = 60  # 240 distinct commands, plus repeats and balance checks racing them
# The quota tests' allowance, but five jobs at once: enough to race, still a limit to hit.
DEFAULTS = QUOTA_DEFAULTS.overridden(max_concurrent_jobs=5)


async def burst(economy: Economy, round_: int) -> dict[int, Counter[str]]:
    """Every member fires PER_MEMBER `/video text` at once, some twice, while others look."""
    outcomes: dict[int, Counter[str]] = {m: Counter() for m in MEMBERS}
    first_job: dict[int, str] = {}

    async def command(user_id: int, n: int) -> None:
        interaction = round_ * 1_000_000 + user_id * 1000 + n
        order = economy.order(user_id, interaction_id=interaction)
        try:
            job = await economy.service.start(order, role_ids=[GUILD, ROLE])
        except QuotaExceeded as exc:
            outcomes[user_id][exc.limit] += 1
        except InsufficientCredits:
            outcomes[user_id]["funds"] += 1
        else:
            outcomes[user_id]["started"] += 1
            previous = first_job.setdefault(interaction, job.id)
            assert previous == job.id  # the same interaction never makes a second job

    async def look(user_id: int) -> None:
        await economy.quotas.standing(GUILD, user_id, [GUILD, ROLE])

    tasks = [command(m, n) for m in MEMBERS for n in range(PER_MEMBER)]
    tasks += [command(m, n) for m in MEMBERS for n in range(0, PER_MEMBER, 6)]  # repeats
    tasks += [look(m) for m in MEMBERS for _ in range(10)]
    await asyncio.gather(*tasks)
    return outcomes


async def test_hundreds_of_concurrent_commands_keep_every_invariant(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    economy = Economy(db, clock, tmp_path, DEFAULTS)
    await economy.rules.set_tier(GUILD, None, "VIP", discount_percent=20, max_concurrent_jobs=10)
    await economy.rules.assign(GUILD, VIP, "VIP")
    await economy.ledger.grant(GUILD, RICH, 1000, "sponsor", actor_id=None)
    await economy.ledger.take(GUILD, BROKE, 40, "spent elsewhere", actor_id=None)
    clock.advance(DAY)  # a new period: every member's refill races their own commands

    started = time.perf_counter()
    outcomes = await burst(economy, 1)
    elapsed = time.perf_counter() - started
    # Each member got exactly one refill for the period, however many commands raced for it.
    refills = await db.fetchall(
        "SELECT user_id, COUNT(*) AS n, SUM(amount) AS amount FROM refills "
        "WHERE period_start = ? GROUP BY user_id",
        (int(clock.now) // DAY * DAY,),
    )
    assert {r["user_id"]: (r["n"], r["amount"]) for r in refills} == {
        PLAIN: (1, 30),  # 40 + 30 = 70
        VIP: (1, 30),
        RICH: (1, 0),  # above the cap already
        BROKE: (1, 30),  # 0 + 30
    }
    started_jobs = {m: outcomes[m]["started"] for m in MEMBERS}
    # Repeated interactions count as "started" again but create nothing: count real jobs.
    rows = await db.fetchall("SELECT user_id, COUNT(*) AS n, SUM(price) AS p FROM jobs GROUP BY 1")
    jobs = {r["user_id"]: (r["n"], r["p"]) for r in rows}
    assert jobs == {
        PLAIN: (4, 60),  # 70 // 15 = 4, under the limit of 5
        VIP: (5, 60),  # 70 // 12 = 5, under the VIP limit of 10
        RICH: (5, 75),  # the concurrency limit binds first
        BROKE: (2, 30),  # 30 // 15
    }
    assert all(started_jobs[m] >= jobs[m][0] for m in MEMBERS)
    assert outcomes[RICH][CONCURRENT_JOBS] > 0
    assert set().union(*outcomes.values()) <= {"started", "funds", CONCURRENT_JOBS}
    assert outcomes[PLAIN]["funds"] > 0
    await db.read(check_ledger_invariants)

    await economy.finish_all()
    assert (await economy.ledger.balance(GUILD, PLAIN)).balance == 10
    clock.advance(DAY)
    second = await burst(economy, 2)
    assert sum(c["started"] for c in second.values()) > 0
    await db.read(check_ledger_invariants)
    total = sum(sum(c.values()) for c in outcomes.values())
    assert total == len(MEMBERS) * (PER_MEMBER + PER_MEMBER // 6)
    print(f"\n{total} concurrent commands (+40 balance looks) settled in {elapsed:.2f} s")
