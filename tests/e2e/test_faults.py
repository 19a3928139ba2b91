"""The fault matrix, through the real bot process: every fault ends, and the member learns how.

Discord faults (what happens to the outcome message) and provider faults (what happens to the
job) each assert what the member sees and what the ledger says at the end. The fault table in
docs/faults.md lists the same cases. Covered elsewhere and not repeated here:

- an interaction that expired before the result (401 50027 on every use of the token):
  tests/e2e/test_durability.py::test_result_after_the_interaction_expired_is_posted_in_the_channel
- a kvidAI job that never finishes: test_durability.py::test_job_past_the_deadline_fails_...
- a rate-limited kvidAI submit with Retry-After: test_generation.py::test_rate_limited_submit_...
- read timeouts (the bot's provider clients wait 30 s, too long for an end-to-end case):
  tests/providers/test_contract.py::test_poll_timeout_is_retried and
  test_submit_read_timeout_is_reported_unconfirmed, for both providers;
  to the runner a timeout is the same retryable network_error as the connection reset below.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from simulator.fake_discord import FakeApiError, FakeInteraction, FakeMessage
from simulator.fake_discord.permissions import DEFAULT_BOT_PERMISSIONS, SEND_MESSAGES, VIEW_CHANNEL
from tests.e2e.conftest import Stack, field_value
from tests.fakes.acedata import FakeAceData, KlingScenario
from tests.fakes.kvid import FakeKvid, KvidScenario
from tests.fakes.media import make_mp4

# Set small so the four delivery attempts (gaps 0.2, 0.6, 1.8 s) take under three seconds.
RETRY = "0.2"
DELIVERY_ATTEMPTS = 4  # RunnerSettings.delivery_attempts
RESULT_FETCH_ATTEMPTS = 3  # RunnerSettings.result_fetch_attempts
KLING_PRICE = 25  # kling-v2-5-turbo, std, 5 s
START = 100
CARD_EDIT = r"^/webhooks/\d+/[^/]+/messages/@original$"


def channel_path(channel_id: int) -> str:
    """Every REST path of one channel's messages (send, history)."""
    return rf"^/channels/{channel_id}/messages"


def refused_posts(stack: Stack) -> list[FakeApiError]:
    """Discord's refusals of the bot's posts in alice's channel.

    Before each retry the bot also reads the card and the channel's recent messages, which a
    closed channel may refuse too: those are not posts.
    """
    return [
        e
        for e in stack.discord.api_errors
        if e.method == "POST" and re.search(channel_path(stack.ids.channel_id), e.path)
    ]


def warnings_about(stack: Stack, job_id: str) -> list[str]:
    """The bot's WARNING log lines that name a job."""
    return [line for line in stack.bot.log().splitlines() if " WARNING " in line and job_id in line]


def outcome_posts(stack: Stack, channel_id: int) -> list[FakeMessage]:
    """Messages the bot posted in a channel outside any interaction (outcomes, not cards)."""
    return [
        m
        for m in stack.discord.channel_messages(channel_id)
        if m.interaction_id is None and m.author_id == stack.discord.bot_user_id
    ]


def direct_messages(stack: Stack) -> list[FakeMessage]:
    """What the bot sent alice by direct message."""
    dm = stack.discord.dm_channel_id(stack.ids.user_id)
    return [] if dm is None else outcome_posts(stack, dm)


async def outcome_recorded(stack: Stack, timeout: float = 30) -> dict[str, Any]:
    """Wait until the only job's outcome is delivered or parked (no step left); return its row."""

    def find() -> dict[str, Any] | None:
        rows = stack.job_rows()
        done = len(rows) == 1 and rows[0]["delivery_state"] in ("delivered", "parked")
        return rows[0] if done else None

    return await stack.discord.wait_for(find, timeout, description="the outcome to be recorded")


async def running_kling_job(stack: Stack, video: bytes) -> tuple[FakeInteraction, str]:
    """A Kling job that runs until the test completes it; returns its interaction and task id."""
    stack.kling.script(KlingScenario(polls_until_done=100_000, result_bytes=video))
    interaction = await stack.invoke("video text", {"prompt": "a red kite", "provider": "kling"})
    [task] = await stack.kling.wait_for_submissions(1, timeout=15)
    await stack.card(interaction, lambda m: field_value(m, "State") is not None)
    return interaction, task.task_id


# -- Discord --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscordFault:
    """A fault Discord shows the bot when it posts the result, and where the result ends up."""

    name: str
    arrange: Callable[[Stack], object]
    # The card's interaction token dies first, so the outcome must go through the channel.
    expire_card: bool
    lands: Literal["card", "channel", "dm"]


