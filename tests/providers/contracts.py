"""Per-provider adapters: how Kling and kvid (and their fakes) spell what every provider does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Generic, TypeVar

import httpx

from bot.providers import kling, kvid
from bot.providers.base import VideoRequest
from bot.providers.kling import KlingProvider
from bot.providers.kvid import KvidProvider
from tests.fakes.acedata import DOCUMENTED_ERRORS as ACEDATA_DOCUMENTED
from tests.fakes.acedata import FakeAceData, KlingScenario
from tests.fakes.kvid import DOCUMENTED_ERRORS as KVID_DOCUMENTED
from tests.fakes.kvid import FakeKvid, KvidScenario
from tests.providers.support import RecordingSleep, fast_options, injected_failure

P = TypeVar("P", KlingProvider, KvidProvider)
F = TypeVar("F", FakeAceData, FakeKvid)
AnyProvider = KlingProvider | KvidProvider
AnyFake = FakeAceData | FakeKvid


@dataclass(frozen=True)
class Contract(Generic[P, F]):
    """How one provider and its fake spell the behaviours every provider shares."""

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
    # Requests validate() refuses, each with a pattern of what the refusal names; requests it takes.
    refused: Sequence[tuple[VideoRequest, str]]
    supported: Sequence[VideoRequest]
    # The provider's error codes by what they mean to a member, and the message a code gives.
    meanings: Mapping[str, Sequence[str]]
    member_message: Callable[[F, P, str], Awaitable[str]]

    @property
    def name(self) -> str:
        """The provider's display name, as its member messages spell it."""
        return self.provider_class.display_name

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


# -- the requests the tests start from, and what each provider refuses or takes ------------------


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


KLING_TEXT: Final = _text("kling-v1", "std")
KLING_IMAGE: Final = _image("kling-v1-6", "pro")
KLING_EXTEND: Final = VideoRequest(
    kind="extend",
    prompt="She puts the cup down and smiles.",
    model="kling-v1-6",
    resolution="std",
    extend_video_id="900798310464749610",
)
KVID_TEXT: Final = _text("v2", "720p")
KVID_IMAGE: Final = _image("v2", "720p")

_KLING_REFUSED: Final = (
    (
        replace(KLING_IMAGE, end_image_url="https://cdn.example/end.png", duration=10),
        "only 5-second clips, not 10",
    ),
    (replace(KLING_TEXT, model="kling-v3", resolution="4k", camera="pan_left"), "std or pro"),
    (replace(KLING_TEXT, cfg_scale=2.0), "from 0 to 1"),
    (replace(KLING_TEXT, cfg_scale=float("nan")), "from 0 to 1"),
    (replace(KLING_TEXT, cfg_scale=-0.1), "from 0 to 1"),
    (replace(KLING_TEXT, negative_prompt="x" * 201), "201 characters.*at most 200"),
    (
        replace(KLING_EXTEND, model="kling-v3"),
        "kling-v3 cannot extend.*kling-v1, kling-v1-6, kling-v2-5-turbo",
    ),
    (replace(KLING_TEXT, seed=42), "seed"),
    (replace(KLING_TEXT, resolution="4k"), "std, pro"),
    (replace(KLING_TEXT, model="kling-o1", duration=10), "5 seconds, not 10"),
    (replace(KLING_TEXT, model="kling-v3", duration=20), "makes clips of 3-15 seconds, not 20"),
    (replace(KLING_TEXT, duration=7), "5 or 10 seconds"),
    (replace(KLING_TEXT, aspect_ratio="4:3"), "16:9, 9:16, 1:1"),
    (replace(KLING_EXTEND, aspect_ratio="16:9"), "aspect ratio"),
    (replace(KLING_TEXT, end_image_url="https://cdn.example/end.png"), "image-to-video"),
    (replace(KLING_IMAGE, end_image_url="file:///end.png"), "http"),
    (replace(KLING_EXTEND, extend_video_id=None), "finished job"),
    (replace(KLING_TEXT, extend_video_id="123"), "extend"),
    (replace(KLING_TEXT, image_url="https://cdn.example/x.png"), "image-to-video"),
    (replace(KLING_IMAGE, image_url=None), "image"),
    (replace(KLING_IMAGE, image_url="file:///etc/passwd"), "http"),
    (replace(KLING_TEXT, camera="dolly_zoom"), "Choose one of: zoom_in"),
    (replace(KLING_TEXT, model="kling-v9"), "kling-v1, kling-v1-6"),
    (replace(KLING_TEXT, prompt="x" * 2501), "2500"),
    (replace(KLING_TEXT, prompt="x" * 2495, camera="close_up"), "camera move written in"),
    (replace(KLING_TEXT, prompt="  "), "empty"),
)
_KLING_SUPPORTED: Final = (
    replace(KLING_TEXT, model="kling-v3", resolution="4k", duration=3),
    replace(
        KLING_TEXT, model="kling-v3-omni", resolution="pro", duration=15, camera="roll_clockwise"
    ),
    replace(KLING_TEXT, model="kling-o1", duration=5, aspect_ratio="1:1"),
    replace(KLING_IMAGE, end_image_url="https://cdn.example/end.png"),
    replace(KLING_TEXT, cfg_scale=0.0, negative_prompt="x" * 200),
    replace(KLING_TEXT, cfg_scale=1.0, camera="over_the_shoulder"),
    replace(KLING_EXTEND, model="kling-v2-5-turbo"),
    replace(KLING_EXTEND, model="kling-v1"),
)
_KVID_REFUSED: Final = (
    (replace(KVID_TEXT, model="v1", resolution="1080p"), "480p, 720p"),
    (replace(KVID_TEXT, model="v9"), "v1, v2, v3"),
    (replace(KVID_TEXT, aspect_ratio="16:9"), "aspect ratio"),
    (replace(KVID_IMAGE, aspect_ratio="4:3"), "auto, 16:9, 9:16, 1:1"),
    (replace(KVID_TEXT, duration=5), "chooses the clip length"),
    (replace(KVID_TEXT, negative_prompt="blurry"), "negative prompt"),
    (replace(KVID_TEXT, num_inference_steps=0), "1–100"),
    (replace(KVID_TEXT, num_inference_steps=101), "1–100"),
    (replace(KVID_TEXT, seed=-1), "0 to 4294967295"),
    (replace(KVID_IMAGE, image_url=None), "image"),
    (replace(KVID_IMAGE, image_url="file:///etc/passwd"), "http"),
    (replace(KVID_TEXT, image_url="https://cdn.example/x.png"), "image-to-video"),
    (replace(KVID_TEXT, prompt="x" * 2001), "2000"),
    (replace(KVID_TEXT, prompt="   "), "empty"),
)
_KVID_SUPPORTED: Final = (
    replace(KVID_TEXT, model="v1", resolution="480p"),
    replace(KVID_TEXT, model="v3", resolution="1080p", seed=0, num_inference_steps=100),
    replace(KVID_IMAGE, aspect_ratio="auto"),
    replace(KVID_IMAGE, model="v1", aspect_ratio="1:1", num_inference_steps=1),
)


