"""What the job unit tests share: a kvidAI double, a member's order and the real job machinery."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import Generic, TypeVar

import httpx

from bot.credits.quotas import Quotas
from bot.db import Database
from bot.jobs.deps import JobDeps
from bot.jobs.models import JobOrder
from bot.jobs.runner import JobPresenter, JobRunner, RunnerSettings
from bot.jobs.service import JobService
from bot.jobs.store import JobStore
from bot.ledger import Ledger
from bot.metrics import NO_METRICS, StepMetrics
from bot.pricing import PriceTable
from bot.providers.base import ModelSpec, Provider, VideoRequest
from bot.providers.validation import check_against_spec
from tests.unit.conftest import ManualClock


class KvidDouble:
    """A kvidAI stand-in offering v2 at 480p and 720p; subclasses answer submit and poll."""

    name = "kvid"
    display_name = "kvidAI"
    default_model = "v2"
    poll_interval = 5.0
    models: Mapping[str, ModelSpec] = {
        "v2": ModelSpec(
            name="v2",
            kinds=("text", "image"),
            resolutions=("480p", "720p"),
            default_resolution="720p",
        )
    }

    def validate(self, request: VideoRequest) -> None:
        check_against_spec(self.display_name, self.models, request)

    async def aclose(self) -> None:
        return None


def text_order(
    interaction_id: int,
    guild_id: int,
    channel_id: int,
    user_id: int,
    prompt: str,
    *,
    resolution: str = "720p",
    upload_limit: int = 10 * 1024 * 1024,
) -> JobOrder:
    """A member's /video text order for kvidAI v2, as the cog builds it."""
    return JobOrder(
        interaction_id=interaction_id,
        guild_id=guild_id,
        channel_id=channel_id,
        user_id=user_id,
        locale="en-US",
        provider="kvid",
        request=VideoRequest(kind="text", prompt=prompt, model="v2", resolution=resolution),
        upload_limit=upload_limit,
    )


ProviderT = TypeVar("ProviderT", bound=Provider)


@dataclass
class Machinery(Generic[ProviderT]):
    """The real store, service and runners on one database, wired as the composition root does."""

    db: Database
    clock: ManualClock
    provider: ProviderT
    ledger: Ledger
    quotas: InitVar[Quotas | None] = None

    def __post_init__(self, quotas: Quotas | None) -> None:
        self.store = JobStore(self.db)
        self.deps = JobDeps(self.db, self.store, self.ledger, {"kvid": self.provider}, self.clock)
        self.service = JobService(
            self.deps, PriceTable.load(), wake_runner=lambda: None, quotas=quotas
        )

    def new_runner(
        self,
        presenter: JobPresenter,
        video: bytes,
        settings: RunnerSettings,
        work_dir: Path,
        metrics: StepMetrics = NO_METRICS,
    ) -> JobRunner:
        """A runner as one bot process has it; every result download answers `video`."""
        transport = httpx.MockTransport(lambda request: httpx.Response(200, content=video))
        return JobRunner(
            self.deps,
            presenter,
            httpx.AsyncClient(transport=transport),
            settings=settings,
            work_dir=work_dir,
            metrics=metrics,
        )
