"""Shared helpers for the community unit tests: real jobs, holds and a balanced-ledger check."""

from __future__ import annotations

import itertools

import pytest

from bot.community import Community
from bot.db import Database
from bot.jobs.models import new_job_id
from bot.jobs.store import insert_in
from bot.ledger import Ledger
from tests.unit.job_support import text_order

GUILD = 1_000_001
CHANNEL = 2_000_001
ALICE = 3_000_001
BOB = 3_000_002
CAROL = 3_000_003
DAVE = 3_000_004
ADMIN = 3_000_099

_interactions = itertools.count(9_000_000)


# Named apart from its fixture so that tests taking `community` do not shadow the import.
@pytest.fixture(name="community")
def community_fixture(db: Database, ledger: Ledger, clock) -> Community:
    """The community services on the test's database and ledger (import it to use it)."""
    return Community(db, ledger, clock=clock)


async def make_job(
    db: Database,
    ledger: Ledger,
    now: float,
    user_id: int,
    *,
    state: str = "succeeded",
    price: int = 10,
    prompt: str = "a kite over the sea",
    guild_id: int = GUILD,
) -> str:
    """A real job row with its hold, as the job service writes them; settled for `state`."""
    order = text_order(next(_interactions), guild_id, CHANNEL, user_id, prompt)
    job_id = new_job_id()
    async with db.transaction() as tx:
        await ledger.ensure_member_in(tx, guild_id, user_id)
        await insert_in(tx, job_id, order, price, now)
        await ledger.hold_in(tx, guild_id, user_id, job_id, price)
        if state == "succeeded":
            await ledger.capture(tx, job_id)
            await tx.execute(
                "UPDATE jobs SET state = 'succeeded', finished_at = ?, result_url = ? WHERE id = ?",
                (now, f"https://cdn.example/{job_id}.mp4", job_id),
            )
    return job_id


async def assert_ledger_balanced(db: Database) -> None:
    """Every cached balance (the pool's included) equals the sum of its ledger rows."""
    members = await db.fetchall("SELECT guild_id, user_id, balance, held FROM members")
    assert members
    for member in members:
        row = await db.fetchone(
            "SELECT COALESCE(SUM(balance_delta), 0) AS b, COALESCE(SUM(held_delta), 0) AS h "
            "FROM ledger WHERE guild_id = ? AND user_id = ?",
            (member["guild_id"], member["user_id"]),
        )
        assert (row["b"], row["h"]) == (member["balance"], member["held"]), dict(member)
    total = await db.fetchone("SELECT SUM(balance_delta) AS b FROM ledger")
    cached = await db.fetchone("SELECT SUM(balance) AS b FROM members")
    assert total["b"] == cached["b"]
