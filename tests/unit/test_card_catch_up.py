"""A card whose job another process moves on: the quiet refresh shows the database's state, and
a job finished and delivered elsewhere gets its card's last edit instead of a stale 'running'."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock

import discord
import pytest

from bot.community.settings import CommunitySettings
from bot.db import Database
from bot.jobs.models import DeliveryState, JobState
from bot.jobs.store import Guard, finish_cols
from bot.ui.presenter import DiscordPresenter
from tests.unit.conftest import ManualClock
from tests.unit.test_jobs import GUILD, World, succeeded

LATER = 3_600.0  # monotonic seconds: every quiet card is due for its refresh


@pytest.fixture
def other(db: Database, clock: ManualClock, tmp_path: Path) -> World:
    """The job machinery of another process: its runner tells the card's presenter nothing."""
    return World(db, clock, tmp_path)


def presenter_of_another_process(other: World) -> DiscordPresenter:
    """The presenter of the process that answered the command (it holds the card)."""

    async def server_settings(guild_id: int) -> CommunitySettings:
        return CommunitySettings(guild_id=guild_id)

    provider = SimpleNamespace(display_name="kvidAI", left_out=lambda _: "")
    return DiscordPresenter(
        client=None,  # type: ignore[arg-type]
        providers={"kvid": provider},  # type: ignore[dict-item]
        jobs=other.service,
        community=SimpleNamespace(server_settings=server_settings),  # type: ignore[arg-type]
        clock=other.clock,
    )


def card_interaction() -> Any:
    """The command's interaction: its reply (the card) edited through its token."""
    return SimpleNamespace(
        expires_at=discord.utils.utcnow() + timedelta(minutes=15),
        edit_original_response=AsyncMock(return_value=SimpleNamespace(id=555)),
    )


def shown(interaction: Any) -> dict[str, Any]:
    """The card as its last edit left it."""
    embed: discord.Embed = interaction.edit_original_response.await_args.kwargs["embed"]
    return embed.to_dict()  # type: ignore[return-value]


async def as_stored(presenter: DiscordPresenter, other: World, job_id: str) -> dict[str, Any]:
    """The card of the job as the database has it now."""
    job = await other.service.get(job_id)
    assert job is not None
    embed, _ = await presenter.render(job)
    return embed.to_dict()  # type: ignore[return-value]


async def test_a_card_catches_up_with_a_job_another_process_finished(other: World) -> None:
    job = await other.service.start(other.order())
    presenter = presenter_of_another_process(other)
    interaction = card_interaction()
    assert await presenter.show_card(job, interaction) == 555

    # Another process (other.runner, which tells this presenter nothing) submits the job.
    running = await other.step()
    assert running.state is JobState.RUNNING
    queued_card = shown(interaction)
    await presenter.refresh_due(time.monotonic() + LATER)
    assert interaction.edit_original_response.await_count == 2
    assert shown(interaction) == await as_stored(presenter, other, job.id) != queued_card

    # ...then finishes it and posts its outcome in the channel.
    other.provider.polls.append(succeeded())
    done = await other.step(5)
    assert (done.state, done.delivery_state) == (JobState.SUCCEEDED, DeliveryState.DELIVERED)
    await presenter.refresh_due(time.monotonic() + LATER)
    assert interaction.edit_original_response.await_count == 3
    assert shown(interaction) == await as_stored(presenter, other, job.id)
    assert shown(interaction)["color"] == discord.Colour.green().value

    # That was the card's last edit: the job is over.
    await presenter.refresh_due(time.monotonic() + 2 * LATER)
    assert interaction.edit_original_response.await_count == 3
    assert done.guild_id == GUILD


async def test_a_finished_job_not_yet_delivered_keeps_its_card_for_the_delivery(
    other: World,
) -> None:
    job = await other.service.start(other.order())
    presenter = presenter_of_another_process(other)
    interaction = card_interaction()
    await presenter.show_card(job, interaction)
    await other.step()
    # The other process records the finish; the delivery (which may come to this card) waits.
    running = await other.service.get(job.id)
    assert running is not None
    finished = await other.store.apply(
        Guard.claimed(running),
        job.id,
        **finish_cols(JobState.SUCCEEDED, other.clock(), result_url="https://cdn.example/v.mp4"),
    )
    assert finished is not None
    assert (finished.state, finished.delivery_state) == (JobState.SUCCEEDED, DeliveryState.PENDING)
    await presenter.refresh_due(time.monotonic() + LATER)
    assert shown(interaction)["color"] != discord.Colour.green().value
    await presenter.refresh_due(time.monotonic() + 2 * LATER)
    assert interaction.edit_original_response.await_count == 3  # still refreshed: kept
