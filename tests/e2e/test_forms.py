"""Forms (Remix, Extend, Deny with a reason) opened by several people at once, through the real
bot: each submission acts on the object its own form names, charges only its submitter, and is
answered, in either order and across a restart; stale forms are refused privately, for free."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

from simulator.fake_discord import FakeInteraction, FakeMessage
from tests.e2e.community_helpers import (
    MODS_CHANNEL,
    approval_setup,
    posted_request,
    reply,
    shares_need_review,
    text_of,
)
from tests.e2e.conftest import Stack, field_value
from tests.fakes.acedata import KlingScenario
from tests.fakes.kvid import KvidScenario

ORDERS = ["alice-first", "carol-first"]
RESTART = [pytest.param(False, id="same-process"), pytest.param(True, id="restart-between")]


def buttons(message: FakeMessage) -> dict[str, dict[str, Any]]:
    """The message's buttons by label."""
    return {c.get("label"): c for row in message.components for c in row["components"]}


def job_of(message: FakeMessage) -> str:
    """The job a result message is about (its buttons carry it)."""
    return str(buttons(message)["Retry"]["custom_id"].rsplit(":", 1)[1])


async def finished_video(
    stack: Stack, user_id: int, prompt: str, provider: str = "kvid", **options: str
) -> FakeMessage:
    """A member's finished video through /video text; returns the result message.

    Returns once the delivery is recorded too (its hold captured in the same transaction): the
    message shows up a moment before that, and a test reading balances must not see the hold.
    """
    interaction = await stack.invoke(
        "video text", {"prompt": prompt, "provider": provider, **options}, user_id=user_id
    )
    message = await stack.card(interaction, lambda m: m.attachments, timeout=30)
    job_id = job_of(message)
    await stack.discord.wait_for(
        lambda: stack.db.rows(
            "SELECT id FROM jobs WHERE id = ? AND delivered_at IS NOT NULL", (job_id,)
        ),
        30,
        description=f"the delivery of {job_id} to be recorded",
    )
    return message


async def open_form(
    stack: Stack, message: FakeMessage, label: str, user_id: int
) -> FakeInteraction:
    """Press a button that opens a form; return the press (its `modal` is the form)."""
    press = await stack.discord.click(
        message.id, buttons(message)[label]["custom_id"], user_id=user_id
    )
    await press.wait_until(lambda i: i.modal is not None)
    return press


async def submit(
    stack: Stack,
    press: FakeInteraction,
    values: dict[str, str],
    user_id: int,
    *,
    custom_id: str | None = None,
    locale: str | None = None,
) -> FakeInteraction:
    """Submit the form `press` opened, as Discord would send it for that member."""
    assert press.modal is not None
    return await stack.discord.submit_modal(
        custom_id or press.modal["custom_id"],
        values,
        user_id=user_id,
        interaction=press,
        locale=locale,
    )


def in_order(order: str, alice: Any, carol: Any) -> list[Any]:
    """The two members' steps in the order the test case names."""
    return [alice, carol] if order == "alice-first" else [carol, alice]


async def restart(stack: Stack) -> None:
    """Kill the bot outright and start it again (no form survives in its memory)."""
    await stack.bot.kill()
    await stack.start_bot()


def jobs_by_prompt(stack: Stack) -> dict[str, dict[str, object]]:
    """Every job by its prompt."""
    return {json.loads(str(r["request_json"]))["prompt"]: r for r in stack.job_rows()}


def each_paid_for_their_own(stack: Stack, owners: dict[str, int]) -> dict[str, dict[str, object]]:
    """Assert the jobs are `owners` (prompt: member) and each member paid for their own only.

    Every job has finished: a member's balance is the 100 they started with less the prices of
    their own jobs, with nothing still held. Returns the jobs by prompt.
    """
    jobs = jobs_by_prompt(stack)
    assert {p: r["user_id"] for p, r in jobs.items()} == owners
    for who in set(owners.values()):
        own = sum(int(r["price"]) for r in jobs.values() if r["user_id"] == who)  # type: ignore[call-overload]
        assert stack.db.balance(stack.ids.guild_id, who) == (100 - own, 0)
    return jobs


