"""How a job's video was continued since: the extensions made from it (read-only)."""

from __future__ import annotations

from bot.db import Database


async def extension_count(db: Database, guild_id: int, user_id: int, job_id: str) -> int:
    """How many jobs continue `job_id` (every extension, whatever became of it)."""
    # Only the owner extends a video, so the member index narrows the search.
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM jobs WHERE guild_id = ? AND user_id = ? AND parent_job_id = ?",
        (guild_id, user_id, job_id),
    )
    return int(row["n"]) if row is not None else 0
