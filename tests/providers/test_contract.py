"""What every HTTP provider promises, checked for Kling and kvid against their fakes."""

from __future__ import annotations

import email.utils
import io
import logging
import socket
import time
from contextlib import aclosing
from typing import Any

import av
import httpx
import pytest

from bot.providers.base import BatchPolling, ProviderError, VideoRequest
from tests.fakes.media import make_mp4
from tests.providers.contracts import CONTRACTS, AnyFake, AnyProvider, Contract
from tests.providers.support import (
    FAST_RETRY,
    HONOURS_RETRY_AFTER,
    RecordingSleep,
    assert_one_message_per_meaning,
    assert_refused,
    failure_of,
    raw_chunks,
    submit_and_poll,
)

CLIP = make_mp4(64, 48, seconds=0.25, fps=8)
AnyContract = Contract[Any, Any]


@pytest.fixture(params=CONTRACTS, ids=lambda contract: contract.name)
def contract(request: pytest.FixtureRequest) -> AnyContract:
    """Each provider in turn."""
    return request.param


# -- downloads ------------------------------------------------------------------------------------


async def test_large_slow_video_is_served_in_chunks(
    contract: AnyContract, fake: AnyFake, provider: AnyProvider
) -> None:
    fake.script(contract.done_at_once(result_bytes=CLIP, result_padding=300_000, chunk_delay=0.01))
    _, [done] = await submit_and_poll(provider, contract.text)
    assert done.video_url is not None
    chunks = await raw_chunks(done.video_url)
    data = b"".join(chunks)
    assert len(data) == len(CLIP) + 300_000
    assert data.startswith(CLIP)
    assert len(chunks) > 1
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].width == 64


async def test_video_is_missing_until_done(
    contract: AnyContract, fake: AnyFake, provider: AnyProvider
) -> None:
    job_id = (await provider.submit(contract.text)).provider_job_id
    async with httpx.AsyncClient() as http:
        assert (await http.get(fake.cdn_url(job_id))).status_code == 404


# -- the secret -----------------------------------------------------------------------------------


async def test_wrong_secret_is_an_operator_problem(
    contract: AnyContract, fake: AnyFake, sleeps: RecordingSleep
) -> None:
    wrong = contract.make_provider(fake.base_url, sleeps, secret="not-the-secret")
    async with aclosing(wrong) as made:
        failure = await failure_of(made.submit(contract.text))
    assert (failure.code, failure.http_status) == contract.wrong_secret
    assert not failure.retryable
    assert "admin" in failure.member_message
    assert fake.accepted() == {}
    assert [r.authorized for r in fake.requests] == [False]


