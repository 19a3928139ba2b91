"""/event through the real bot: start, list, enter, vote, close, prize paid from the pool."""

from __future__ import annotations

from tests.e2e.community_helpers import (
    EVENTS_CHANNEL,
    add_community_channels,
    as_owner,
    make_video,
    reply,
    text_of,
)
from tests.e2e.conftest import Stack


async def test_start_and_list(stack: Stack) -> None:
    member = await reply(stack, await stack.invoke("event start", {"theme": "x", "ends_in": "1d"}))
    assert "Manage Server" in member.content
    no_funds = await as_owner(
        stack, "event start", {"theme": "Rainy cities", "ends_in": "2d", "prize": 100}
    )
    assert "The server pool has 0 credits" in no_funds.content
    bad = await as_owner(stack, "event start", {"theme": "Rainy cities", "ends_in": "soon"})
    assert "is not a duration" in bad.content
    assert stack.db.rows("SELECT * FROM events") == []

    await as_owner(stack, "server pool", {"add": 100})
    started = await as_owner(
        stack, "event start", {"theme": "Rainy cities", "ends_in": "2d 12h", "prize": 100}
    )
    assert not started.ephemeral  # announced in the channel
    assert started.embed["title"] == "🎬 Event: Rainy cities"
    assert "Prize: **100 credits** from the server pool" in started.embed["description"]
    second = await as_owner(stack, "event start", {"theme": "Cats", "ends_in": "1h"})
    assert '"Rainy cities" is still open' in second.content

    listed = await reply(stack, await stack.invoke("event list"))
    assert listed.ephemeral
    [shown] = listed.embed["fields"]
    assert shown["name"] == "Rainy cities"
    assert shown["value"].startswith("open · ends <t:")
    assert "prize 100 · 0 entries" in shown["value"]
    [event] = stack.db.rows("SELECT theme, prize, state, ends_at - created_at AS span FROM events")
    assert event == {"theme": "Rainy cities", "prize": 100, "state": "open", "span": 216_000}
    # The prize is promised: the pool cannot lend it out or give it back meanwhile.
    pool = await as_owner(stack, "server pool", {"remove": 1})
    assert "remove at most 0" in text_of(pool)


async def test_an_event_from_start_to_paid_prize(stack: Stack) -> None:
    ids = stack.ids
    add_community_channels(stack)
    await as_owner(stack, "server pool", {"add": 300})
    await as_owner(
        stack,
        "event start",
        {"theme": "Night markets", "ends_in": "1h", "prize": 120, "channel": EVENTS_CHANNEL},
    )
    announcement = await stack.discord.wait_for_message(channel_id=EVENTS_CHANNEL, timeout=10)
    assert announcement.embed["title"] == "🎬 Event: Night markets"

    alice_job = await make_video(stack, ids.user_id, "a night market in Seoul")
    bob_job = await make_video(stack, ids.other_user_id, "lanterns over a night market")
    entered = await reply(stack, await stack.invoke("event enter", {"job": alice_job}))
    assert f"Your video `{alice_job}` is entered" in entered.content
    again = await reply(stack, await stack.invoke("event enter", {"job": alice_job}))
    assert "already entered" in again.content
    await reply(
        stack, await stack.invoke("event enter", {"job": bob_job}, user_id=ids.other_user_id)
    )
    entries = {
        row["user_id"]: row
        for row in stack.db.rows("SELECT id, user_id, message_id FROM event_entries")
    }
    alice_entry, bob_entry = entries[ids.user_id], entries[ids.other_user_id]
    alice_post = stack.discord.message(alice_entry["message_id"])
    assert alice_post.channel_id == EVENTS_CHANNEL
    assert "a night market in Seoul" in text_of(alice_post)
    vote_alice = f"event:vote:{alice_entry['id']}"
    vote_bob = f"event:vote:{bob_entry['id']}"
    assert alice_post.custom_ids == (vote_alice,)

    async def vote(message_id: int, custom_id: str, user_id: int) -> str:
        interaction = await stack.discord.click(message_id, custom_id, user_id=user_id)
        [answer] = await interaction.wait_for_followups(1, timeout=10)
        return text_of(answer)

    assert "counted" in await vote(alice_post.id, vote_alice, ids.moderator_id)
    assert "counted" in await vote(alice_post.id, vote_alice, ids.owner_id)
    # Bob votes for alice; voting for his own entry is refused.
    assert "counted" in await vote(alice_post.id, vote_alice, ids.other_user_id)
    own = await stack.discord.click(bob_entry["message_id"], vote_bob, user_id=ids.other_user_id)
    assert "own entry" in text_of(await reply(stack, own))
    # The moderator moves their vote to bob: one vote per member per event.
    assert "moved" in await vote(bob_entry["message_id"], vote_bob, ids.moderator_id)
    await stack.discord.wait_for(
        lambda: stack.discord.message(alice_post.id).component(vote_alice)["label"] == "Vote · 2",
        10,
        description="alice's count after the vote moved",
    )
    assert stack.db.rows("SELECT COUNT(*) AS n FROM event_votes") == [{"n": 3}]

    bob_before = stack.db.balance(ids.guild_id, ids.other_user_id)
    alice_before = stack.db.balance(ids.guild_id, ids.user_id)
    member_close = await reply(stack, await stack.invoke("event close"))
    assert "Manage Server" in member_close.content
    closed = await as_owner(stack, "event close")
    assert "120 credits paid from the pool" in closed.content
    result = await stack.discord.wait_for_message(
        lambda m: (m.embed or {}).get("title") == "🏆 Results: Night markets",
        channel_id=EVENTS_CHANNEL,
        timeout=10,
    )
    assert f"<@{ids.user_id}>" in result.content
    assert "Winner: <@" in result.embed["description"]
    assert "The prize is **120 credits**" in result.embed["description"]  # one winner
    assert "120 credits" in result.embed["description"]
    assert stack.db.balance(ids.guild_id, ids.user_id) == (alice_before[0] + 120, 0)
    assert stack.db.balance(ids.guild_id, ids.other_user_id) == bob_before
    assert stack.db.balance(ids.guild_id, 0) == (180, 0)
    assert stack.db.rows("SELECT user_id, votes, amount FROM event_payouts") == [
        {"user_id": ids.user_id, "votes": 2, "amount": 120}
    ]
    # Exactly once: closing again finds nothing open, and one result was posted.
    again = await as_owner(stack, "event close")
    assert "no open event" in again.content
    results = [
        m
        for m in stack.discord.channel_messages(EVENTS_CHANNEL)
        if (m.embed or {}).get("title", "").startswith("🏆")
    ]
    assert len(results) == 1
    late = await stack.discord.click(alice_post.id, vote_alice, user_id=ids.owner_id)
    assert "Voting on" in text_of(await reply(stack, late))
    # The ledger is balanced, the pool included (the stack checks every member at teardown).
    rows = stack.db.rows(
        "SELECT user_id, kind, balance_delta FROM ledger WHERE reason LIKE 'prize%' ORDER BY id"
    )
    assert rows == [
        {"user_id": 0, "kind": "take", "balance_delta": -120},
        {"user_id": ids.user_id, "kind": "grant", "balance_delta": 120},
    ]
