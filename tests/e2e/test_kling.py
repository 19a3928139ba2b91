"""Kling through AceData Cloud, end to end: callbacks, batched polling, frames, extend, camera."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Stack, field_value
from tests.fakes.acedata import KlingScenario
from tests.fakes.kvid import KvidScenario
from tests.fakes.media import make_image, make_mp4

NEVER_BY_POLLING = KlingScenario(polls_until_done=100_000)


async def kling_video(stack: Stack, prompt: str, **options: object):
    """Start a Kling text-to-video as alice; return the interaction and the fake's task."""
    interaction = await stack.invoke(
        "video text", {"prompt": prompt, "provider": "kling", **options}
    )
    [task] = (await stack.kling.wait_for_submissions(len(stack.kling.submissions) + 1))[-1:]
    return interaction, task


@pytest.mark.callbacks
@pytest.mark.bot_env(KLING_POLL_INTERVAL="60")
async def test_text_to_video_is_delivered_by_callback(stack: Stack) -> None:
    video = make_mp4(320, 240, seconds=1.0)
    stack.kling.script(KlingScenario(polls_until_done=100_000, result_bytes=video))

    interaction, task = await kling_video(stack, "a koi pond at dawn", resolution="pro")

    assert task.request["action"] == "text2video"
    assert task.request["mode"] == "pro"
    [job] = stack.job_rows()
    assert task.request["callback_url"].endswith(
        f"/callbacks/kling/{job['id']}/{job['callback_token']}"
    )
    assert "async" not in task.request
    await stack.kling.complete(task.task_id)

    done = await stack.card(interaction, lambda m: m.attachments, timeout=30)
    assert done.attachments[0].data == video
    assert field_value(done, "Model") == "Kling kling-v2-5-turbo"
    job = await stack.settled_job()
    assert job["provider_video_id"] == task.video_id
    assert stack.kling.tasks_requests == 0  # nothing was polled: the callback did it all
    assert "callback for job" in stack.bot.log()


async def test_batched_polling_covers_many_jobs_per_request(stack: Stack) -> None:
    stack.kling.set_default(KlingScenario(polls_until_done=3))
    members = [stack.ids.user_id, stack.ids.other_user_id, stack.ids.moderator_id]
    interactions = [
        await stack.invoke("video text", {"prompt": f"clip {n}", "provider": "kling"}, user_id=m)
        for n, m in enumerate(members)
    ]
    await stack.kling.wait_for_submissions(3)

    for interaction in interactions:
        await stack.card(interaction, lambda m: m.attachments, timeout=30)
    task_calls = stack.kling.requests_to("/kling/tasks")
    assert {call.action for call in task_calls} == {"retrieve_batch"}
    looked_up = sum(len(call.json["ids"]) for call in task_calls)
    assert looked_up >= 9  # every task was looked up at least three times...
    assert len(task_calls) < looked_up  # ...in fewer requests than lookups


async def test_image_to_video_with_start_and_end_frames(stack: Stack) -> None:
    first, last = make_image("png", 800, 600), make_image("jpeg", 800, 600)
    stack.kling.script(KlingScenario(polls_until_done=1))

    interaction = await stack.invoke(
        "video image",
        {
            "image": "a.png",
            "end_image": "b.jpg",
            "prompt": "the flower blooms",
            "provider": "kling",
        },
        attachments={
            "image": ("a.png", first, "image/png"),
            "end_image": ("b.jpg", last, "image/jpeg"),
        },
    )

    await stack.card(interaction, lambda m: m.attachments, timeout=30)
    [task] = stack.kling.submissions
    urls = {
        a["filename"]: a["url"]
        for a in interaction.payload["data"]["resolved"]["attachments"].values()
    }
    assert task.request["action"] == "image2video"
    assert task.request["start_image_url"] == urls["a.png"]
    assert task.request["end_image_url"] == urls["b.jpg"]
    assert task.request["duration"] == 5


async def test_end_frame_with_a_ten_second_clip_is_refused_before_charging(stack: Stack) -> None:
    frame = make_image("png", 800, 600)
    interaction = await stack.invoke(
        "video image",
        {
            "image": "a.png",
            "end_image": "b.png",
            "prompt": "x",
            "provider": "kling",
            "duration": 10,
        },
        attachments={
            "image": ("a.png", frame, "image/png"),
            "end_image": ("b.png", frame, "image/png"),
        },
    )
    reply = await stack.private_reply(interaction)
    assert "5" in reply
    assert stack.job_rows() == []
    assert stack.kling.submissions == []


