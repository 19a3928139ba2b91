"""Helpers for the operator tests: the bot as a child process with a clean environment."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path

from simulator.fake_discord import FakeDiscord

REPO = Path(__file__).resolve().parents[2]
# Prefixes and names of every setting that could leak from the developer's shell into a child.
_INHERITED_SETTINGS = ("DISCORD_", "KVID_", "KLING_", "SANDBOX_", "LOCAL_", "HTTP_", "SHARD_")
_INHERITED_NAMES = ("DATABASE_PATH", "DATA_DIR", "PUBLIC_URL", "DEFAULT_PROVIDER", "VIRTUAL_ENV")
# A log line: "2026-01-01 12:00:00 LEVEL   logger: message".
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\w+)\s+([\w.]+): (.*)$")


def clean_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any bot setting, plus `overrides`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_INHERITED_SETTINGS) and key not in _INHERITED_NAMES
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides or {})
    return env


def fake_discord_settings(fake: FakeDiscord, token: str) -> dict[str, str]:
    """The settings that send the bot to a fake Discord instead of discord.com."""
    return {
        "DISCORD_TOKEN": token,
        "DISCORD_API_BASE": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
    }


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def problems(output: str) -> list[str]:
    """The lines of `output` that are not routine log lines (INFO/DEBUG) or blank."""
    found = []
    for line in output.splitlines():
        match = LOG_LINE.match(line)
        if not line.strip() or (match and match.group(1) in ("INFO", "DEBUG")):
            continue
        found.append(line)
    return found


def dockerfile() -> str:
    """The Dockerfile, continuation lines joined."""
    return (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")


def dockerfile_stages() -> list[list[str]]:
    """The instructions of each stage, comments dropped."""
    stages: list[list[str]] = []
    for line in dockerfile().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages
