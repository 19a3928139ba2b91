"""The README's recipes, run as written on a fresh copy; the Docker image emulated without Docker.

The tests marked `recipes` create virtual environments and install the bot with pip (from the
index or pip's cache): a few minutes the first time. `-m "not recipes"` leaves them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator import cli
from simulator.fake_discord import FakeDiscord, FakeSettings
from tests.e2e.harness import BotDatabase
from tests.operator.support import (
    REPO,
    clean_env,
    dockerfile_stages,
    fake_discord_settings,
    problems,
)
from tests.operator.test_config_docs import docker_env_file

# Installing with a cold pip cache takes minutes, and the fixtures count towards each test.
pytestmark = pytest.mark.timeout(900)

TOKEN = "MTMwMDAwMDAwMDAwMDAwMDEwMA.recipe-test.not-a-real-token"
INSTALLING = "Installing the bot"
# The image's user (Dockerfile: useradd --uid 10001).
IMAGE_UID = 10001
# Every command in the README's bash blocks, and the test below that runs it.
TESTED_COMMANDS = {
    "cp .env.example .env": "every test that writes .env copies .env.example first",
    "scripts/run": "test_the_first_run_installs_quietly, test_the_run_command_starts_the_bot",
    "scripts/run --demo": "test_the_demo",
    "scripts/test": "test_the_test_command",
    "docker build -t discord-video-bot .": "image (fixture): the Dockerfile's two stages",
    "docker run --env-file .env -v videobot-data:/data discord-video-bot": "test_the_image_*",
    # No Docker engine runs here: compose.yaml is checked, not run.
    "docker compose up -d --build": "tests/operator/test_compose.py",
    # Run as written, with a real SQLite file and this run's PostgreSQL schema as the URL.
    (
        "python -m bot.db.move --from data/bot.sqlite3 "
        "--to postgresql://user:password@host:5432/videobot"
    ): "tests/unit/test_db_move.py::test_the_documented_command",
}


def readme_commands() -> set[str]:
    """Every command line in the README's ```bash blocks, without its comment."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = set()
    for block in re.findall(r"```bash\n(.*?)```", readme, re.DOTALL):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                commands.add(command)
    return commands


def test_every_readme_recipe_is_tested() -> None:
    """A recipe added to the README needs a test here (or a reason it cannot run)."""
    assert readme_commands() == set(TESTED_COMMANDS)


# ---------------------------------------------------------------------------------------------
# A fresh copy of the repository, as `git clone` gives it
# ---------------------------------------------------------------------------------------------


# What a clone never has at its top, for a source tree that is not a git checkout.
_NOT_IN_A_CLONE = {".git", ".venv", ".env", "data", "sandbox", "build", "dist"}


def repository_files() -> list[str]:
    """The files a clone has: tracked ones, plus new ones not ignored (uncommitted work)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return [
            path.relative_to(REPO).as_posix()
            for path in REPO.rglob("*")
            if path.is_file()
            and path.relative_to(REPO).parts[0] not in _NOT_IN_A_CLONE
            and not any(p.endswith(("_cache", ".egg-info", ".hypothesis")) for p in path.parts)
            and "__pycache__" not in path.parts
        ]
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def copy_repository(target: Path) -> Path:
    """Copy the repository's files into `target`, keeping the executable bits."""
    for name in repository_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target / name)
    return target


