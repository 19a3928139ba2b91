"""compose.yaml and the image's HEALTHCHECK, checked without a Docker engine (none runs here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings
from tests.operator.support import REPO, clean_env, closed_port, dockerfile_stages
from tests.operator.test_config_docs import documented_settings


def compose() -> dict[str, Any]:
    """compose.yaml as Compose reads it (YAML merge keys resolved)."""
    return dict(yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8")))


def bot_services() -> dict[str, dict[str, Any]]:
    """The services built from this repository's Dockerfile."""
    services = compose()["services"]
    return {name: s for name, s in services.items() if s.get("build") == "."}


def test_postgres_is_healthy_before_any_bot_starts() -> None:
    """PostgreSQL 16 on a named volume, with pg_isready as its health check, gates the bots."""
    spec = compose()
    postgres = spec["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    (volume,) = postgres["volumes"]
    name, _, target = volume.partition(":")
    assert target == "/var/lib/postgresql/data"
    assert name in spec["volumes"]
    assert len(bot_services()) >= 2
    for bot in bot_services().values():
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert bot["env_file"] == ".env"
        assert "healthcheck" not in bot, "the image's HEALTHCHECK applies to the bots"


def test_the_bots_split_the_shards_exactly_once() -> None:
    """Same SHARD_COUNT everywhere, every shard in exactly one process, valid as the bot reads."""
    envs = {name: bot["environment"] for name, bot in bot_services().items()}
    (count,) = {int(env["SHARD_COUNT"]) for env in envs.values()}
    ids = sorted(int(i) for env in envs.values() for i in str(env["SHARD_IDS"]).split(","))
    assert ids == list(range(count))
    names = [env["INSTANCE_NAME"] for env in envs.values()]
    assert len(set(names)) == len(names)
    for env in envs.values():
        assert env["DATABASE_URL"].startswith("postgresql://")
        settings = Settings.from_env({"DISCORD_TOKEN": "t", **env})
        assert settings.shards.count == count
    volumes = [v.split(":")[0] for bot in bot_services().values() for v in bot["volumes"]]
    assert len(set(volumes)) == len(volumes), "each process has its own /data"


def test_the_bots_set_only_documented_settings() -> None:
    """Every variable a bot service sets is a real setting that .env.example explains."""
    documented = documented_settings()
    for name, bot in bot_services().items():
        unknown = set(bot["environment"]) - documented
        assert unknown == set(), f"{name} sets variables .env.example does not document"
    # The commented-out proxy line names the commented-out proxy service.
    text = (REPO / "compose.yaml").read_text(encoding="utf-8")
    assert "# DISCORD_API_BASE: http://nirn-proxy:8080/api/v10" in text
    assert "# nirn-proxy:" in text


def healthcheck_command() -> list[str]:
    """The final stage's HEALTHCHECK command (exec form)."""
    (line,) = [x for x in dockerfile_stages()[-1] if x.startswith("HEALTHCHECK ")]
    command = json.loads(line.split(" CMD ", 1)[1])
    assert isinstance(command, list)
    return [str(part) for part in command]


class _Healthz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet: pytest shows stderr of failing tests."""


@pytest.fixture
def healthz() -> Iterator[ThreadingHTTPServer]:
    """A stand-in for the bot's /healthz on a loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_the_image_healthcheck_asks_healthz_on_http_port(healthz: ThreadingHTTPServer) -> None:
    """The image's own python runs it: healthy on 200, unhealthy on 503 or no answer."""
    command = healthcheck_command()
    assert command[0] == "python", "curl is not in the slim image"
    assert "/healthz" in command[-1]

    def exit_code(port: int, status: int = 200) -> int:
        _Healthz.status = status
        run = subprocess.run(
            [sys.executable, *command[1:]],
            env=clean_env({"HTTP_PORT": str(port)}),
            capture_output=True,
            timeout=30,
            check=False,
        )
        return run.returncode

    port = int(healthz.server_address[1])
    assert exit_code(port) == 0
    assert exit_code(port, 503) != 0
    assert exit_code(closed_port()) != 0


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    """`docker compose config -q`, where the compose plugin is installed (not on dev machines)."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client here; the checks above stand in for it")
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, timeout=30, check=False
    )
    if version.returncode != 0:
        pytest.skip("the docker client here has no compose plugin")
    shutil.copy(REPO / "compose.yaml", tmp_path / "compose.yaml")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [docker, "compose", "-f", "compose.yaml", "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