async def test_extend_continues_an_earlier_result(stack: Stack) -> None:
    stack.kling.set_default(KlingScenario(polls_until_done=1))
    first, task = await kling_video(stack, "a paper plane takes off")
    await stack.card(first, lambda m: m.attachments, timeout=30)
    parent = await stack.settled_job()

    choices = await stack.discord.autocomplete(
        "video extend", {"job": "", "prompt": "x"}, "job", user_id=stack.ids.user_id
    )
    assert [c["value"] for c in choices] == [parent["id"]]
    second = await stack.invoke(
        "video extend", {"job": parent["id"], "prompt": "it loops over the city"}
    )

    await stack.card(second, lambda m: m.attachments, timeout=30)
    extend_task = stack.kling.submissions[1]
    assert extend_task.request["action"] == "extend"
    assert extend_task.request["video_id"] == task.video_id
    # Charged in the transaction that records the delivery, just after the card shows it.
    child = await stack.discord.wait_for(
        lambda: next(
            (
                r
                for r in stack.job_rows()
                if r["parent_job_id"] == parent["id"] and r["delivery_state"] == "delivered"
            ),
            None,
        ),
        15,
        description="the extension to be recorded as delivered",
    )
    assert child["state"] == "succeeded"
    assert len(stack.db.rows("SELECT * FROM ledger WHERE kind = 'capture'")) == 2


@pytest.mark.callbacks
@pytest.mark.bot_env(KLING_POLL_INTERVAL="60")
async def test_callbacks_with_a_bad_token_or_body_change_nothing(stack: Stack) -> None:
    stack.kling.script(KlingScenario(polls_until_done=100_000, duplicate_callback=True))
    _, task = await kling_video(stack, "a glass of water")
    [job] = stack.job_rows()
    good_url = task.request["callback_url"]
    bad_url = good_url.rsplit("/", 1)[0] + "/not-the-token"
    success = {
        "success": True,
        "task_id": task.task_id,
        "video_id": "v",
        "video_url": "http://127.0.0.1:1/x.mp4",
        "duration": "5.0",
        "state": "succeed",
    }
    async with httpx.AsyncClient() as client:
        wrong = await client.post(bad_url, json=success)
        malformed = await client.post(good_url, content=b"{not json")
        unknown = await client.post(good_url.replace(job["id"], "zzzzzzzz"), json=success)
    assert (wrong.status_code, malformed.status_code, unknown.status_code) == (404, 400, 404)
    [unchanged] = stack.job_rows()
    assert unchanged["state"] == "running"
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 25)

    await stack.kling.complete(task.task_id)  # sends the real callback twice
    await stack.kling.wait_for_callbacks(2)
    settled = await stack.settled_job()
    assert settled["state"] == "succeeded"
    assert [c.status for c in stack.kling.callbacks] == [200, 200]
    assert len(stack.db.rows("SELECT * FROM ledger WHERE kind = 'capture'")) == 1


@pytest.mark.callbacks
@pytest.mark.bot_env(KLING_POLL_INTERVAL="60")
async def test_callback_recovers_a_job_whose_task_id_was_never_saved(stack: Stack) -> None:
    stack.kling.script(KlingScenario(polls_until_done=100_000))
    stack.kling.delay_next("videos", 30)  # AceData takes the task but its answer is held back
    await stack.invoke("video text", {"prompt": "a comet", "provider": "kling"})
    # The bot saves `submitting` before it sends, so once AceData has the task, killing the bot
    # leaves exactly that row: a task AceData knows of and the bot has no id for.
    [task] = await stack.kling.wait_for_submissions(1)
    await stack.bot.kill()
    await stack.start_bot()
    [row] = stack.job_rows()
    assert (row["state"], row["provider_job_id"]) == ("submitting", None)

    await stack.kling.complete(task.task_id)

    job = await stack.settled_job()
    assert job["state"] == "succeeded"
    assert job["provider_job_id"] == task.task_id
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (75, 0)