def _card_error(status: int, code: int, message: str) -> Callable[[Stack], object]:
    """Discord refuses every edit of the card with this error (count: more than any retry)."""
    return lambda s: s.discord.inject_error(
        "PATCH", CARD_EDIT, status=status, code=code, message=message, count=9
    )


def _no_permission(stack: Stack, permission: int) -> None:
    perms = DEFAULT_BOT_PERMISSIONS & ~permission
    stack.discord.set_channel(stack.ids.channel_id, bot_permissions=perms)


DISCORD_FAULTS = [
    DiscordFault(
        "429 on the card edit",
        lambda s: s.discord.inject_rate_limit("PATCH", CARD_EDIT, retry_after=0.3, count=2),
        expire_card=False,
        lands="card",
    ),
    DiscordFault(
        "429 on the upload",
        lambda s: s.discord.inject_rate_limit(
            "POST", channel_path(s.ids.channel_id), retry_after=0.3, count=2
        ),
        expire_card=True,
        lands="channel",
    ),
    DiscordFault(
        "expired token 50027 on the card",
        _card_error(401, 50027, "Invalid Webhook Token"),
        expire_card=False,
        lands="channel",
    ),
    DiscordFault(
        "unknown webhook 10015 on the card",
        _card_error(404, 10015, "Unknown Webhook"),
        expire_card=False,
        lands="channel",
    ),
    DiscordFault(
        "deleted channel 10003",
        lambda s: s.discord.delete_channel(s.ids.channel_id),
        expire_card=True,
        lands="dm",
    ),
    DiscordFault(
        "unknown webhook 10015 on the card, then the channel deleted",
        lambda s: (
            _card_error(404, 10015, "Unknown Webhook")(s),
            s.discord.delete_channel(s.ids.channel_id),
        ),
        expire_card=False,
        lands="dm",
    ),
    DiscordFault(
        "missing access 50001",
        lambda s: _no_permission(s, VIEW_CHANNEL),
        expire_card=True,
        lands="dm",
    ),
    DiscordFault(
        "missing permission 50013",
        lambda s: _no_permission(s, SEND_MESSAGES),
        expire_card=True,
        lands="dm",
    ),
]


@pytest.mark.bot_env(DELIVERY_RETRY_SECONDS=RETRY)
@pytest.mark.parametrize("fault", DISCORD_FAULTS, ids=lambda f: f.name)
async def test_discord_fault_still_gets_the_video_to_the_member(
    stack: Stack, fault: DiscordFault
) -> None:
    video = make_mp4(320, 240, seconds=1.0)
    interaction, task_id = await running_kling_job(stack, video)
    if fault.expire_card:
        stack.discord.expire_interaction(interaction.id)
    fault.arrange(stack)

    await stack.kling.complete(task_id)

    job = await outcome_recorded(stack)
    assert (job["state"], job["delivery_state"], job["delivery"]) == (
        "succeeded",
        "delivered",
        "attached",
    )
    posts, dms = outcome_posts(stack, stack.ids.channel_id), direct_messages(stack)
    channel_errors = refused_posts(stack)
    match fault.lands:
        case "card":
            card = interaction.original
            assert card is not None
            assert [a.data for a in card.attachments] == [video]
            assert (posts, dms) == ([], [])
        case "channel":
            [post] = posts
            assert [a.data for a in post.attachments] == [video]
            assert f"<@{stack.ids.user_id}>" in (post.content or "")
            assert dms == []
            assert warnings_about(stack, job["id"]) == []
        case "dm":
            [dm] = dms
            assert [a.data for a in dm.attachments] == [video]
            assert "Your video is ready" in (dm.content or "")
            assert field_value(dm, "State") == "✅ Done"
            # Every attempt in the channel ended on Discord's refusal; then one DM, no more.
            assert len(channel_errors) == DELIVERY_ATTEMPTS
            assert job["delivery_attempts"] == DELIVERY_ATTEMPTS
            [warning] = warnings_about(stack, job["id"])
            assert "direct message" in warning
    # The fault did happen (every injected 429 answered, every injected error hit).
    assert all(rule.remaining == 0 for rule in stack.discord.rate_limits)
    assert all(rule.hits for rule in stack.discord.error_rules)
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (START - KLING_PRICE, 0)
    assert len(stack.db.rows("SELECT * FROM ledger WHERE kind = 'capture'")) == 1


