"""Provider requests spent polling many concurrent Kling jobs: batched vs one request per job.

Runs the bot's real JobService, JobRunner and KlingProvider (SQLite on disk, HTTP on
127.0.0.1) against the fake AceData server; only Discord is left out (a presenter that
records nothing). Each job takes SECONDS to finish on the fake; the runner polls at the
provider's interval. The same jobs are run twice: with retrieve_batch (the bot's behaviour)
and with one retrieve per job (a baseline: the provider without poll_many).

Run: .venv/bin/python bench/kling_polling.py [JOBS] [SECONDS] [POLL_INTERVAL]
     (default 100 jobs of 120 s, polled every 10 s: about 5 minutes in all)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.db.sqlite import SqliteDatabase  # noqa: E402
from bot.jobs.deps import JobDeps  # noqa: E402
from bot.jobs.models import Delivery, Job, JobOrder  # noqa: E402
from bot.jobs.runner import JobRunner, ResultFile, RunnerSettings  # noqa: E402
from bot.jobs.service import JobService  # noqa: E402
from bot.jobs.store import JobStore  # noqa: E402
from bot.ledger import Ledger  # noqa: E402
from bot.pricing import PriceTable  # noqa: E402
from bot.providers import kling  # noqa: E402
from bot.providers.base import VideoRequest  # noqa: E402
from tests.fakes.acedata import FakeAceData, KlingScenario  # noqa: E402

TOKEN = "bench-token"


class QuietPresenter:
    """Stands in for Discord: accepts every update and delivery."""

    async def job_changed(self, job: Job, phase: str | None = None) -> None:
        return None

    async def deliver(self, job: Job, video: ResultFile | None) -> tuple[Delivery, int | None]:
        return Delivery.LINK, None


class OneByOne:
    """The same Kling client with poll_many hidden, so the runner polls each job alone."""

    def __init__(self, inner: kling.KlingProvider) -> None:
        self._inner = inner
        self.name, self.display_name = inner.name, inner.display_name
        self.models, self.default_model = inner.models, inner.default_model
        self.poll_interval = inner.poll_interval

    def validate(self, request: VideoRequest) -> None:
        self._inner.validate(request)

    async def submit(self, request: VideoRequest):  # type: ignore[no-untyped-def]
        return await self._inner.submit(request)

    async def poll(self, provider_job_id: str):  # type: ignore[no-untyped-def]
        return await self._inner.poll(provider_job_id)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def run(jobs: int, seconds: float, interval: float, *, batched: bool) -> tuple[int, float]:
    """(tasks-endpoint requests, wall seconds) for `jobs` concurrent jobs."""
    fake = FakeAceData(token=TOKEN)
    fake.set_default(KlingScenario(polls_until_done=10**9, seconds_until_done=seconds))
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        db = await SqliteDatabase.open(Path(tmp) / "bench.sqlite3")
        client = kling.build_client(fake.base_url, TOKEN)
        inner = kling.KlingProvider(client, poll_interval=interval)
        provider = inner if batched else OneByOne(inner)
        providers = {"kling": provider}
        ledger = Ledger(db, starting_credits=1_000, clock=time.time)
        wake = asyncio.Event()
        deps = JobDeps(db, JobStore(db), ledger, providers, time.time)
        service = JobService(deps, PriceTable.load(), wake_runner=wake.set)
        downloads = httpx.AsyncClient()
        runner = JobRunner(
            deps,
            QuietPresenter(),
            downloads,
            settings=RunnerSettings(deadline_seconds=seconds * 10),
            work_dir=Path(tmp),
            wake=wake,
        )
        started = time.monotonic()
        runner.start()
        request = VideoRequest(
            kind="text", prompt="bench", model="kling-v1", resolution="std", duration=5
        )
        for n in range(jobs):
            await service.start(
                JobOrder(
                    interaction_id=n + 1,
                    guild_id=1,
                    channel_id=1,
                    user_id=n + 1,
                    locale="en-US",
                    provider="kling",
                    request=request,
                    upload_limit=10 * 1024 * 1024,
                )
            )
        while True:
            rows = await db.fetchall("SELECT COUNT(*) AS n FROM jobs WHERE delivered_at IS NULL")
            if rows[0]["n"] == 0:
                break
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
        await runner.stop()
        await downloads.aclose()
        await client.aclose()
        await db.close()
    requests = fake.tasks_requests
    await fake.stop()
    return requests, elapsed


async def main() -> None:
    """Run both modes and print them side by side."""
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    batched = await run(jobs, seconds, interval, batched=True)
    single = await run(jobs, seconds, interval, batched=False)
    print(f"{jobs} concurrent Kling jobs of {seconds:g} s, polled every {interval:g} s:")
    print(f"  batched (retrieve_batch): {batched[0]:5d} status requests, {batched[1]:.0f} s")
    print(f"  one request per job:      {single[0]:5d} status requests, {single[1]:.0f} s")
    print(f"  ratio: {single[0] / max(batched[0], 1):.0f}x fewer requests with batching")


if __name__ == "__main__":
    asyncio.run(main())
