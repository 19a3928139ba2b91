"""The benchmark's steady load at CI size: every command answered in time, every video once."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import BotDatabase
from tests.e2e.load import LoadPlan, run_load

# bench/load.py runs 100/s for 60 s with 45 s jobs; this keeps the shape (jobs overlapping,
# open-loop sends from many members in several guilds) at a size that runs in about 20 s.
RATE = 50.0
SECONDS = 6.0
JOB_SECONDS = 3.0
POLL_INTERVAL = 0.5


async def test_steady_load_answers_every_command_once(tmp_path: Path) -> None:
    plan = LoadPlan(RATE, SECONDS, JOB_SECONDS, POLL_INTERVAL, drain_timeout=40, label="CI load")
    report = await run_load(None, plan, tmp=tmp_path)
    print("\n" + report.format())

    found = {
        "sent": report.sent,
        "late": report.late,
        "duplicates": report.duplicates,
        "lost": report.lost,
        "refused": report.refused,
        "bot exit code": report.bot_exit_code,
    }
    wanted = {
        "sent": round(RATE * SECONDS),
        "late": 0,
        "duplicates": 0,
        "lost": 0,
        "refused": 0,
        "bot exit code": None,
    }
    assert found == wanted, report.format()
    assert report.drained, report.format()
    # Every hold was captured or released exactly once and the cached balances match the ledger.
    BotDatabase(tmp_path / "bot.sqlite3").check_invariants()