async def test_secret_never_leaks(
    contract: AnyContract, fake: AnyFake, sleeps: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    secret = contract.secret
    caplog.set_level(logging.DEBUG)
    async with aclosing(contract.make_provider(fake.base_url, sleeps)) as made:
        texts = [
            repr(made),
            repr(made._client),
            repr(made._client.headers),
            repr(made._client.auth),
        ]
        job_id, _ = await submit_and_poll(made, contract.text)
        if isinstance(made, BatchPolling):
            await made.poll_many([job_id])
        # A server that echoes the secret back in its errors must not make us repeat it.
        echo = contract.echo_prefix + secret
        fake.fail_next(contract.poll_endpoint, status=500, message=echo, times=10)
        with pytest.raises(ProviderError) as on_poll:
            await made.poll(job_id)
        code = contract.options_code
        fake.fail_next(contract.submit_endpoint, status=400, code=code, message=secret)
        with pytest.raises(ProviderError) as on_submit:
            await made.submit(contract.text)
        fake.fail_next(contract.poll_endpoint, status=200, body=f"<html>{secret}</html>", times=10)
        with pytest.raises(ProviderError) as on_text:
            await made.poll(job_id)
    for caught in (on_poll, on_submit, on_text):
        assert "[redacted]" in caught.value.failure.detail
        texts += [str(caught.value), repr(caught.value), repr(caught.value.failure)]
    assert all(secret not in text for text in texts)
    # DEBUG really was on for the HTTP stack, and nothing it logged carries the secret.
    assert {"httpx", "httpcore.http11", "bot.providers.http"} <= {r.name for r in caplog.records}
    assert secret not in caplog.text
    assert all(secret not in str(r.__dict__) for r in caplog.records)
    # The secret was sent, though: the fake saw authorized requests throughout.
    assert all(r.authorized for r in fake.requests)
    assert all(secret not in str(r) for r in fake.requests)


def test_build_client_refuses_an_empty_secret(contract: AnyContract) -> None:
    with pytest.raises(ValueError, match=contract.secret_variable):
        contract.build_client("http://127.0.0.1:9", "  ")


# -- retries --------------------------------------------------------------------------------------


async def test_rate_limited_submit_waits_for_retry_after_then_succeeds(
    contract: AnyContract, fake: AnyFake, sleeps: RecordingSleep
) -> None:
    patient = contract.make_provider(fake.base_url, sleeps, retry=HONOURS_RETRY_AFTER)
    async with aclosing(patient) as made:
        code = contract.submit_429_code
        fake.fail_next(contract.submit_endpoint, status=429, code=code, retry_after="3")
        submission = await made.submit(contract.text)
    assert sleeps.delays == [3.0]
    assert len(fake.requests_to(contract.submit_path)) == 2
    assert list(fake.accepted()) == [submission.provider_job_id]


async def test_rate_limited_poll_honours_an_http_date(
    contract: AnyContract, fake: AnyFake, sleeps: RecordingSleep
) -> None:
    patient = contract.make_provider(fake.base_url, sleeps, retry=HONOURS_RETRY_AFTER)
    async with aclosing(patient) as made:
        when = email.utils.formatdate(time.time() + 20, usegmt=True)
        job_id = (await made.submit(contract.text)).provider_job_id
        code = contract.poll_429_code
        fake.fail_next(contract.poll_endpoint, status=429, code=code, retry_after=when)
        update = await made.poll(job_id)
    assert update.state == "pending"
    [delay] = sleeps.delays
    assert 17.0 <= delay <= 20.0


async def test_submit_read_timeout_is_reported_unconfirmed(
    contract: AnyContract, fake: AnyFake, sleeps: RecordingSleep
) -> None:
    async with aclosing(contract.make_provider(fake.base_url, sleeps, timeout=0.3)) as made:
        fake.delay_next(contract.submit_endpoint, 2.0)
        failure = await failure_of(made.submit(contract.text))
    assert failure.code == "submit_unconfirmed"
    assert failure.retryable
    assert f"{contract.name} did not confirm" in failure.member_message
    # The job exists although we never heard back: exactly why it was not resent.
    assert len(fake.accepted()) == 1
    assert len(fake.requests_to(contract.submit_path)) == 1


async def test_poll_timeout_is_retried(
    contract: AnyContract, fake: AnyFake, sleeps: RecordingSleep
) -> None:
    async with aclosing(contract.make_provider(fake.base_url, sleeps, timeout=0.3)) as made:
        fake.script(contract.pending_for(5))
        job_id = (await made.submit(contract.text)).provider_job_id
        fake.delay_next(contract.poll_endpoint, 2.0)
        update = await made.poll(job_id)
    assert update.state == "pending"
    assert len(fake.requests_to(contract.poll_path)) == 2
    assert len(sleeps.delays) == 1


async def test_unreachable_server_is_retried_then_raised(
    contract: AnyContract, sleeps: RecordingSleep
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with aclosing(contract.make_provider(f"http://127.0.0.1:{port}", sleeps)) as made:
        failure = await failure_of(made.submit(contract.text))
    assert failure.code == "network_error"
    assert failure.retryable
    assert len(sleeps.delays) == FAST_RETRY.attempts - 1


# -- error messages -------------------------------------------------------------------------------


async def test_messages_differ_exactly_between_meanings(
    contract: AnyContract, fake: AnyFake, provider: AnyProvider
) -> None:
    await assert_one_message_per_meaning(
        contract.meanings, lambda code: contract.member_message(fake, provider, code)
    )


async def test_messages_name_the_provider_and_promise_no_refund(
    contract: AnyContract, fake: AnyFake, provider: AnyProvider
) -> None:
    # `meanings` covers the whole error table (each provider file checks that).
    for code in {c for codes in contract.meanings.values() for c in codes}:
        message = (await contract.member_message(fake, provider, code)).lower()
        assert "refund" not in message
        assert "charged" not in message
        assert contract.name.lower() in message


# -- validation -----------------------------------------------------------------------------------


def _case_id(value: object) -> str | None:
    """Name a case by its provider and let pytest number the rest."""
    return value.name if isinstance(value, Contract) else None


@pytest.mark.parametrize(
    ("contract", "request_", "expected"),
    [(c, request_, expected) for c in CONTRACTS for request_, expected in c.refused],
    indirect=["contract"],
    ids=_case_id,
)
async def test_validation_refusals_name_what_is_allowed(
    fake: AnyFake, provider: AnyProvider, request_: VideoRequest, expected: str
) -> None:
    await assert_refused(provider, request_, expected)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("contract", "request_"),
    [(c, request_) for c in CONTRACTS for request_ in c.supported],
    indirect=["contract"],
    ids=_case_id,
)
async def test_supported_requests_reach_the_fake(
    fake: AnyFake, provider: AnyProvider, request_: VideoRequest
) -> None:
    provider.validate(request_)
    await provider.submit(request_)  # the fake applies the contract's own parameter checks
    assert len(fake.accepted()) == 1
