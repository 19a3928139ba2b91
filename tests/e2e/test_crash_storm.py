"""A crash storm: many jobs on both providers while the real bot is SIGKILLed again and again.

Jobs of every kind (kvidAI and Kling successes and provider failures, cancellations by command
and by button, moderators' approvals and denials) are started while the bot process is killed
at random moments (chosen from a seeded generator, some aimed at the riskiest instants: while a
command is being answered, just after a provider accepted a submit, just after Discord accepted
a video) and restarted on the same database. At the end every job must be final, every success
delivered exactly once (counted over every file Discord ever accepted, whether on a message, an
edit or a followup), every failure or cancellation refunded exactly once, and the ledger
consistent.

Replay a run with `STORM_SEED=<seed>` (printed first, and in every failure): the seed fixes each
choice the storm makes (kinds, members, providers, pacing, kill moments, provider scenarios);
the bot's own timing still varies, so a replay repeats the storm, not every interleaving.
Longer storms: `CRASH_STORM_LONG=1`, or set `CRASH_STORM_JOBS` / `CRASH_STORM_KILLS` yourself.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator.fake_discord import FakeInteraction, FakeMessage
from tests.e2e.community_helpers import MODS_CHANNEL, add_community_channels, as_owner
from tests.e2e.conftest import Stack
from tests.e2e.seeded import announced_seed, scenario_chooser
from tests.fakes.acedata import KlingScenario
from tests.fakes.kvid import KvidScenario
from tests.fakes.media import make_mp4, pad_mp4

LONG = os.environ.get("CRASH_STORM_LONG", "") not in ("", "0")
JOBS = int(os.environ.get("CRASH_STORM_JOBS", "200" if LONG else "50"))
KILLS = int(os.environ.get("CRASH_STORM_KILLS", "60" if LONG else "20"))
# Whole-test limit: generous, because CI machines are shared (the storm itself aims at < 120 s).
TIMEOUT = int(os.environ.get("CRASH_STORM_TIMEOUT", str(240 + 6 * max(0, JOBS - 50))))

# What a planned job is meant to do; the fakes pick its scenario from its prompt.
WEIGHTS = {
    "kvid_ok": 22,
    "kvid_fail": 10,
    "kling_ok": 22,
    "kling_fail": 10,
    "cancel": 14,
    "approve": 14,
    "deny": 8,
}
PROMPT = re.compile(r"^storm (\d+) (\w+) on (kvid|kling)$")
# Endless provider work, for jobs that are meant to be cancelled.
FOREVER = 10**6
VETERANS, NEWCOMERS = 6, 4
USER_BASE = 1300000000000007000


@dataclass
class Planned:
    """One /video the storm sent, and what it is meant to become."""

    index: int
    kind: str
    provider: str
    user_id: int
    interaction: FakeInteraction
    job_id: str | None = None
    # The cancel/approve/deny sent for it, and in which life of the bot.
    action: FakeInteraction | None = None
    action_life: int = 0
    action_at: float = 0.0

    @property
    def prompt(self) -> str:
        """Unique per planned job; the fakes read the kind back from it."""
        return prompt_of(self.index, self.kind, self.provider)


def prompt_of(index: int, kind: str, provider: str) -> str:
    """The prompt of a planned job."""
    return f"storm {index} {kind} on {provider}"


def video_of(base: bytes, index: int) -> bytes:
    """The exact bytes the provider serves for a planned job (unique by their padding)."""
    return pad_mp4(base, 1000 + index)


@dataclass
class Storm:
    """The storm's bookkeeping."""

    stack: Stack
    seed: int
    rng: random.Random
    veterans: list[int]
    newcomers: list[int]
    plans: list[Planned] = field(default_factory=list)
    kills: int = 0
    kill_kinds: Counter[str] = field(default_factory=Counter)

    # -- reading the database ----------------------------------------------------------------

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every job row by id."""
        return {str(r["id"]): r for r in self.stack.job_rows()}

    def resolve(self) -> None:
        """Attach job ids to plans whose interaction created a row (only the bot makes rows)."""
        by_interaction = {
            r["interaction_id"]: str(r["id"])
            for r in self.stack.db.rows("SELECT id, interaction_id FROM jobs")
        }
        for plan in self.plans:
            if plan.job_id is None:
                plan.job_id = by_interaction.get(plan.interaction.id)

    def job_count(self) -> int:
        """Jobs the bot stored."""
        return int(self.stack.db.rows("SELECT COUNT(*) AS n FROM jobs")[0]["n"])  # type: ignore[arg-type]

    def pending_approvals(self) -> set[str]:
        """Jobs still waiting for a moderator."""
        rows = self.stack.db.rows("SELECT job_id FROM approval_requests WHERE state = 'pending'")
        return {str(r["job_id"]) for r in rows}

    def settled(self) -> bool:
        """Every job final and its outcome delivered (or parked)."""
        rows = self.stack.db.rows(
            "SELECT COUNT(*) AS n FROM jobs WHERE state NOT IN ('succeeded', 'failed', "
            "'cancelled') OR COALESCE(delivery_state, '') NOT IN ('delivered', 'parked')"
        )
        return rows[0]["n"] == 0

    # -- acting as members -------------------------------------------------------------------

    async def create(self) -> None:
        """A member asks for a video (the kind decides which member and provider)."""
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if kind.startswith(("kvid", "kling")):
            provider = kind.split("_")[0]
        else:
            provider = self.rng.choice(("kvid", "kling"))
        members = self.newcomers if kind in ("approve", "deny") else self.veterans
        user_id = self.rng.choice(members)
        index = len(self.plans)
        interaction = await self.stack.invoke(
            "video text",
            {"prompt": prompt_of(index, kind, provider), "provider": provider},
            user_id=user_id,
        )
        self.plans.append(Planned(index, kind, provider, user_id, interaction))

    def needs_action(
        self, plan: Planned, rows: dict[str, dict[str, Any]], pending: set[str]
    ) -> bool:
        """A cancel/approve/deny is due: none sent yet, or the one sent died with the bot.

        (Or it is long unanswered: an approval posted twice may have been pressed on the copy
        the bot had already decided.)
        """
        if plan.job_id is None or plan.kind not in ("cancel", "approve", "deny"):
            return False
        row = rows.get(plan.job_id)
        if row is None:
            return False
        if plan.kind == "cancel":
            wanted = row["state"] in ("queued", "submitting", "running")
        else:
            wanted = plan.job_id in pending
        if not wanted:
            return False
        return (
            plan.action is None
            or plan.action_life != self.stack.bot.starts
            or time.monotonic() - plan.action_at > 10
        )

    def request_message(self, job_id: str) -> FakeMessage | None:
        """The newest approval request posted for a job (a crash may post it twice)."""
        found = [
            m
            for m in self.stack.discord.channel_messages(MODS_CHANNEL)
            if f"approval:approve:{job_id}" in m.custom_ids
        ]
        return found[-1] if found else None

    async def act(self, plan: Planned) -> bool:
        """Send the plan's cancel, approval or denial; False if it cannot be sent yet."""
        assert plan.job_id is not None
        discord, ids = self.stack.discord, self.stack.ids
        if plan.kind == "cancel":
            card = plan.interaction.original
            button = f"video:cancel:{plan.job_id}"
            if card is not None and button in card.custom_ids and self.rng.random() < 0.5:
                action = await discord.click(card.id, button, user_id=plan.user_id)
            else:
                action = await self.stack.invoke(
                    "video cancel", {"job": plan.job_id}, user_id=plan.user_id
                )
        else:
            request = self.request_message(plan.job_id)
            if request is None:
                return False
            verb = "approve" if plan.kind == "approve" else "deny"
            action = await discord.click(
                request.id, f"approval:{verb}:{plan.job_id}", user_id=ids.moderator_id
            )
            if verb == "deny":
                # The form opens in this life of the bot; it is answered in the same one.
                await action.wait_for_response(10)
                if action.modal is not None:
                    await discord.submit_modal(
                        f"approval:reason:{plan.job_id}",
                        {"reason": f"storm {plan.index}: not for this server"},
                        user_id=ids.moderator_id,
                        interaction=action,
                    )
        plan.action, plan.action_life = action, self.stack.bot.starts
        plan.action_at = time.monotonic()
        return True

    async def act_on_due(self, limit: int) -> int:
        """Send up to `limit` due actions, in a random order; return how many were sent."""
        self.resolve()
        rows, pending = self.rows(), self.pending_approvals()
        due = [p for p in self.plans if self.needs_action(p, rows, pending)]
        self.rng.shuffle(due)
        sent = 0
        for plan in due[:limit]:
            if not self.stack.bot.running:
                break
            sent += await self.act(plan)
        return sent

    # -- killing -----------------------------------------------------------------------------

    def mp4_uploads(self) -> int:
        """Videos Discord has accepted so far."""
        return sum(1 for a in self.stack.discord.attachments_created if a.filename.endswith(".mp4"))

    def bot_messages(self) -> int:
        """Messages and edits so far (any change the fake records)."""
        return sum(m.edit_count + 1 for m in self.stack.discord.messages)

    async def kill(self) -> None:
        """SIGKILL the bot at a moment chosen by the seed, then start it on the same database."""
        how = self.rng.choice(("random", "random", "command", "submit", "upload", "message"))
        with_timeout = 2.5
        try:
            match how:
                case "random":
                    await asyncio.sleep(self.rng.uniform(0.0, 1.0))
                case "command":
                    # While a command is being answered: before or after its job row exists.
                    await self.create()
                    await asyncio.sleep(self.rng.uniform(0.0, 0.03))
                case "submit":
                    # Right after a provider accepted work the bot may not have recorded yet.
                    kvid = self.stack.kvid.wait_for_submissions(len(self.stack.kvid.jobs) + 1)
                    kling = self.stack.kling.wait_for_submissions(len(self.stack.kling.tasks) + 1)
                    waits = {asyncio.ensure_future(kvid), asyncio.ensure_future(kling)}
                    _, late = await asyncio.wait(
                        waits, timeout=with_timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in late:
                        task.cancel()
                    await asyncio.gather(*waits, return_exceptions=True)
                case "upload":
                    # Right after Discord took a video the bot may not have recorded yet.
                    before = self.mp4_uploads()
                    await self.stack.discord.wait_for(
                        lambda: self.mp4_uploads() > before, with_timeout
                    )
                case "message":
                    before = self.bot_messages()
                    await self.stack.discord.wait_for(
                        lambda: self.bot_messages() > before, with_timeout
                    )
                    await asyncio.sleep(self.rng.uniform(0.0, 0.05))
        except TimeoutError:
            how += " (timed out)"
        await self.stack.bot.kill()
        self.kills += 1
        self.kill_kinds[how.split()[0]] += 1
        # Discord is without the bot for a moment; nothing is sent meanwhile.
        await asyncio.sleep(self.rng.uniform(0.0, 0.3))
        await self.stack.start_bot()


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.callbacks
@pytest.mark.bot_env(
    MAX_CONCURRENT_JOBS="0",
    STARTING_CREDITS="1000000",
    REFILL_CAP="1000000",
    # A Kling job whose submit answer died with the bot waits this long (from its creation)
    # for the callback that names its task, then is refunded; 900 s by default.
    JOB_DEADLINE_SECONDS="30",
)
async def test_crash_storm(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    seed = announced_seed("STORM_SEED", capsys, "crash storm", f"jobs>={JOBS} kills>={KILLS}")
    started = time.monotonic()
    ids = stack.ids
    rng = random.Random(seed)
    base = make_mp4(320, 180, seconds=0.25, fps=8)
    storm = Storm(
        stack,
        seed,
        rng,
        veterans=[USER_BASE + n for n in range(VETERANS)],
        newcomers=[USER_BASE + 100 + n for n in range(NEWCOMERS)],
    )
    context = f"STORM_SEED={seed}"

    def kvid_scenario(r: random.Random, index: int, kind: str) -> KvidScenario:
        polls = r.randint(1, 4)
        if kind == "kvid_fail":
            return KvidScenario(processing_polls=polls, outcome="failed", error_message="boom")
        if kind == "cancel":
            return KvidScenario(processing_polls=FOREVER)
        return KvidScenario(processing_polls=polls, result_bytes=video_of(base, index))

    def kling_scenario(r: random.Random, index: int, kind: str) -> KlingScenario:
        # Kling finishes on its own clock (callbacks arrive whether or not anyone polls).
        seconds = r.uniform(0.3, 2.0)
        if kind == "kling_fail":
            return KlingScenario(seconds_until_done=seconds, outcome="failed")
        if kind == "cancel":
            return KlingScenario(seconds_until_done=FOREVER)
        return KlingScenario(seconds_until_done=seconds, result_bytes=video_of(base, index))

    stack.kvid.choose = scenario_chooser(seed, PROMPT, kvid_scenario)
    stack.kling.choose = scenario_chooser(seed, PROMPT, kling_scenario)

    # Members: veterans make videos freely; newcomers' videos wait for a moderator.
    long_ago = datetime.now(UTC) - timedelta(days=60)
    for n, user_id in enumerate(storm.veterans):
        stack.discord.add_member(
            ids.guild_id, user_id, f"veteran{n}", roles=(ids.member_role_id,), joined_at=long_ago
        )
    for n, user_id in enumerate(storm.newcomers):
        stack.discord.add_member(ids.guild_id, user_id, f"newcomer{n}", roles=(ids.member_role_id,))
    add_community_channels(stack)
    await as_owner(stack, "server moderators", {"channel": MODS_CHANNEL})
    await as_owner(stack, "server approval", {"mode": "new_members", "days": 7})

    # The storm: members act while the bot is up; kills fall among their actions.
    while storm.job_count() < JOBS or storm.kills < KILLS:
        assert time.monotonic() - started < TIMEOUT - 90, f"storm did not finish; {context}"
        jobs_left = max(0, JOBS - storm.job_count())
        kills_left = KILLS - storm.kills
        if kills_left > 0 and (jobs_left == 0 or rng.random() < kills_left / (jobs_left + 4)):
            if jobs_left == 0 and storm.settled():
                await storm.create()  # a kill is only worth something with work in flight
            await storm.kill()
            continue
        if jobs_left > 0:
            await storm.create()
        await storm.act_on_due(limit=rng.randint(0, 2))
        await asyncio.sleep(rng.uniform(0.0, 0.25))

    # The calm: finish what members still meant to do, then let every outcome arrive.
    storm_end = time.monotonic()

    def quiet() -> bool:
        storm.resolve()
        rows, pending = storm.rows(), storm.pending_approvals()
        due = any(storm.needs_action(p, rows, pending) for p in storm.plans)
        return not due and storm.settled()

    calm_limit = max(60.0, TIMEOUT - 20 - (storm_end - started))
    while not quiet():
        waited = time.monotonic() - storm_end
        assert waited < calm_limit, (
            f"{context}: jobs unsettled {waited:.0f}s after the storm: {_unsettled(storm)}"
        )
        await storm.act_on_due(limit=50)
        await asyncio.sleep(0.3)

    summary, problems = _verdict(storm, base, time.monotonic() - started)
    with capsys.disabled():
        print(summary, flush=True)
    assert problems == [], f"{summary}\n" + "\n".join(problems)
    stack.db.check_invariants()


def _unsettled(storm: Storm) -> list[dict[str, Any]]:
    keys = ("id", "state", "delivery_state", "failure_code", "lease_owner", "next_poll_at")
    return [
        {k: r[k] for k in keys}
        for r in storm.rows().values()
        if r["state"] not in ("succeeded", "failed", "cancelled")
        or r["delivery_state"] not in ("delivered", "parked")
    ]


def _verdict(storm: Storm, base: bytes, wall: float) -> tuple[str, list[str]]:
    """The one-line summary and every broken promise, job by job."""
    stack = storm.stack
    storm.resolve()
    rows = storm.rows()
    plans = {p.job_id: p for p in storm.plans if p.job_id is not None}
    uploads = [a for a in stack.discord.attachments_created if a.filename.endswith(".mp4")]
    ledger = Counter(
        (str(r["job_id"]), str(r["kind"]))
        for r in stack.db.rows("SELECT job_id, kind FROM ledger WHERE job_id IS NOT NULL")
    )
    problems: list[str] = []
    duplicates = lost = balance_errors = 0
    outcomes: Counter[str] = Counter()
    for job_id, row in rows.items():
        plan = plans.get(job_id)
        assert plan is not None, f"seed {storm.seed}: job {job_id} matches no storm command"
        # A failure names its code, so a kill that cut a submit reads as such (interrupted).
        failed_as = f"({row['failure_code']})" if row["state"] == "failed" else ""
        outcomes[f"{plan.kind}:{row['state']}{failed_as}"] += 1
        expected = video_of(base, plan.index)
        carried = [a for a in uploads if a.data == expected]
        misnamed = [a.filename for a in carried if a.filename != f"{job_id}.mp4"]
        if misnamed:
            problems.append(f"job {job_id}: its video was uploaded as {misnamed}")
        if row["state"] == "succeeded":
            if row["delivery_state"] != "delivered":
                problems.append(f"job {job_id}: succeeded but {row['delivery_state']}")
            if len(carried) == 0:
                lost += 1
                problems.append(f"job {job_id} ({plan.kind}): succeeded, video never posted")
            elif len(carried) > 1:
                duplicates += len(carried) - 1
                problems.append(f"job {job_id} ({plan.kind}): video posted {len(carried)} times")
            want = {"hold": 1, "capture": 1, "release": 0}
        else:
            if carried:
                problems.append(f"job {job_id}: {row['state']} yet its video was posted")
            want = {"hold": 1, "capture": 0, "release": 1}
        got = {kind: ledger[(job_id, kind)] for kind in want}
        if got != want:
            balance_errors += 1
            problems.append(f"job {job_id} ({row['state']}): ledger rows {got}, expected {want}")
    # The fake's own failures would hide what the bot did: report them with the seed.
    problems += [f"fake Discord failed: {e[:2000]}" for e in stack.discord.internal_errors]
    accepted = sum(1 for p in storm.plans if p.interaction.acknowledged)
    summary = (
        f"crash storm: seed={storm.seed} jobs={len(rows)} (of {len(storm.plans)} commands, "
        f"{accepted} answered) outcomes={dict(sorted(outcomes.items()))} kills={storm.kills} "
        f"{dict(storm.kill_kinds)} restarts={stack.bot.starts - 1} duplicates={duplicates} "
        f"lost={lost} balance_errors={balance_errors} wall={wall:.1f}s"
    )
    return summary, problems