async def all_delivered(stack: Stack, count: int) -> None:
    """Wait until `count` jobs exist and every one was delivered."""
    await stack.discord.wait_for(
        lambda: len(rows := stack.job_rows()) == count and all(r["delivered_at"] for r in rows),
        60,
        description=f"{count} delivered jobs",
    )


async def submit_in_order(
    stack: Stack,
    order: str,
    alice: tuple[int, FakeInteraction, dict[str, str]],
    carol: tuple[int, FakeInteraction, dict[str, str]],
) -> list[FakeInteraction]:
    """Submit the two (member, form, values) in the order the case names."""
    submissions = []
    for who, form, values in in_order(order, alice, carol):
        submissions.append(await submit(stack, form, values, who))
    return submissions


class OwnForm(NamedTuple):
    """A member's form on their own video: the id the form must carry, and what they type."""

    video: FakeMessage
    who: int
    form_id: str
    values: dict[str, str]


async def both_use_their_own_forms(
    stack: Stack, label: str, order: str, restarted: bool, alice: OwnForm, carol: OwnForm
) -> None:
    """Alice, then carol, open the `label` form of their own video; after a restart if the case
    asks, both submit in the case's order; each is answered with the card of its own new video.
    """
    forms = [await open_form(stack, own.video, label, own.who) for own in (alice, carol)]
    for form, own in zip(forms, (alice, carol), strict=True):
        assert form.modal is not None
        assert form.modal["custom_id"] == own.form_id
    if restarted:
        await restart(stack)
    submissions = await submit_in_order(
        stack, order, (alice.who, forms[0], alice.values), (carol.who, forms[1], carol.values)
    )
    for submitted in submissions:
        await stack.card(submitted, lambda m: m.attachments, timeout=30)
    await all_delivered(stack, 4)


# -- two members, two forms, at once ---------------------------------------------------------


@pytest.mark.parametrize("restarted", RESTART)
@pytest.mark.parametrize("order", ORDERS)
async def test_two_members_extend_their_own_videos_at_once(
    stack: Stack, order: str, restarted: bool
) -> None:
    ids = stack.ids
    alice, carol = ids.user_id, ids.other_user_id
    stack.kling.set_default(KlingScenario(polls_until_done=1))
    alice_video = await finished_video(stack, alice, "alice's kite", "kling")
    carol_video = await finished_video(stack, carol, "carol's boat", "kling")
    videos = {t.request["prompt"]: t.video_id for t in stack.kling.submissions}
    alice_job, carol_job = job_of(alice_video), job_of(carol_video)

    # Alice opens her form first, carol second: the last form opened used to take over both.
    # Both submissions are answered, each with the card of its own extension.
    await both_use_their_own_forms(
        stack,
        "Extend",
        order,
        restarted,
        OwnForm(
            alice_video, alice, f"video:extend-form:{alice_job}:0", {"prompt": "alice's kite lands"}
        ),
        OwnForm(
            carol_video,
            carol,
            f"video:extend-form:{carol_job}:0",
            {"prompt": "carol's boat sails on"},
        ),
    )
    extends = {
        t.request["prompt"]: t.request["video_id"]
        for t in stack.kling.submissions
        if t.request["action"] == "extend"
    }
    assert extends == {
        "alice's kite lands": videos["alice's kite"],
        "carol's boat sails on": videos["carol's boat"],
    }
    jobs = each_paid_for_their_own(
        stack,
        {
            "alice's kite": alice,
            "alice's kite lands": alice,
            "carol's boat": carol,
            "carol's boat sails on": carol,
        },
    )
    assert jobs["alice's kite lands"]["parent_job_id"] == alice_job
    assert jobs["carol's boat sails on"]["parent_job_id"] == carol_job