async def test_content_policy_refusal_is_refunded(stack: Stack) -> None:
    stack.kling.script(KlingScenario(polls_until_done=1, outcome="failed", error_code="forbidden"))
    interaction, _ = await kling_video(stack, "something AceData blocks")

    job = await stack.settled_job()
    assert job["failure_code"] == "content_policy_violation"
    card = interaction.original
    assert card is not None
    assert "content policy" in (field_value(card, "What happened") or "").lower()
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 0)


async def test_one_camera_choice_reaches_each_provider_in_its_own_form(stack: Stack) -> None:
    stack.kvid.set_default(KvidScenario(processing_polls=1))
    stack.kling.set_default(KlingScenario(polls_until_done=1))
    await stack.invoke(
        "video text", {"prompt": "a harbour", "provider": "kvid", "camera": "pan_right"}
    )
    await stack.invoke(
        "video text",
        {"prompt": "a harbour", "provider": "kling", "camera": "pan_right"},
        user_id=stack.ids.other_user_id,
    )
    await stack.invoke(
        "video text",
        {"prompt": "[Truck left, Pan right] a harbour", "provider": "kvid"},
        user_id=stack.ids.moderator_id,
    )
    kvid_jobs = await stack.kvid.wait_for_submissions(2)
    [kling_task] = await stack.kling.wait_for_submissions(1)

    assert kvid_jobs[0].body["prompt"] == "[Pan right] a harbour"
    assert kvid_jobs[1].body["prompt"] == "[Truck left, Pan right] a harbour"
    control = kling_task.request["camera_control"]
    assert control["type"] == "simple"
    moved = {axis: v for axis, v in control["config"].items() if v}
    assert list(moved) == ["tilt"]  # Kling calls a film pan "tilt"
    assert moved["tilt"] > 0
    assert kling_task.request["prompt"] == "a harbour"


async def test_providers_and_models_offered_are_the_configured_ones(stack: Stack) -> None:
    providers = await stack.discord.autocomplete(
        "video text", {"prompt": "x", "provider": ""}, "provider", user_id=stack.ids.user_id
    )
    assert [c["value"] for c in providers] == ["kvid", "kling"]  # no key-less local provider
    models = await stack.discord.autocomplete(
        "video text",
        {"prompt": "x", "provider": "kling", "model": "v3"},
        "model",
        user_id=stack.ids.user_id,
    )
    assert {c["value"] for c in models} == {"kling-v3", "kling-v3-omni"}
    modes = await stack.discord.autocomplete(
        "video text",
        {"prompt": "x", "provider": "kling", "model": "kling-v3", "resolution": ""},
        "resolution",
        user_id=stack.ids.user_id,
    )
    assert [c["value"] for c in modes] == ["std", "pro", "4k"]

    listing = await stack.invoke("video models")
    message = await listing.wait_for_original(lambda m: m.embeds, timeout=10)
    assert message.ephemeral
    fields = {f["name"]: f["value"] for f in message.embed["fields"]}
    assert set(fields) == {"kvidAI (`kvid`)", "Kling (`kling`)"}
    assert (
        "**v2** (text/image, auto length) · 480p: 10, 720p: 15, 1080p: 25"
        in fields["kvidAI (`kvid`)"]
    )
    assert (
        "**kling-v3** (text/image, 3-15 s) · std: 6/s, pro: 9/s, 4k: 18/s"
        in fields["Kling (`kling`)"]
    )


async def test_extend_button_continues_the_video_through_a_form(stack: Stack) -> None:
    stack.kling.set_default(KlingScenario(polls_until_done=1))
    first, task = await kling_video(stack, "a kite over the river")
    done = await stack.card(first, lambda m: m.attachments, timeout=30)
    labels = {c["label"]: c for row in done.components for c in row["components"]}
    assert "Extend" in labels

    press = await stack.discord.click(done.id, labels["Extend"]["custom_id"])
    await press.wait_until(lambda i: i.modal is not None)
    [first_job] = stack.job_rows()
    assert press.modal is not None
    assert press.modal["custom_id"] == f"video:extend-form:{first_job['id']}:0"
    submitted = await stack.discord.submit_modal(
        press.modal["custom_id"], {"prompt": "it lands softly"}
    )

    await stack.card(submitted, lambda m: m.attachments, timeout=30)
    extend_task = stack.kling.submissions[1]
    assert extend_task.request["action"] == "extend"
    assert extend_task.request["video_id"] == task.video_id
    assert extend_task.request["prompt"] == "it lands softly"