def run(
    command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command with no terminal and the developer's bot settings removed."""
    return subprocess.run(
        list(command),
        cwd=cwd,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_env_file(folder: Path, values: Mapping[str, str]) -> Path:
    """`cp .env.example .env`, then fill in `values` as a person editing it would."""
    env_file = folder / ".env"
    shutil.copy(folder / ".env.example", env_file)
    text = env_file.read_text(encoding="utf-8")
    for key, value in values.items():
        text, count = re.subn(rf"^#?\s*{key}=.*$", f"{key}={value}", text, flags=re.MULTILINE)
        assert count == 1, f"{key} is not in .env.example"
    env_file.write_text(text, encoding="utf-8")
    return env_file


@dataclass
class Started:
    """A child process started in the background, its output going to a file."""

    process: asyncio.subprocess.Process
    log_path: Path

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def stop(self) -> int:
        """SIGTERM, as `docker stop` or Ctrl-C would; return the exit code."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


async def start_until_connected(
    command: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    fake: FakeDiscord,
    log_path: Path,
    **popen: object,
) -> Started:
    """Start `command`; return once the bot connected to `fake` and registered its commands."""
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            **popen,  # type: ignore[arg-type]
        )
    started = Started(process, log_path)

    async def ready() -> None:
        await fake.wait_until_connected(timeout=300)
        await fake.wait_for_commands(timeout=60, names=("video", "credits"))

    came_up = asyncio.create_task(ready())
    died = asyncio.create_task(process.wait())
    await asyncio.wait({came_up, died}, return_when=asyncio.FIRST_COMPLETED)
    died.cancel()
    if not came_up.done() or came_up.exception() is not None:
        came_up.cancel()
        await started.stop()
        raise AssertionError(f"the bot did not come up:\n{started.output()[-4000:]}")
    return started


async def make_a_video(fake: FakeDiscord, database: Path) -> None:
    """One /video text through the local renderer; it must be delivered."""
    assert fake.defaults is not None
    await fake.invoke(
        "video text",
        {"prompt": "a paper boat", "resolution": "480p"},
        user_id=fake.defaults.user_id,
        channel_id=fake.defaults.channel_id,
        guild_id=fake.defaults.guild_id,
    )
    db = BotDatabase(database)

    def delivered() -> list[dict[str, object]] | None:
        rows = db.rows("SELECT state, delivery FROM jobs WHERE delivered_at IS NOT NULL")
        return rows or None

    rows = await fake.wait_for(delivered, 120, description="the video to be delivered")
    assert rows == [{"state": "succeeded", "delivery": "attached"}]


def pip_noise(output: str) -> list[str]:
    """Lines only pip or setuptools print."""
    markers = ("Collecting", "Requirement already", "Successfully", "WARNING:", "DEPRECATION")
    return [line for line in output.splitlines() if line.startswith(markers) or "pip" in line]


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the repository (no .venv, no .env)."""
    return copy_repository(tmp_path_factory.mktemp("fresh-clone"))


@pytest.fixture(scope="module")
def first_run(fresh_copy: Path) -> subprocess.CompletedProcess[str]:
    """`scripts/run` on the fresh copy, with no token and no terminal: it installs first."""
    return run(["scripts/run"], fresh_copy)


@pytest.mark.recipes
def test_the_first_run_installs_quietly(
    fresh_copy: Path, first_run: subprocess.CompletedProcess[str]
) -> None:
    """One line while installing, none of pip's; then the missing token, and a non-zero exit."""
    assert first_run.returncode == 2, first_run.stdout + first_run.stderr
    assert first_run.stdout == ""
    lines = first_run.stderr.splitlines()
    assert len(lines) == 2, first_run.stderr
    assert lines[0].startswith(INSTALLING)
    assert lines[1].startswith("Cannot start: DISCORD_TOKEN is not set.")
    assert (fresh_copy / ".venv" / "install.log").is_file()


@pytest.mark.recipes
def test_later_runs_install_only_when_pyproject_changes(
    fresh_copy: Path, first_run: subprocess.CompletedProcess[str]
) -> None:
    """The second start is immediate and silent; an edited pyproject.toml installs again."""
    began = time.monotonic()
    again = run(["scripts/run"], fresh_copy)
    assert time.monotonic() - began < 20
    assert again.stderr.splitlines() == first_run.stderr.splitlines()[1:]
    pyproject = fresh_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    changed = run(["scripts/run"], fresh_copy)
    assert changed.stderr.splitlines()[0].startswith(INSTALLING), changed.stderr
    assert len(changed.stderr.splitlines()) == 2
    after = run(["scripts/run"], fresh_copy)
    assert INSTALLING not in after.stderr


@pytest.mark.recipes
async def test_the_run_command_starts_the_bot(
    fresh_copy: Path, first_run: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """`cp .env.example .env`, set DISCORD_TOKEN, `scripts/run`: the bot connects and works.

    The fake Discord stands in for discord.com through the two settings meant for that.
    """
    fake = FakeDiscord.with_default_guild(FakeSettings(token=TOKEN))
    await fake.start()
    write_env_file(
        fresh_copy,
        {
            **fake_discord_settings(fake, TOKEN),
        },
    )
    try:
        bot = await start_until_connected(
            [str(fresh_copy / "scripts" / "run")],
            fresh_copy,
            clean_env(),
            fake,
            tmp_path / "run.log",
        )
        try:
            await make_a_video(fake, fresh_copy / "data" / "bot.sqlite3")
        finally:
            code = await bot.stop()
    finally:
        (fresh_copy / ".env").unlink()
        await fake.stop()
    output = bot.output()
    assert code == 0, output
    assert problems(output) == [], output
    assert TOKEN not in output


@pytest.mark.recipes
def test_the_demo(fresh_copy: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    """`scripts/run --demo`: the sandbox runs the demo script and exits 0."""
    result = run(["scripts/run", "--demo"], fresh_copy, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == cli.NO_TOKEN_LINE
    # The demo makes three videos: a camera move, its remix, and a Korean member's title card.
    saved = list((fresh_copy / "sandbox" / "videos").glob("*.mp4"))
    assert len(saved) == 3
    assert f"{len(saved)} files saved in sandbox/videos/" in result.stdout
    assert result.stderr == ""


@pytest.mark.recipes
def test_the_test_command(fresh_copy: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    """`scripts/test` (here on one test file): adds the test tools quietly, lints, tests."""
    result = run(["scripts/test", "tests/operator/test_config_docs.py"], fresh_copy)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert result.stderr.splitlines()[0].startswith(f"{INSTALLING} with its test tools")
    assert "All checks passed!" in output  # ruff check
    assert "already formatted" in output  # ruff format --check
    assert re.search(r"\d+ passed", output)
    assert pip_noise(output) == [], output
    again = run(["scripts/test", "tests/operator/test_config_docs.py"], fresh_copy)
    assert INSTALLING not in again.stderr


# ---------------------------------------------------------------------------------------------
# The Docker image, emulated: the Dockerfile's steps without an engine
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """An emulated image: its Python with the wheels installed, /app and the /data volume."""

    python: Path
    app: Path
    data: Path
    env: dict[str, str]
    user: int | None

    def popen_options(self) -> dict[str, object]:
        """Run as the image's unprivileged user where this process may switch to it."""
        if self.user is None:
            return {}
        return {"user": self.user, "group": self.user, "extra_groups": []}

    def environment(self, env_file: str) -> dict[str, str]:
        """The image's environment with `docker run --env-file` applied over it."""
        return {**self.env, **docker_env_file(env_file)}

    def command(self) -> list[str]:
        """The image's CMD, with its `python` resolved to the image's interpreter."""
        cmd = dockerfile_cmd()
        assert cmd[0] == "python"
        return [str(self.python), *cmd[1:]]


def dockerfile_cmd() -> list[str]:
    """The final stage's CMD (exec form)."""
    (cmd,) = [line for line in dockerfile_stages()[-1] if line.startswith("CMD ")]
    return re.findall(r'"([^"]*)"', cmd)


def dockerfile_env(volume: Path, app: Path) -> dict[str, str]:
    """The final stage's ENV, with /data and /app mapped to their stand-ins."""
    values: dict[str, str] = {}
    for line in dockerfile_stages()[-1]:
        if line.startswith("ENV "):
            for key, value in re.findall(r"([A-Z][A-Z0-9_]+)=(\S+)", line):
                values[key] = re.sub(r"^/data\b", str(volume), re.sub(r"^/app\b", str(app), value))
    return values


def build_context(target: Path) -> Path:
    """The build stage's COPY instructions applied to an empty folder (what the build sees)."""
    for line in dockerfile_stages()[0]:
        if line.startswith("COPY "):
            *sources, destination = line.split()[1:]
            for source in sources:
                into = target / destination.removeprefix("./").rstrip("/")
                if (REPO / source).is_dir():
                    for name in repository_files():
                        if name.startswith(f"{source}/"):
                            relative = Path(name).relative_to(source)
                            (into / relative).parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(REPO / name, into / relative)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / source, target / Path(source).name)
    return target


def runnable_python(user: int | None) -> str:
    """A Python 3.11+ with venv that `user` can run (this one may live in a private home)."""
    base = getattr(sys, "_base_executable", sys.executable)
    candidates = [os.path.realpath(base), shutil.which("python3.11"), shutil.which("python3")]
    # The system's own, when the ones on PATH live where the image's user cannot go.
    candidates += [
        f"{folder}/{name}"
        for folder in ("/usr/local/bin", "/usr/bin")
        for name in ("python3.11", "python3")
    ]
    check = "import ensurepip, sys, venv; sys.exit(sys.version_info < (3, 11))"
    options: dict[str, object] = {}
    if user is not None:
        options = {"user": user, "group": user, "extra_groups": []}
    for candidate in dict.fromkeys(c for c in candidates if c):
        try:
            probe = subprocess.run(
                [candidate, "-c", check],
                cwd="/",
                capture_output=True,
                check=False,
                **options,  # type: ignore[arg-type]
            )
        except OSError:  # missing, or under a private home (e.g. root's pyenv)
            continue
        if probe.returncode == 0:
            return candidate
    pytest.skip("no Python 3.11+ with venv that the image's user can run")


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    """`docker build`, emulated: wheels built from the build context, installed in a fresh venv.

    As root, the bot runs as uid 10001 like the image's user; otherwise as this user, which
    cannot write in the chmod 555 /app either.
    """
    user = IMAGE_UID if os.geteuid() == 0 else None
    # Outside pytest's private temp folder, which the image's user could not enter.
    root = Path(tempfile.mkdtemp(prefix="videobot-image-"))
    root.chmod(0o755)
    try:
        python = runnable_python(user)
        venv = root / "python"
        made = run([python, "-m", "venv", str(venv)], root)
        assert made.returncode == 0, made.stderr
        image_python = venv / "bin" / "python"
        context = build_context(root / "context")
        wheels = root / "wheels"
        # Build stage: RUN pip wheel --wheel-dir /wheels . (pip's cache is allowed here).
        built = run(
            [str(image_python), "-m", "pip", "wheel", "--wheel-dir", str(wheels), "."], context
        )
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        (own,) = wheels.glob("discord_video_bot-*.whl")
        with zipfile.ZipFile(own) as wheel:
            (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
            assert "License-Expression: MIT" in wheel.read(metadata).decode()
        # Final stage: RUN pip install /wheels/*.whl
        installed = run(
            [str(image_python), "-m", "pip", "install", *map(str, sorted(wheels.glob("*.whl")))],
            root,
        )
        assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
        app, data = root / "app", root / "data"
        app.mkdir()
        data.mkdir()
        # WORKDIR /app stays root's; RUN mkdir -p /data && chown videobot:videobot /data
        app.chmod(0o555)
        if user is not None:
            os.chown(data, user, user)
        env = {
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(app),
            "LANG": "C.UTF-8",
            **dockerfile_env(data, app),
        }
        yield Image(image_python, app, data, env, user)
    finally:
        if (root / "app").exists():
            (root / "app").chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_the_emulation_reads_the_dockerfile() -> None:
    """Guard: the parsing above sees the Dockerfile's build context, ENV and CMD."""
    assert dockerfile_cmd() == ["python", "-m", "bot"]
    env = dockerfile_env(Path("/v"), Path("/a"))
    assert env["DATABASE_PATH"] == "/v/bot.sqlite3"
    assert env["SANDBOX_DIR"] == "/v/sandbox"
    copies = [line for line in dockerfile_stages()[0] if line.startswith("COPY ")]
    assert any("pyproject.toml" in line for line in copies)
    assert any("RUN pip wheel" in line for line in dockerfile_stages()[0])


@pytest.mark.recipes
async def test_the_image_runs_with_the_readme_env_file(image: Image, tmp_path: Path) -> None:
    """`docker run --env-file .env -v …:/data`: starts as uid 10001 and makes a video in /data."""
    fake = FakeDiscord.with_default_guild(FakeSettings(token=TOKEN))
    await fake.start()
    folder = tmp_path / "operator"
    folder.mkdir()
    shutil.copy(REPO / ".env.example", folder / ".env.example")
    env_file = write_env_file(
        folder,
        {
            **fake_discord_settings(fake, TOKEN),
        },
    )
    try:
        bot = await start_until_connected(
            image.command(),
            image.app,
            image.environment(env_file.read_text(encoding="utf-8")),
            fake,
            tmp_path / "container.log",
            **image.popen_options(),
        )
        try:
            await make_a_video(fake, image.data / "bot.sqlite3")
        finally:
            code = await bot.stop()
    finally:
        await fake.stop()
    output = bot.output()
    assert code == 0, output
    assert problems(output) == [], output
    if image.user is not None:
        assert (image.data / "bot.sqlite3").stat().st_uid == image.user


@pytest.mark.recipes
def test_the_image_without_a_token_stops_with_one_line(image: Image) -> None:
    """`.env` copied but not filled in: one line naming DISCORD_TOKEN, exit 2, no restart loop."""
    result = subprocess.run(
        image.command(),
        cwd=image.app,
        env=image.environment((REPO / ".env.example").read_text(encoding="utf-8")),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **image.popen_options(),  # type: ignore[arg-type]
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Cannot start: DISCORD_TOKEN is not set.")


@pytest.mark.recipes
def test_the_image_with_a_relative_database_path_stops_with_one_line(image: Image) -> None:
    """The old .env.example's DATABASE_PATH=data/bot.sqlite3 in read-only /app: one clear line."""
    env_file = (REPO / ".env.example").read_text(encoding="utf-8")
    env_file += f"\nDISCORD_TOKEN={TOKEN}\nDATABASE_PATH=data/bot.sqlite3\n"
    result = subprocess.run(
        image.command(),
        cwd=image.app,
        env=image.environment(env_file),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **image.popen_options(),  # type: ignore[arg-type]
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    (line,) = problems(output)
    assert "'data/bot.sqlite3' (DATABASE_PATH) cannot be opened: Permission denied" in line
    assert "/data volume" in line
