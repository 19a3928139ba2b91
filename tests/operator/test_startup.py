"""Each way start-up can fail ends in one line that names the cause and the fix."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.providers import kling
from simulator import cli
from simulator.fake_discord import FakeDiscord, FakeSettings
from simulator.process import BotProcess, start_and_wait
from tests.e2e.harness import BotDatabase
from tests.fakes.kvid import FakeKvid
from tests.operator.support import REPO, clean_env, closed_port, fake_discord_settings, problems

TOKEN = "MTMwMDAwMDAwMDAwMDAwMDEwMA.startup-test.right-token-value"


def run_bot(
    cwd: Path, env: dict[str, str], args: tuple[str, ...] = (), timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m bot` from `cwd` with no terminal, as a service or container starts it."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=clean_env({"PYTHONPATH": str(REPO), **env}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def run_bot_async(cwd: Path, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """The same, without blocking the event loop a fake server runs on; (exit code, output)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=cwd,
        env=clean_env({"PYTHONPATH": str(REPO), **env}),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode()


def the_one_line(output: str) -> str:
    """The single line that is not a routine log line; fails if there is none or several."""
    assert "Traceback" not in output, output
    lines = problems(output)
    assert len(lines) == 1, output
    assert "Cannot start: " in lines[0], output
    return lines[0]


def test_no_token_and_no_terminal_stops_with_one_line(tmp_path: Path) -> None:
    """A service or container without a token must not run (and re-run) the demo."""
    result = run_bot(tmp_path, {})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Cannot start: DISCORD_TOKEN is not set.")
    assert "--demo" in lines[0]
    assert not (tmp_path / "sandbox").exists()


def test_no_token_in_a_terminal_offers_the_sandbox(tmp_path: Path) -> None:
    """At a terminal the sandbox still starts, and :quit leaves it."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=clean_env({"PYTHONPATH": str(REPO)}),
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.close(terminal)
    assert process.stdout is not None
    output = b""
    try:
        deadline = time.monotonic() + 60
        while b"Type :help" not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                output += chunk
        assert b"Type :help" in output, output.decode()
        os.write(controller, b":quit\n")
        rest, _ = process.communicate(timeout=30)
        output += rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    text = output.decode()
    assert process.returncode == 0, text
    assert text.splitlines()[0] == cli.NO_TOKEN_LINE
    assert "Connected in" in text


async def run_against(fake: FakeDiscord, cwd: Path, token: str) -> tuple[int, str]:
    """Start the fake, run the bot against it until it exits, stop the fake."""
    await fake.start()
    try:
        return await run_bot_async(
            cwd,
            {
                **fake_discord_settings(fake, token),
                "DATABASE_PATH": str(cwd / "bot.sqlite3"),
            },
        )
    finally:
        await fake.stop()


async def test_a_token_discord_refuses(tmp_path: Path) -> None:
    """A wrong token: Discord answers 401, the bot says DISCORD_TOKEN is wrong and exits 1."""
    fake = FakeDiscord.with_default_guild(FakeSettings(token=TOKEN))
    wrong = "MTMwMDAwMDAwMDAwMDAwMDEwMA.startup-test.wrong-token-value"
    code, output = await run_against(fake, tmp_path, wrong)
    assert code == 1, output
    assert [e.status for e in fake.api_errors] == [401]
    line = the_one_line(output)
    assert "Discord refused DISCORD_TOKEN" in line
    assert "wrong-token-value" not in output


async def test_a_discord_that_requires_sharding(tmp_path: Path) -> None:
    """Discord closes an unsharded connection with 4011: one line saying to set SHARD_COUNT."""
    fake = FakeDiscord.with_default_guild(FakeSettings(max_guilds_per_shard=0))
    code, output = await run_against(fake, tmp_path, TOKEN)
    assert code == 2, output
    assert [c.close_code for c in fake.connections] == [4011]
    line = the_one_line(output)
    assert "4011 Sharding required" in line
    assert "Set SHARD_COUNT" in line


def test_an_unreachable_discord(tmp_path: Path) -> None:
    """Nothing listens at DISCORD_API_BASE: one line with the address and the setting."""
    base = f"http://127.0.0.1:{closed_port()}/api/v10"
    result = run_bot(
        tmp_path,
        {
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": base,
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        },
    )
    assert result.returncode == 2, result.stderr
    line = the_one_line(result.stdout + result.stderr)
    assert f"Discord is unreachable at {base}" in line
    assert "check DISCORD_API_BASE" in line


@pytest.mark.parametrize("variable", ["DATABASE_PATH", "DATA_DIR"])
def test_a_folder_that_cannot_be_created(tmp_path: Path, variable: str) -> None:
    """A database or data folder that cannot exist (its parent is a file): one line naming it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    env = {"DISCORD_TOKEN": TOKEN, "DATABASE_PATH": str(tmp_path / "db" / "bot.sqlite3")}
    env[variable] = str(blocker / "data" / ("bot.sqlite3" if variable == "DATABASE_PATH" else ""))
    result = run_bot(tmp_path, env)
    assert result.returncode == 2, result.stderr
    line = the_one_line(result.stdout + result.stderr)
    assert f"({variable})" in line
    assert "Not a directory" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; the Docker test covers it")
