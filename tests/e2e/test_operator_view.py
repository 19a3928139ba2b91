"""The operator's view of the real bot process: /healthz, /metrics, JSON logs, SIGTERM drains."""

from __future__ import annotations

import json
import os
import signal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Stack, free_port
from tests.fakes.kvid import KvidScenario
from tests.fakes.media import make_mp4

# Operators set HTTP_PORT without PUBLIC_URL: health and metrics, no callbacks.
PORT = free_port()
OPS_ENV = pytest.mark.bot_env(HTTP_HOST="127.0.0.1", HTTP_PORT=str(PORT), LOG_FORMAT="json")


async def get(path: str) -> httpx.Response:
    """GET a path of the bot's HTTP endpoint."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=10) as client:
        return await client.get(path)


async def metric_values() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample /metrics shows, by name and labels, parsed as Prometheus parses it."""
    response = await get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(values: dict, name: str, **labels: str) -> float:
    """One sample's value; KeyError when it is not exposed."""
    return values[(name, frozenset(labels.items()))]


def json_lines(log: str) -> list[dict[str, object]]:
    """The bot's log lines, each parsed as JSON (the harness's own start markers left out)."""
    return [json.loads(line) for line in log.splitlines() if line and not line.startswith("=====")]


@OPS_ENV
async def test_health_metrics_and_json_logs_after_one_video(stack: Stack) -> None:
    # discord.py reports READY (and logs on_ready's line) once the guilds have streamed in.
    await stack.discord.wait_for(
        lambda: "connected as" in stack.bot.log(), 15, description="the bot to be ready"
    )
    health = await get("/healthz")
    assert health.status_code == 200, health.text
    report = health.json()
    assert report["gateway"] == {"connected": True}
    assert report["database"] == {"writable": True, "error": None}
    # Without PUBLIC_URL nothing answers provider callbacks.
    assert (await get("/callbacks/kvid/x/y")).status_code in (404, 405)

    stack.kvid.script(KvidScenario(processing_polls=1, result_bytes=make_mp4(320, 240, 1.0)))
    await stack.invoke("video text", {"prompt": "a lighthouse at dusk"})
    job = await stack.settled_job(timeout=30)
    assert (job["state"], job["delivery_state"]) == ("succeeded", "delivered")

    values = await metric_values()
    assert sample(values, "videobot_jobs", provider="kvid", state="succeeded") == 1
    assert sample(values, "videobot_jobs", provider="kvid", state="failed") == 0
    assert sample(values, "videobot_credits_total", kind="held") == 15
    assert sample(values, "videobot_credits_total", kind="captured") == 15
    assert sample(values, "videobot_credits_total", kind="released") == 0
    assert sample(values, "videobot_step_seconds_count", step="submit") == 1
    assert sample(values, "videobot_step_seconds_count", step="poll") >= 1
    assert sample(values, "videobot_step_seconds_count", step="deliver") == 1
    assert sample(values, "videobot_event_loop_lag_seconds_count") >= 0
    assert sample(values, "videobot_lease_takeovers_total") == 0

    kvid = (await get("/healthz")).json()["providers"]["kvid"]
    assert (kvid["ok"], kvid["code"]) == (True, None)

    lines = json_lines(stack.bot.log())
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    about_the_job = [line for line in lines if str(job["id"]) in str(line["message"])]
    assert any("submitted to kvid" in str(line["message"]) for line in about_the_job)
    # Every line the runner logs while it works on the job carries its id, whatever it says.
    from_runner = [line for line in about_the_job if line["logger"] == "bot.jobs.runner"]
    assert from_runner
    assert all(line.get("job_id") == job["id"] for line in from_runner)


@OPS_ENV
async def test_sigterm_drains_and_the_next_start_finishes_the_job_once(stack: Stack) -> None:
    video = make_mp4(320, 240, seconds=1.0)
    stack.kvid.script(KvidScenario(processing_polls=2, result_bytes=video))
    await stack.invoke("video text", {"prompt": "a harbour at night"})
    [fake_job] = await stack.kvid.wait_for_submissions(1, timeout=15)
    # The next status answer is held back: the bot is mid-step when it is told to stop.
    stack.kvid.delay_next("status", 60)
    polls_before = fake_job.status_calls
    await stack.discord.wait_for(
        lambda: fake_job.status_calls > polls_before, 15, description="a poll in hand"
    )

    assert stack.bot.pid is not None
    os.kill(stack.bot.pid, signal.SIGTERM)
    await stack.discord.wait_for(
        lambda: "shutting down" in stack.bot.log(), 15, description="the drain to begin"
    )
    health = await get("/healthz")
    assert health.status_code == 503
    assert health.json()["gateway"] == {"connected": False}
    refused = await stack.invoke("video text", {"prompt": "one more, please"})
    assert "restarting" in await stack.private_reply(refused, timeout=15)
    assert await stack.bot.exited() == 0
    assert await stack.bot.stop() == 0
    messages = [line["message"] for line in json_lines(stack.bot.log())]
    assert "released 1 unfinished steps" in messages
    [row] = stack.job_rows()
    assert row["state"] == "running"

    await stack.start_bot()
    job = await stack.settled_job(timeout=30)
    assert (job["state"], job["delivery_state"]) == ("succeeded", "delivered")
    videos = [a for a in stack.discord.attachments_created if a.filename.endswith(".mp4")]
    assert [a.data for a in videos] == [video]
    assert len(stack.db.rows("SELECT 1 FROM ledger WHERE kind = 'capture'")) == 1
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (85, 0)
    assert len(stack.kvid.submissions) == 1
    values = await metric_values()
    # The restarted process took the released step over from its earlier life.
    assert sample(values, "videobot_lease_takeovers_total") == 1
