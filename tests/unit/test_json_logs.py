"""LOG_FORMAT=json: one parseable object per line, job ids from the task, secrets masked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import log_job, make_handler

SECRET = "kvid-key-0123456789abcdef"


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose only handler is the bot's JSON handler, writing to a buffer."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.json_logs")
    logger.handlers[:] = [make_handler(stream, [SECRET], "json")]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.handlers.clear()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    """Every line parsed as JSON (fails if one is not)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_each_line_is_an_object_with_the_job_of_its_task(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log

    async def step(job_id: str) -> None:
        log_job(job_id)
        await asyncio.sleep(0)  # the other step runs in between: the ids must not mix
        logger.info("polled %s", "once")

    logger.info("before any job")
    await asyncio.gather(asyncio.create_task(step("job-a")), asyncio.create_task(step("job-b")))
    logger.info("after the steps")

    first, *steps, last = lines(stream)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.json_logs"
    assert str(first["time"]).endswith("Z")
    assert sorted(str(s["job_id"]) for s in steps) == ["job-a", "job-b"]
    assert all(s["message"] == "polled once" for s in steps)
    # Set inside a step's task, the id never leaks to the code that started the steps.
    assert "job_id" not in last


def test_secrets_are_masked_in_messages_and_exceptions(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    try:
        raise RuntimeError(f"provider echoed api-key {SECRET}")
    except RuntimeError:
        logger.exception("submit failed with key %s", SECRET, extra={"job_id": "job-c"})
    logger.info('interaction /interactions/123/%s done, payload {"token": "abc"}', "x" * 30)

    failure, interaction = lines(stream)
    assert failure["job_id"] == "job-c"
    assert failure["level"] == "ERROR"
    assert failure["message"] == "submit failed with key ****"
    assert "RuntimeError: provider echoed api-key ****" in str(failure["exception"])
    assert (
        interaction["message"]
        == 'interaction /interactions/123/**** done, payload {"token": "****"}'
    )
    assert SECRET not in stream.getvalue()


def test_text_format_is_unchanged(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, _ = json_log
    stream = io.StringIO()
    logger.handlers[:] = [make_handler(stream, [SECRET], "text")]
    logger.warning("key %s", SECRET)
    line = stream.getvalue().strip()
    assert line.endswith(" WARNING tests.json_logs: key ****")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