# -- error messages -------------------------------------------------------------------------------

# Codes that mean the same thing to a member share a message; different meanings must not.
_KLING_MEANINGS: Final = {
    "token unusable": ["no_token", "invalid_token", "token_expired", "authorization_missing"],
    "token for another api": ["token_mismatched"],
    "account disabled": ["disabled"],
    "balance used up": ["used_up"],
    "feature not offered": ["api_not_implemented"],
    "wrong address": ["no_api"],
    "bad options": ["bad_request"],
    "content policy": ["forbidden"],
    "rate limited": ["too_many_requests"],
    "server error": ["api_error"],
}
_KVID_MEANINGS: Final = {
    "no credit": ["INSUFFICIENT_CREDITS", "INSUFFICIENT_CREDIT"],
    "bad options": ["ValidationError", "MISSING_PARAMETERS", "INVALID_PARAMETERS"],
    "bad prompt": ["PROMPT_VALIDATION_ERROR"],
    "operator account": ["USER_NOT_FOUND", "invalid_api_key"],
    "not ready": ["RESULT_FETCH_ERROR", "JOB_NOT_COMPLETED"],
    "small image": ["image_too_small"],
    "large image": ["image_too_large"],
    "content policy": ["content_policy_violation"],
    "too slow": ["generation_timeout"],
    "rate limited": ["RATE_LIMITED"],
    "at capacity": ["CONCURRENT_LIMIT"],
    "server error": ["internal_server_error"],
    "job gone": ["JOB_NOT_FOUND"],
    "job failed": ["JOB_FAILED"],
}


async def _kling_member_message(fake: FakeAceData, kling: KlingProvider, code: str) -> str:
    """The member message for AceData's `code`, sent with its documented status."""
    status = next((s for s, c in ACEDATA_DOCUMENTED if c == code), 401)
    fake.fail_next("tasks", status=status, code=code, shape="code_only", times=10)
    return (await injected_failure(fake, kling.poll("t"))).member_message


async def _kvid_member_message(fake: FakeKvid, kvid: KvidProvider, code: str) -> str:
    """The member message for kvid's `code`, sent with its documented status."""
    status = next((s for c, s, _ in KVID_DOCUMENTED if c == code), 403)
    if code == "invalid_api_key":
        fake.fail_next("status", status=403, code=None, shape="no_code")
    else:
        fake.fail_next("status", status=status, code=code, times=10)
    failure = await injected_failure(fake, kvid.poll("vid_1_x"))
    assert failure.code == code
    return failure.member_message


# -- the adapters ---------------------------------------------------------------------------------

KLING: Final = Contract(
    secret="ace-SECRET-4b1f0c9e77d2a6385",
    secret_variable="KLING_API_KEY",
    fake_class=FakeAceData,
    build_client=kling.build_client,
    provider_class=KlingProvider,
    text=KLING_TEXT,
    image=KLING_IMAGE,
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
    refused=_KLING_REFUSED,
    supported=_KLING_SUPPORTED,
    meanings=_KLING_MEANINGS,
    member_message=_kling_member_message,
)
KVID: Final = Contract(
    secret="kvid-SECRET-7f3a9c2e51d84b06",
    secret_variable="KVID_API_KEY",
    fake_class=FakeKvid,
    build_client=kvid.build_client,
    provider_class=KvidProvider,
    text=KVID_TEXT,
    image=KVID_IMAGE,
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
    refused=_KVID_REFUSED,
    supported=_KVID_SUPPORTED,
    meanings=_KVID_MEANINGS,
    member_message=_kvid_member_message,
)
# Every provider the contract suite runs against.
CONTRACTS: Final = (KLING, KVID)