def test_a_database_folder_that_is_not_writable(tmp_path: Path) -> None:
    """The finding's case: a relative database folder in a read-only working directory."""
    readonly = tmp_path / "app"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        result = run_bot(readonly, {"DISCORD_TOKEN": TOKEN, "DATABASE_PATH": "data/bot.sqlite3"})
    finally:
        readonly.chmod(0o755)
    assert result.returncode == 2, result.stderr
    line = the_one_line(result.stdout + result.stderr)
    assert "'data/bot.sqlite3' (DATABASE_PATH) cannot be opened: Permission denied" in line


async def test_a_provider_key_refused_at_the_first_video(tmp_path: Path) -> None:
    """kvidAI refuses the key: the log names KVID_API_KEY once; the member is told to ask."""
    discord = FakeDiscord.with_default_guild()
    await discord.start()
    kvid = FakeKvid(api_key="the-right-kvid-key")
    await kvid.start()
    database = tmp_path / "bot.sqlite3"
    env = clean_env(
        {
            "PYTHONPATH": str(REPO),
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "DATABASE_PATH": str(database),
            "KVID_API_KEY": "a-wrong-kvid-key",
            "KVID_BASE_URL": kvid.base_url,
            "KVID_POLL_INTERVAL": "0.2",
        }
    )
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    bot = BotProcess(env, tmp_path / "bot.log", cwd=workdir)
    try:
        await start_and_wait(bot, discord, names=("video",), within=30)
        assert discord.defaults is not None
        interaction = await discord.invoke(
            "video text",
            {"prompt": "a kite over the sea"},
            user_id=discord.defaults.user_id,
            channel_id=discord.defaults.channel_id,
            guild_id=discord.defaults.guild_id,
        )
        card = await interaction.wait_for_original(
            lambda m: "admin" in str(m.embed or m.content), timeout=30
        )
        rows = BotDatabase(database).rows("SELECT state, failure_code FROM jobs")
    finally:
        await bot.stop()
        await kvid.stop()
        await discord.stop()
    assert rows == [{"state": "failed", "failure_code": "invalid_api_key"}]
    assert "kvidAI does not accept the bot's account settings" in str(card.embed or card.content)
    log = bot.log()
    refused = [line for line in log.splitlines() if "KVID_API_KEY" in line]
    assert len(refused) == 1, log
    assert " ERROR " in refused[0]
    assert "kvidAI refused KVID_API_KEY (HTTP 403" in refused[0]
    assert "a-wrong-kvid-key" not in log
    assert "Traceback" not in log


@pytest.mark.parametrize(("status", "code"), [(401, "invalid_token"), (401, "token_expired")])
def test_kling_names_its_key_when_acedata_refuses_it(
    status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    """AceData's token errors log one line naming KLING_API_KEY, without the key."""
    response = httpx.Response(status, json={"error": {"code": code, "message": "bad token"}})
    with caplog.at_level(logging.ERROR, logger="bot.providers.kling"):
        failure = kling.ERRORS.answer_failure(response, "the-kling-secret")
    assert failure.code == code
    assert [r.getMessage() for r in caplog.records if "KLING_API_KEY" in r.getMessage()]
    assert "the-kling-secret" not in caplog.text


def test_kling_content_refusals_do_not_blame_the_key(caplog: pytest.LogCaptureFixture) -> None:
    """A moderation 403 is the member's prompt, not the operator's key."""
    response = httpx.Response(403, json={"error": {"code": "forbidden", "message": "blocked"}})
    with caplog.at_level(logging.ERROR, logger="bot.providers.kling"):
        kling.ERRORS.answer_failure(response, None)
    assert "KLING_API_KEY" not in caplog.text
