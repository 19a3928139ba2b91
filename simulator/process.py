"""Runs the real bot (`python -m bot`) as a child process against loopback doubles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from simulator.fake_discord import FakeDiscord


class BotStartError(Exception):
    """The bot exited, or did not connect and register its commands, in time."""


class BotProcess:
    """One bot process; can be killed with SIGKILL and started again on the same database."""

    def __init__(
        self, env: Mapping[str, str], log_path: Path, cwd: Path, *, source: Path | None = None
    ) -> None:
        self._env = dict(env)
        if source is not None:
            # Another checkout of the bot (e.g. a baseline for a benchmark): its `bot` and `cogs`
            # packages come first on the path, ahead of the installed (editable) ones.
            inherited = self._env.get("PYTHONPATH")
            self._env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), inherited]))
        self.source = source
        # Started outside the repository so a developer's own .env is never read.
        self._cwd = cwd
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        """Start `python -m bot` with the given environment."""
        assert self._process is None, "already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} =====\n".encode())
        log_file = self.log_path.open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=str(self._cwd),
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        finally:
            log_file.close()

    async def exited(self) -> int:
        """Wait until the process exits; return its code."""
        assert self._process is not None
        return await self._process.wait()

    @property
    def running(self) -> bool:
        """The process is alive."""
        return self._process is not None and self._process.returncode is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited by itself; None while running or stopped."""
        return self._process.returncode if self._process is not None else None

    @property
    def pid(self) -> int | None:
        """The process id while one was started, else None."""
        return self._process.pid if self._process is not None else None

    async def kill(self) -> None:
        """SIGKILL: no clean-up code of the bot runs."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()
        self._process = None

    async def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time; return the exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.returncode is None:
            # It may already be exiting on its own (e.g. Ctrl-C reached its process group).
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                process.kill()
                await process.wait()
        return process.returncode

    def log(self) -> str:
        """Everything the bot printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


async def start_and_wait(
    bot: BotProcess,
    fake: FakeDiscord,
    *,
    names: Iterable[str],
    within: float = 60.0,
) -> None:
    """Start the bot; return once it is connected and has registered `names`, else raise."""
    connections = len(fake.connections) + 1
    await bot.start()
    wanted = tuple(names)

    async def ready() -> None:
        await fake.wait_until_connected(timeout=within, connections=connections)
        await fake.wait_for_commands(timeout=within, names=wanted)

    came_up = asyncio.create_task(ready())
    died = asyncio.create_task(bot.exited())
    try:
        await asyncio.wait({came_up, died}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        died.cancel()
        if not came_up.done():
            came_up.cancel()
    if came_up.cancelled() or came_up.exception() is not None:
        tail = "\n".join(bot.log().splitlines()[-40:])
        raise BotStartError(f"the bot did not come up; the end of its output:\n{tail}")


def bot_env(base: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: ours minus anything that could point it at the real world."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "KVID_", "SHARD_"))}
    env.update(base)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