@pytest.mark.bot_env(DELIVERY_RETRY_SECONDS=RETRY)
async def test_no_channel_and_no_dm_keeps_the_result_for_video_status(stack: Stack) -> None:
    video = make_mp4(320, 240, seconds=1.0)
    interaction, task_id = await running_kling_job(stack, video)
    stack.discord.expire_interaction(interaction.id)
    _no_permission(stack, SEND_MESSAGES)
    stack.discord.set_user(stack.ids.user_id, accepts_dms=False)

    await stack.kling.complete(task_id)

    job = await outcome_recorded(stack)
    assert (job["state"], job["delivery_state"]) == ("succeeded", "parked")
    # Bounded: four tries in the channel, one direct message, and nothing left to do.
    channel_errors = refused_posts(stack)
    assert [e.code for e in channel_errors] == [50013] * DELIVERY_ATTEMPTS
    assert [e.code for e in stack.discord.api_errors if e.code == 50007] == [50007]
    assert job["delivery_attempts"] == DELIVERY_ATTEMPTS
    assert job["deliver_at"] is None  # no retry is scheduled: the runner never claims it again
    [warning] = warnings_about(stack, job["id"])
    assert "kept for /video status" in warning
    assert outcome_posts(stack, stack.ids.channel_id) == []
    assert direct_messages(stack) == []
    # Kept for the member, who pays once for it.
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (START - KLING_PRICE, 0)

    # The member finds it with /video status (in any channel) and has it posted there.
    studio = 1300000000000000099
    stack.discord.add_channel(stack.ids.guild_id, studio, "studio")
    status = await stack.invoke("video status", {"job": job["id"]}, channel_id=studio)
    shown = await status.wait_for_original(lambda m: m.embeds and not m.loading, timeout=10)
    assert shown.ephemeral
    assert field_value(shown, "State") == "✅ Done"
    assert job["id"] in shown.embed["footer"]["text"]
    assert "could not be posted in" in (field_value(shown, "Delivery") or "")
    [post_here] = shown.custom_ids
    assert post_here == f"video:post:{job['id']}"

    press = await stack.discord.click(shown.id, post_here)
    assert "will be posted in this channel" in await stack.private_reply(press)
    [post] = await stack.discord.wait_for(
        lambda: outcome_posts(stack, studio), 30, description="the kept video posted in #studio"
    )
    assert [a.data for a in post.attachments] == [video]
    assert f"<@{stack.ids.user_id}>" in (post.content or "")
    reposted = await outcome_recorded(stack)
    assert (reposted["delivery_state"], reposted["channel_id"]) == ("delivered", studio)
    # Paid once, when it was kept; posting it later charged nothing more.
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (START - KLING_PRICE, 0)
    assert len(stack.db.rows("SELECT * FROM ledger WHERE kind = 'capture'")) == 1
    # A second press finds nothing kept.
    again = await stack.discord.click(shown.id, post_here)
    assert "no longer waiting" in await stack.private_reply(again)
    assert len(outcome_posts(stack, studio)) == 1


# -- providers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """One provider's fake, seen through the same few controls."""

    name: str
    price: int
    poll: str  # the fake's endpoint name for status checks
    submit: str

    def fake(self, stack: Stack) -> FakeKvid | FakeAceData:
        return stack.kvid if self.name == "kvid" else stack.kling

    def scenario(self, stack: Stack, polls: int = 2, **kwargs: Any) -> None:
        if self.name == "kvid":
            stack.kvid.script(KvidScenario(processing_polls=polls, **kwargs))
        else:
            stack.kling.script(KlingScenario(polls_until_done=polls, **kwargs))

    def fail(
        self,
        stack: Stack,
        endpoint: str,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
    ) -> None:
        # The same failure; only the reason's wording differs between the two APIs.
        if self.name == "kvid":
            code = {429: "RATE_LIMITED"}.get(status, "internal_server_error")
        else:
            code = {429: "too_many_requests"}.get(status, "api_error")
        self.fake(stack).fail_next(
            endpoint, status=status, code=code, times=times, retry_after=retry_after
        )

    def dead_url(self, stack: Stack) -> str:
        """A result link on the provider's CDN that answers 404."""
        return self.fake(stack).cdn_url("no-such-video")

    def poll_requests(self, stack: Stack) -> list[Any]:
        if self.name == "kvid":
            return stack.kvid.requests_to("/ai/generation/status")
        return stack.kling.requests_to("/kling/tasks")


