"""Runs the real bot (`python -m bot`) as a child process against loopback fakes."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path


class BotProcess:
    """One bot process; can be killed with SIGKILL and started again on the same database."""

    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path) -> None:
        self._env = dict(env)
        # Started outside the repository so a developer's own .env is never read.
        self._cwd = cwd
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        """Start `python -m bot` with the test environment."""
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


class BotDatabase:
    """Read-only look into the bot's SQLite file (WAL lets us read while it writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
        """Run a read query and return plain dicts."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(sql, params)]
        finally:
            conn.close()

    def balance(self, guild_id: int, user_id: int) -> tuple[int, int]:
        """(balance, held) from the ledger itself, not the cached columns."""
        rows = self.rows(
            "SELECT COALESCE(SUM(balance_delta), 0) AS b, COALESCE(SUM(held_delta), 0) AS h "
            "FROM ledger WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return int(rows[0]["b"]), int(rows[0]["h"])  # type: ignore[arg-type]

    def check_invariants(self) -> None:
        """Cached balances equal the ledger, no hold resolved twice, terminal jobs settled."""
        for member in self.rows("SELECT guild_id, user_id, balance, held FROM members"):
            summed = self.balance(member["guild_id"], member["user_id"])  # type: ignore[arg-type]
            assert summed == (member["balance"], member["held"]), member
            assert member["held"] <= member["balance"]  # type: ignore[operator]
        doubles = self.rows(
            "SELECT job_id, COUNT(*) AS n FROM ledger WHERE kind IN ('capture', 'release') "
            "GROUP BY job_id HAVING n > 1"
        )
        assert doubles == []
        unsettled = self.rows(
            "SELECT j.id FROM jobs j JOIN holds h ON h.job_id = j.id "
            "WHERE j.state IN ('succeeded', 'failed', 'cancelled') AND h.state = 'open'"
        )
        assert unsettled == []


def bot_env(base: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: ours minus anything that could point it at the real world."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "KVID_"))}
    env.update(base)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
