"""What GET /healthz reports: the gateway, a database write, and each provider's last answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.db import Database
from bot.metrics import Metrics

# A probe that waits longer than this behind other writers counts as "not writable": a load
# balancer or orchestrator asking should get an answer well within its own timeout.
PROBE_TIMEOUT_SECONDS = 5.0
_PROBE_SQL = (
    "INSERT INTO meta (key, value) VALUES ('health_probe', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


async def database_write_error(db: Database) -> str | None:
    """None when a small write transaction commits; otherwise why it did not."""
    # A read would pass on a full disk or a read-only file; only a committed write proves that
    # holds, captures and job steps can still be recorded.
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            async with db.transaction() as tx:
                await tx.execute(_PROBE_SQL, (f"{time.time():.3f}",))
    except TimeoutError:
        return f"no write committed within {PROBE_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class Health:
    """Checks the process's health; `gateway_connected` comes from the Discord layer."""

    db: Database
    metrics: Metrics
    gateway_connected: Callable[[], bool]

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details): healthy needs the gateway connected and the database writable."""
        connected = self.gateway_connected()
        db_error = await database_write_error(self.db)
        healthy = connected and db_error is None
        return healthy, {
            "ok": healthy,
            "gateway": {"connected": connected},
            "database": {"writable": db_error is None, "error": db_error},
            # Informational: a provider that is failing is no reason to restart this process.
            "providers": {
                name: answer.as_json() for name, answer in sorted(self.metrics.answers.items())
            },
        }