KVID = Provider("kvid", 15, poll="status", submit="submit")
KLING = Provider("kling", KLING_PRICE, poll="tasks", submit="videos")
PROVIDERS = [pytest.param(KVID, id="kvid"), pytest.param(KLING, id="kling")]


def _unknown_status_word(p: Provider, stack: Stack, provider_job_id: str) -> None:
    if p.name == "kvid":
        body: dict[str, Any] = {
            "success": True,
            "data": {"job_id": provider_job_id, "status": "upscaling"},
        }
    else:
        item = {
            "id": provider_job_id,
            "response": {"task_id": provider_job_id, "state": "upscaling"},
        }
        body = {"items": [item], "count": 1}
    p.fake(stack).respond_next(p.poll, body)  # type: ignore[arg-type]


# (name, arrange after the submit was accepted) -> the job is delivered and charged.
RECOVERED: list[tuple[str, Callable[[Provider, Stack, str], None]]] = [
    ("429 with Retry-After", lambda p, s, _: p.fail(s, p.poll, 429, retry_after="1")),
    ("429 without Retry-After", lambda p, s, _: p.fail(s, p.poll, 429, times=2)),
    ("5xx burst", lambda p, s, _: p.fail(s, p.poll, 503, times=3)),
    ("connection reset", lambda p, s, _: p.fake(s).reset_next(p.poll, times=2)),  # type: ignore[arg-type]
    ("malformed JSON", lambda p, s, _: p.fake(s).respond_next(p.poll, "{not json")),  # type: ignore[arg-type]
    ("unknown status word", _unknown_status_word),
    ("result 404 once, then found", lambda p, s, _: p.fail(s, "cdn", 404)),
    ("result connection reset once", lambda p, s, _: p.fake(s).reset_next("cdn")),
]


@pytest.mark.bot_env(DELIVERY_RETRY_SECONDS=RETRY)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("fault", "arrange"), RECOVERED, ids=[name for name, _ in RECOVERED])
async def test_transient_provider_fault_still_delivers_and_charges_once(
    stack: Stack, provider: Provider, fault: str, arrange: Callable[[Provider, Stack, str], None]
) -> None:
    video = make_mp4(320, 240, seconds=1.0)
    provider.scenario(stack, polls=3, result_bytes=video)
    interaction = await stack.invoke(
        "video text", {"prompt": "a quiet harbour", "provider": provider.name}
    )
    [submitted] = await provider.fake(stack).wait_for_submissions(1, timeout=15)
    arrange(provider, stack, getattr(submitted, "job_id", None) or submitted.task_id)

    done = await stack.card(interaction, lambda m: m.attachments, timeout=45)

    assert [a.data for a in done.attachments] == [video]
    assert field_value(done, "State") == "✅ Done"
    job = await stack.settled_job()
    assert (job["state"], job["delivery"]) == ("succeeded", "attached")
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (START - provider.price, 0)
    assert provider.fake(stack).pending_injections == 0  # the fault did happen
    assert len(provider.fake(stack).submissions) == 1  # a poll fault never sends a second job
    if fault == "429 with Retry-After":
        # Polls are 0.2 s apart and the first backoff is under 1 s: a 1 s gap is Retry-After's.
        polls = provider.poll_requests(stack)
        assert max(b.at - a.at for a, b in itertools.pairwise(polls)) >= 1.0


@pytest.mark.bot_env(DELIVERY_RETRY_SECONDS=RETRY)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("gone", ["404", "410"])
async def test_result_that_cannot_be_fetched_is_asked_for_again_then_refunded(
    stack: Stack, provider: Provider, gone: str
) -> None:
    if gone == "404":
        provider.scenario(stack, polls=1, result_url=provider.dead_url(stack))
    else:
        provider.scenario(stack, polls=1)
        provider.fail(stack, "cdn", 410, times=100)
    interaction = await stack.invoke(
        "video text", {"prompt": "a vanished video", "provider": provider.name}
    )

    job = await stack.settled_job(timeout=45)

    assert (job["state"], job["failure_code"]) == ("failed", "result_unavailable")
    assert job["result_fetches"] == RESULT_FETCH_ATTEMPTS
    card = interaction.original
    assert card is not None
    assert not card.attachments
    assert field_value(card, "State") == "❌ Failed"
    reason = field_value(card, "What happened") or ""
    assert "could not be fetched" in reason
    assert "credits were returned" in reason
    # No link to a video that does not exist: not in the text, not as a button.
    assert "http" not in (card.content or "")
    labels = [c.get("label") for row in card.components for c in row["components"]]
    assert "Open video" not in labels
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (START, 0)