@pytest.mark.parametrize("restarted", RESTART)
@pytest.mark.parametrize("order", ORDERS)
async def test_two_members_remix_their_own_videos_at_once(
    stack: Stack, order: str, restarted: bool
) -> None:
    ids = stack.ids
    alice, carol = ids.user_id, ids.other_user_id
    stack.kvid.set_default(KvidScenario(processing_polls=1))
    # Different models: a remix keeps the model of the video it remixes, so it shows which.
    alice_video = await finished_video(stack, alice, "a red fox", model="v3")
    carol_video = await finished_video(stack, carol, "a grey owl", model="v2")

    await both_use_their_own_forms(
        stack,
        "Remix",
        order,
        restarted,
        OwnForm(
            alice_video,
            alice,
            f"video:remix-form:{job_of(alice_video)}",
            {"prompt": "a blue fox", "resolution": "480p"},
        ),
        OwnForm(
            carol_video,
            carol,
            f"video:remix-form:{job_of(carol_video)}",
            {"prompt": "a white owl", "resolution": "1080p"},
        ),
    )
    sent = {
        s.body["prompt"]: (s.body["model"], s.body["resolution"]) for s in stack.kvid.submissions
    }
    assert sent == {
        "a red fox": ("v3", "720p"),
        "a grey owl": ("v2", "720p"),
        "a blue fox": ("v3", "480p"),
        "a white owl": ("v2", "1080p"),
    }
    each_paid_for_their_own(
        stack,
        {"a red fox": alice, "a blue fox": alice, "a grey owl": carol, "a white owl": carol},
    )


@pytest.mark.parametrize("restarted", RESTART)
@pytest.mark.parametrize("order", ORDERS)
async def test_two_moderators_deny_two_requests_at_once(
    stack: Stack, order: str, restarted: bool
) -> None:
    ids = stack.ids
    alice, carol = ids.user_id, ids.other_user_id
    await approval_setup(stack)
    for who, prompt in ((alice, "alice's borderline idea"), (carol, "carol's borderline idea")):
        waiting = await stack.invoke("video text", {"prompt": prompt}, user_id=who)
        await stack.card(waiting, lambda m: field_value(m, "State") == "⏳ Waiting for approval")
    jobs = jobs_by_prompt(stack)
    alice_job = str(jobs["alice's borderline idea"]["id"])
    carol_job = str(jobs["carol's borderline idea"]["id"])
    alice_request = await posted_request(stack, alice_job)
    carol_request = await posted_request(stack, carol_job)
    assert stack.db.balance(ids.guild_id, alice) == (100, 15)
    assert stack.db.balance(ids.guild_id, carol) == (100, 15)

    # Two moderators each open the Deny form of a different request.
    mod_form = await stack.discord.click(
        alice_request.id, f"approval:deny:{alice_job}", user_id=ids.moderator_id
    )
    owner_form = await stack.discord.click(
        carol_request.id, f"approval:deny:{carol_job}", user_id=ids.owner_id
    )
    for form in (mod_form, owner_form):
        await form.wait_until(lambda i: i.modal is not None)
    if restarted:
        await restart(stack)

    submissions = await submit_in_order(
        stack,
        order,
        (ids.moderator_id, mod_form, {"reason": "too close to the rules on gore"}),
        (ids.owner_id, owner_form, {"reason": "off-topic for this server"}),
    )

    # Both are answered: each request message now shows its own decision, buttons gone.
    for submitted in submissions:
        response = await submitted.wait_for_response(10)
        assert response.type == 7  # the request's message was updated
    decided = {
        r["job_id"]: (r["state"], r["decided_by"], r["decision_reason"])
        for r in stack.db.rows(
            "SELECT job_id, state, decided_by, decision_reason FROM approval_requests"
        )
    }
    assert decided == {
        alice_job: ("denied", ids.moderator_id, "too close to the rules on gore"),
        carol_job: ("denied", ids.owner_id, "off-topic for this server"),
    }
    for request, moderator, reason in (
        (alice_request, ids.moderator_id, "too close to the rules on gore"),
        (carol_request, ids.owner_id, "off-topic for this server"),
    ):
        shown = stack.discord.message(request.id)
        assert shown.custom_ids == ()
        assert f"Denied by <@{moderator}>: {reason}" in text_of(shown)
    jobs = jobs_by_prompt(stack)
    assert jobs["alice's borderline idea"]["state"] == "cancelled"
    assert "too close to the rules on gore" in str(
        jobs["alice's borderline idea"]["failure_message"]
    )
    assert "off-topic for this server" in str(jobs["carol's borderline idea"]["failure_message"])
    # Nobody paid anything: both holds were released.
    assert stack.db.balance(ids.guild_id, alice) == (100, 0)
    assert stack.db.balance(ids.guild_id, carol) == (100, 0)
    assert stack.kvid.submissions == []


