"""Per-provider adapters: how Kling and kvid (and their fakes) spell what every provider does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import httpx

from bot.providers import kling, kvid
from bot.providers.base import VideoRequest
from bot.providers.kling import KlingProvider
from bot.providers.kvid import KvidProvider
from tests.fakes.acedata import FakeAceData, KlingScenario
from tests.fakes.kvid import FakeKvid, KvidScenario
from tests.providers.support import RecordingSleep, fast_options

P = TypeVar("P", KlingProvider, KvidProvider)
F = TypeVar("F", FakeAceData, FakeKvid)
AnyProvider = KlingProvider | KvidProvider
AnyFake = FakeAceData | FakeKvid


@dataclass(frozen=True)
class Contract(Generic[P, F]):
    """How one provider and its fake spell the behaviours every provider shares."""

    name: str
    secret: str
    # The environment variable an empty secret's error names.
    secret_variable: str
    fake_class: Callable[[str], F]
    build_client: Callable[..., httpx.AsyncClient]
    provider_class: type[P]
    text: VideoRequest
    image: VideoRequest
    # The fake's endpoint names (as fail_next takes them) and the paths of a text job behind them.
    submit_endpoint: str
    poll_endpoint: str
    submit_path: str
    poll_path: str
    # The provider's own rate-limit codes for a 429 on submit and on poll.
    submit_429_code: str
    poll_429_code: str
    # A code the provider reads as "bad options", and how an error might echo the secret.
    options_code: str
    echo_prefix: str
    # (code, HTTP status) of the failure a wrong secret gives.
    wrong_secret: tuple[str, int]
    # A job still running after `polls` polls, and one finished at the first poll.
    pending_for: Callable[[int], Any]
    done_at_once: Callable[..., Any]

    def make_provider(
        self,
        base_url: str,
        sleep: RecordingSleep,
        *,
        timeout: float = 5.0,
        secret: str | None = None,
        **options: Any,
    ) -> P:
        """The provider under test, talking to `base_url` with fast, recorded retries."""
        client = self.build_client(base_url, secret or self.secret, timeout=httpx.Timeout(timeout))
        return self.provider_class(client, **fast_options(sleep, **options))


def _text(model: str, resolution: str) -> VideoRequest:
    """The plain text-to-video request the tests start from."""
    return VideoRequest(
        kind="text", prompt="A woman is drinking coffee.", model=model, resolution=resolution
    )


def _image(model: str, resolution: str) -> VideoRequest:
    """The plain image-to-video request the tests start from."""
    return VideoRequest(
        kind="image",
        prompt="The tiger blinks.",
        model=model,
        resolution=resolution,
        image_url="https://cdn.example/tiger.png",
    )


KLING: Final = Contract(
    name="Kling",
    secret="ace-SECRET-4b1f0c9e77d2a6385",
    secret_variable="KLING_API_KEY",
    fake_class=FakeAceData,
    build_client=kling.build_client,
    provider_class=KlingProvider,
    text=_text("kling-v1", "std"),
    image=_image("kling-v1-6", "pro"),
    submit_endpoint="videos",
    poll_endpoint="tasks",
    submit_path=kling.VIDEOS_PATH,
    poll_path=kling.TASKS_PATH,
    submit_429_code="too_many_requests",
    poll_429_code="too_many_requests",
    options_code="bad_request",
    echo_prefix="bad token Bearer ",
    wrong_secret=("invalid_token", 401),
    pending_for=lambda polls: KlingScenario(polls_until_done=polls),
    done_at_once=lambda **fields: KlingScenario(polls_until_done=0, **fields),
)
KVID: Final = Contract(
    name="kvidAI",
    secret="kvid-SECRET-7f3a9c2e51d84b06",
    secret_variable="KVID_API_KEY",
    fake_class=FakeKvid,
    build_client=kvid.build_client,
    provider_class=KvidProvider,
    text=_text("v2", "720p"),
    image=_image("v2", "720p"),
    submit_endpoint="submit",
    poll_endpoint="status",
    submit_path=kvid.SUBMIT_PATHS["text"],
    poll_path=kvid.STATUS_PATH,
    submit_429_code="RATE_LIMITED",
    poll_429_code="CONCURRENT_LIMIT",
    options_code="INVALID_PARAMETERS",
    echo_prefix="bad key ",
    wrong_secret=("invalid_api_key", 403),
    pending_for=lambda polls: KvidScenario(queued_polls=polls),
    done_at_once=lambda **fields: KvidScenario(processing_polls=0, **fields),
)
