"""/showcase through the real bot: sharing to a forum, votes once per member, the top."""

from __future__ import annotations

from tests.e2e.community_helpers import (
    MODS_CHANNEL,
    as_owner,
    fields,
    make_video,
    reply,
    shares_need_review,
    text_of,
)
from tests.e2e.conftest import Stack


async def test_top_on_an_empty_board(stack: Stack) -> None:
    interaction = await stack.invoke("showcase top")
    board = await reply(stack, interaction)
    assert not board.ephemeral  # the leaderboard is shown in the channel
    assert board.embed["title"] == "Showcase top · the last 7 days"
    assert "Nothing has been shared in this period yet" in board.embed["description"]
    monthly = await reply(stack, await stack.invoke("showcase top", {"period": "30d"}))
    assert monthly.embed["title"] == "Showcase top · the last 30 days"


async def test_sharing_needs_a_showcase_channel(stack: Stack) -> None:
    answer = await reply(stack, await stack.invoke("showcase share", {"job": "abcdefgh"}))
    assert answer.ephemeral
    assert "no showcase channel yet" in answer.content
    assert stack.db.rows("SELECT * FROM showcase_shares") == []


async def test_a_share_becomes_a_forum_post_and_votes_count_once(stack: Stack) -> None:
    ids = stack.ids
    await as_owner(stack, "server showcase", {"channel": ids.forum_channel_id})
    job_id = await make_video(stack, ids.user_id, "a paper boat in the rain")
    choices = await stack.discord.autocomplete(
        "showcase share", {"job": ""}, "job", user_id=ids.user_id
    )
    assert [c["value"] for c in choices] == [job_id]

    stranger = await reply(
        stack, await stack.invoke("showcase share", {"job": job_id}, user_id=ids.other_user_id)
    )
    assert "not yours" in stranger.content

    shared = await reply(stack, await stack.invoke("showcase share", {"job": job_id}))
    assert shared.content.startswith("Shared: https://discord.com/channels/")
    [thread] = stack.discord.threads(ids.forum_channel_id)
    assert "a paper boat in the rain" in thread.name
    [post] = stack.discord.channel_messages(thread.id)
    shown = fields(post)
    assert shown["By"] == f"<@{ids.user_id}>"
    assert shown["Model"] == "kvidAI v2 · 720p"
    assert post.embed is not None
    assert post.embed["title"] == "a paper boat in the rain"
    assert "description" not in post.embed  # the prompt is shown once
    assert "jump to the result" in shown["Original"]
    vote = f"showcase:vote:{stack.db.rows('SELECT id FROM showcase_shares')[0]['id']}"
    assert post.custom_ids == (vote,)

    again = await reply(stack, await stack.invoke("showcase share", {"job": job_id}))
    assert again.content.startswith("Already in the showcase")
    assert len(stack.discord.threads(ids.forum_channel_id)) == 1  # one post per video

    async def click(user_id: int) -> str:
        interaction = await stack.discord.click(post.id, vote, user_id=user_id)
        [answer] = await interaction.wait_for_followups(1, timeout=10)
        return text_of(answer)

    assert "counted" in await click(ids.other_user_id)
    assert stack.discord.message(post.id).component(vote)["label"] == "Vote · 1"
    assert "taken back" in await click(ids.other_user_id)
    assert "counted" in await click(ids.other_user_id)
    assert "counted" in await click(ids.moderator_id)
    own = await stack.discord.click(post.id, vote, user_id=ids.user_id)
    assert "own video" in text_of(await reply(stack, own))
    # A ⭐ from someone who already voted by button is still one vote.
    stack.discord.add_user_reaction(post.id, "⭐", user_id=ids.other_user_id)
    stack.discord.add_user_reaction(post.id, "⭐", user_id=ids.owner_id)
    await stack.discord.wait_for(
        lambda: len(stack.db.rows("SELECT * FROM showcase_votes")) == 3, 10, description="3 votes"
    )
    votes = stack.db.rows("SELECT user_id FROM showcase_votes ORDER BY user_id")
    assert sorted(v["user_id"] for v in votes) == sorted(
        [ids.other_user_id, ids.moderator_id, ids.owner_id]
    )

    board = await reply(stack, await stack.invoke("showcase top", {"period": "all"}))
    assert "a paper boat in the rain" in board.embed["description"]
    assert "⭐ 3" in board.embed["description"]


async def test_in_approval_mode_a_moderator_approves_a_share_first(stack: Stack) -> None:
    ids = stack.ids
    job_id = await shares_need_review(stack, "a lantern festival")

    answer = await reply(stack, await stack.invoke("showcase share", {"job": job_id}))
    assert "A moderator reviews shares first" in answer.content
    review = await stack.discord.wait_for_message(
        lambda m: m.custom_ids, channel_id=MODS_CHANNEL, timeout=10
    )
    assert "a lantern festival" in text_of(review)
    share_id = stack.db.rows("SELECT id FROM showcase_shares")[0]["id"]
    assert review.custom_ids == (f"share:approve:{share_id}", f"share:deny:{share_id}")
    assert stack.discord.threads(ids.forum_channel_id) == []

    refused = await stack.discord.click(
        review.id, f"share:approve:{share_id}", user_id=ids.other_user_id
    )
    assert "Only moderators" in text_of(await reply(stack, refused))
    await stack.discord.click(review.id, f"share:approve:{share_id}", user_id=ids.moderator_id)
    await stack.discord.wait_for(
        lambda: stack.db.rows("SELECT 1 FROM showcase_shares WHERE state = 'posted'"),
        10,
        description="the share to be posted",
    )
    [thread] = stack.discord.threads(ids.forum_channel_id)
    assert "a lantern festival" in thread.name
    decided = stack.discord.message(review.id)
    assert decided.custom_ids == ()
    assert f"Approved by <@{ids.moderator_id}>" in text_of(decided)
    [row] = stack.db.rows("SELECT state, decided_by FROM showcase_shares")
    assert row == {"state": "posted", "decided_by": ids.moderator_id}
    assert stack.db.rows(
        "SELECT action, actor_id FROM moderation_log WHERE action LIKE 'share%'"
    ) == [{"action": "share approved", "actor_id": ids.moderator_id}]