# -- forms that went stale between opening and submitting ---------------------------------------


async def test_an_extend_form_is_refused_once_the_video_was_extended_since(stack: Stack) -> None:
    ids = stack.ids
    stack.kling.set_default(KlingScenario(polls_until_done=1))
    video = await finished_video(stack, ids.user_id, "a paper plane", "kling")
    # The same member opens the form twice (two devices): both name the video as unextended.
    first = await open_form(stack, video, "Extend", ids.user_id)
    second = await open_form(stack, video, "Extend", ids.user_id)
    assert first.modal is not None
    assert second.modal is not None
    assert first.modal["custom_id"] == second.modal["custom_id"]

    extended = await submit(stack, first, {"prompt": "it loops"}, ids.user_id)
    await stack.card(extended, lambda m: m.attachments, timeout=30)
    await all_delivered(stack, 2)
    before = stack.db.balance(ids.guild_id, ids.user_id)

    stale = await submit(stack, second, {"prompt": "it loops again"}, ids.user_id, locale="ko")
    answer = await stack.private_reply(stale)
    assert f"`{job_of(video)}` 영상이 이미 이어 만들어져서" in answer
    assert "크레딧도 쓰지 않았어요" in answer
    assert len(stack.kling.submissions) == 2
    assert len(stack.job_rows()) == 2
    assert stack.db.balance(ids.guild_id, ids.user_id) == before
    # A form opened now knows about the extension and may continue it further.
    again = await open_form(stack, video, "Extend", ids.user_id)
    assert again.modal is not None
    assert again.modal["custom_id"] == f"video:extend-form:{job_of(video)}:1"


async def test_a_remix_form_is_refused_once_the_video_was_deleted(stack: Stack) -> None:
    ids = stack.ids
    stack.kvid.set_default(KvidScenario(processing_polls=1))
    video = await finished_video(stack, ids.user_id, "a snow globe")
    form = await open_form(stack, video, "Remix", ids.user_id)
    delete = await stack.discord.click(video.id, buttons(video)["Delete"]["custom_id"])
    assert "Deleted" in await stack.private_reply(delete)
    before = stack.db.balance(ids.guild_id, ids.user_id)

    stale = await submit(stack, form, {"prompt": "a snow globe, shaken"}, ids.user_id)

    answer = await stack.private_reply(stale)
    assert f"Video `{job_of(video)}` was deleted since you opened this form" in answer
    assert "nothing was charged" in answer
    assert len(stack.kvid.submissions) == 1
    assert len(stack.job_rows()) == 1
    assert stack.db.balance(ids.guild_id, ids.user_id) == before


async def test_a_form_naming_someone_elses_video_is_refused(stack: Stack) -> None:
    ids = stack.ids
    stack.kvid.set_default(KvidScenario(processing_polls=1))
    alice_video = await finished_video(stack, ids.user_id, "alice's lantern")
    carol_video = await finished_video(stack, ids.other_user_id, "carol's lantern")
    carol_form = await open_form(stack, carol_video, "Remix", ids.other_user_id)
    balances = [stack.db.balance(ids.guild_id, u) for u in (ids.user_id, ids.other_user_id)]

    # A crafted submission (carol's client, alice's job in the form id) acts on nothing.
    forged = await submit(
        stack,
        carol_form,
        {"prompt": "mine now"},
        ids.other_user_id,
        custom_id=f"video:remix-form:{job_of(alice_video)}",
    )

    assert "someone else's" in await stack.private_reply(forged)
    assert len(stack.job_rows()) == 2
    assert [stack.db.balance(ids.guild_id, u) for u in (ids.user_id, ids.other_user_id)] == (
        balances
    )