@pytest.mark.bot_env(DELIVERY_RETRY_SECONDS=RETRY, MAX_DOWNLOAD_MB="1")
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_result_over_the_download_cap_is_posted_as_a_link(
    stack: Stack, provider: Provider
) -> None:
    provider.scenario(stack, polls=1, result_padding=2 * 1024 * 1024)
    interaction = await stack.invoke(
        "video text",
        {"prompt": "a very long river", "provider": provider.name},
        attachment_size_limit=100_000,
    )

    job = await stack.settled_job(timeout=45)

    assert (job["state"], job["delivery"]) == ("succeeded", "link")
    card = interaction.original
    assert card is not None
    assert not card.attachments
    assert job["result_url"] in (card.content or "")
    labels = {c.get("label"): c for row in card.components for c in row["components"]}
    assert labels["Open video"]["url"] == job["result_url"]
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (START - provider.price, 0)


@pytest.mark.bot_env(JOB_DEADLINE_SECONDS="2")
async def test_kling_job_that_never_finishes_fails_at_the_deadline_and_is_refunded(
    stack: Stack,
) -> None:
    stack.kling.script(KlingScenario(polls_until_done=100_000))
    interaction = await stack.invoke("video text", {"prompt": "forever", "provider": "kling"})

    job = await stack.settled_job(timeout=30)

    assert (job["state"], job["failure_code"]) == ("failed", "timeout")
    card = interaction.original
    assert card is not None
    assert "took too long" in (field_value(card, "What happened") or "")
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (START, 0)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_server_error_on_submit_fails_at_once_and_refunds(
    stack: Stack, provider: Provider
) -> None:
    # A 500 may mean the provider took the job: it is not sent again (no double charge there).
    provider.fail(stack, provider.submit, 500)
    interaction = await stack.invoke(
        "video text", {"prompt": "a busy kitchen", "provider": provider.name}
    )

    job = await stack.settled_job(timeout=30)

    assert job["state"] == "failed"
    card = interaction.original
    assert card is not None
    assert field_value(card, "State") == "❌ Failed"
    assert "credits were returned" in (field_value(card, "What happened") or "")
    submits = [r for r in provider.fake(stack).requests if r.method == "POST"]
    submits = [r for r in submits if "generate" in r.path or r.path.endswith("/videos")]
    assert len(submits) == 1
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (START, 0)


# -- Kling's batched polling ---------------------------------------------------------------------


@pytest.mark.bot_env(KLING_POLL_INTERVAL="1.0")
async def test_kling_result_is_delivered_within_one_poll_interval_of_finishing(
    stack: Stack,
) -> None:
    interval = 1.0
    # Three jobs, each finishing on its own clock (not after a number of polls), at moments
    # that fall between the bot's poll rounds.
    members = [stack.ids.user_id, stack.ids.other_user_id, stack.ids.moderator_id]
    stack.kling.script(*(KlingScenario(seconds_until_done=s) for s in (1.7, 2.9, 4.3)))
    interactions = [
        await stack.invoke("video text", {"prompt": f"clip {n}", "provider": "kling"}, user_id=m)
        for n, m in enumerate(members)
    ]
    tasks = await stack.kling.wait_for_submissions(3, timeout=15)

    for interaction, task in zip(interactions, tasks, strict=True):
        done = await stack.card(interaction, lambda m: m.attachments, timeout=30)
        assert task.finished_mono is not None
        edits = [
            r.time
            for r in stack.discord.requests_matching("PATCH", CARD_EDIT)
            if interaction.token in r.path
        ]
        delivered_at = max(edits)
        assert done.attachments
        assert delivered_at - task.finished_mono <= interval + 1.0, (
            f"delivered {delivered_at - task.finished_mono:.2f}s after the task finished"
        )


# -- prompts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    ["\u200b\u200b", "\u200b \ufeff\u2060", "\u3000\u2028\u2029", " \t\u00a0\u200e"],
    ids=[
        "zero-width spaces",
        "ZWSP BOM word-joiner",
        "ideographic space and separators",
        "Cc Zs Cf",
    ],
)
async def test_invisible_prompt_is_refused_before_anything_is_held(
    stack: Stack, prompt: str
) -> None:
    interaction = await stack.invoke("video text", {"prompt": prompt})

    reply = await stack.private_reply(interaction)

    assert "The prompt is empty" in reply
    assert stack.job_rows() == []
    assert stack.db.rows("SELECT * FROM holds") == []
    assert stack.kvid.submissions == []