@pytest.mark.parametrize("legacy", ["video:extend", "video:remix"])
async def test_a_form_from_before_the_upgrade_is_answered_and_charges_nothing(
    stack: Stack, legacy: str
) -> None:
    ids = stack.ids
    stack.kling.set_default(KlingScenario(polls_until_done=1))
    video = await finished_video(stack, ids.user_id, "an old form", "kling")
    form = await open_form(stack, video, "Extend", ids.user_id)
    before = stack.db.balance(ids.guild_id, ids.user_id)

    # The Discord client still shows a form the previous version opened (fixed custom_id).
    old = await submit(stack, form, {"prompt": "next"}, ids.user_id, custom_id=legacy)

    assert "This form is out of date" in await stack.private_reply(old)
    assert len(stack.kling.submissions) == 1
    assert stack.db.balance(ids.guild_id, ids.user_id) == before


async def test_a_deny_form_after_the_request_was_approved_changes_nothing(stack: Stack) -> None:
    ids = stack.ids
    await approval_setup(stack)
    stack.kvid.script(KvidScenario(processing_polls=1))
    waiting = await stack.invoke("video text", {"prompt": "a tram at dusk"})
    await stack.card(waiting, lambda m: field_value(m, "State") == "⏳ Waiting for approval")
    [row] = stack.job_rows()
    job_id = str(row["id"])
    request = await posted_request(stack, job_id)
    form = await stack.discord.click(
        request.id, f"approval:deny:{job_id}", user_id=ids.moderator_id
    )
    await form.wait_until(lambda i: i.modal is not None)
    # Meanwhile another moderator approves it.
    await stack.discord.click(request.id, f"approval:approve:{job_id}", user_id=ids.owner_id)
    await stack.settled_job(timeout=30)

    late = await submit(stack, form, {"reason": "too late to matter"}, ids.moderator_id)

    [answer] = await late.wait_for_followups(1, timeout=10)
    assert "already decided (approved)" in text_of(answer)
    assert answer.ephemeral
    [decision] = stack.db.rows("SELECT state, decided_by, decision_reason FROM approval_requests")
    assert decision == {"state": "approved", "decided_by": ids.owner_id, "decision_reason": None}
    [job] = stack.job_rows()
    assert job["state"] == "succeeded"
    assert stack.db.balance(ids.guild_id, ids.user_id) == (100 - int(job["price"]), 0)  # type: ignore[arg-type]


async def test_a_share_deny_form_works_after_a_restart(stack: Stack) -> None:
    ids = stack.ids
    job_id = await shares_need_review(stack, "a harbour crane")
    await reply(stack, await stack.invoke("showcase share", {"job": job_id}))
    review = await stack.discord.wait_for_message(
        lambda m: m.custom_ids, channel_id=MODS_CHANNEL, timeout=10
    )
    share_id = stack.db.rows("SELECT id FROM showcase_shares")[0]["id"]
    form = await stack.discord.click(review.id, f"share:deny:{share_id}", user_id=ids.moderator_id)
    await form.wait_until(lambda i: i.modal is not None)
    assert form.modal is not None
    assert form.modal["custom_id"] == f"share:reason:{share_id}"
    await restart(stack)

    denied = await submit(stack, form, {"reason": "blurry"}, ids.moderator_id)

    assert (await denied.wait_for_response(10)).type == 7
    [row] = stack.db.rows("SELECT state, decided_by, decision_reason FROM showcase_shares")
    assert row == {"state": "denied", "decided_by": ids.moderator_id, "decision_reason": "blurry"}
    assert "Denied by" in text_of(stack.discord.message(review.id))
    assert stack.discord.threads(ids.forum_channel_id) == []
