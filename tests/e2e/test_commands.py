"""Credits and job look-ups, as members and admins see them."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Stack, field_value
from tests.fakes.kvid import KvidScenario


async def private_embed(stack: Stack, interaction) -> dict:
    message = await interaction.wait_for_original(lambda m: m.embeds, timeout=10)
    assert message.ephemeral
    return message.embed


async def test_balance_shows_available_held_and_total(stack: Stack) -> None:
    stack.kvid.script(KvidScenario(processing_polls=10_000))
    await stack.invoke("video text", {"prompt": "a kite"})
    await stack.kvid.wait_for_submissions(1, timeout=15)

    interaction = await stack.invoke("credits balance")
    embed = await private_embed(stack, interaction)
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {"Available": "85", "On hold": "15", "Balance": "100"}


async def test_owner_grants_and_takes_and_the_history_shows_it(stack: Stack) -> None:
    owner, alice = stack.ids.owner_id, stack.ids.user_id
    grant = await stack.invoke(
        "credits grant", {"user": alice, "amount": 50, "reason": "event prize"}, user_id=owner
    )
    assert "Gave 50 credits" in await stack.private_reply(grant)
    take = await stack.invoke("credits take", {"user": alice, "amount": 30}, user_id=owner)
    assert "Took 30 credits" in await stack.private_reply(take)
    too_much = await stack.invoke("credits take", {"user": alice, "amount": 500}, user_id=owner)
    assert "take at most 120" in await stack.private_reply(too_much)

    assert stack.db.balance(stack.ids.guild_id, alice) == (120, 0)
    actors = stack.db.rows("SELECT kind, actor_id, reason FROM ledger ORDER BY id")
    assert actors == [
        {"kind": "grant", "actor_id": None, "reason": "welcome grant"},
        {"kind": "grant", "actor_id": owner, "reason": "event prize"},
        {"kind": "take", "actor_id": owner, "reason": "taken by an admin"},
    ]
    history = await stack.invoke("credits history")
    embed = await private_embed(stack, history)
    assert "+50 granted" in embed["description"]
    assert "-30 taken" in embed["description"]


@pytest.mark.bot_env(BOT_OWNER_IDS="424242")
async def test_bot_owner_from_settings_may_grant_without_manage_server(stack: Stack) -> None:
    stack.discord.add_member(stack.ids.guild_id, 424242, "operator")
    grant = await stack.invoke(
        "credits grant", {"user": stack.ids.user_id, "amount": 5}, user_id=424242
    )
    assert "Gave 5 credits" in await stack.private_reply(grant)


async def test_status_and_history_show_the_members_jobs(stack: Stack) -> None:
    stack.kvid.script(KvidScenario(processing_polls=1))
    await stack.invoke("video text", {"prompt": "a red balloon over Seoul"})
    job = await stack.settled_job()

    status = await stack.invoke("video status", {"job": job["id"]})
    card = await status.wait_for_original(lambda m: m.embeds, timeout=10)
    assert card.ephemeral
    assert field_value(card, "State") == "✅ Done"
    choices = await stack.discord.autocomplete(
        "video status", {"job": ""}, "job", user_id=stack.ids.user_id
    )
    assert [c["value"] for c in choices] == [job["id"]]

    other = await stack.invoke("video status", {"job": job["id"]}, user_id=stack.ids.other_user_id)
    assert "is not yours" in await stack.private_reply(other)

    history = await stack.invoke("video history")
    embed = await private_embed(stack, history)
    assert job["id"] in embed["description"]
    assert "a red balloon over Seoul" in embed["description"]


@pytest.mark.parametrize(
    ("command", "options"),
    [("credits balance", None), ("credits history", None), ("video history", None)],
)
async def test_a_deferred_command_is_answered_by_editing_its_reply(
    stack: Stack, command: str, options: dict | None
) -> None:
    # Discord's documented way: PATCH the original response; a first followup that happens to
    # replace the "thinking" reply is deprecated.
    interaction = await stack.invoke(command, options)
    await private_embed(stack, interaction)
    token = re.escape(interaction.token)
    assert stack.discord.requests_matching("PATCH", rf"/webhooks/\d+/{token}/messages/@original$")
    assert stack.discord.requests_matching("POST", rf"/webhooks/\d+/{token}$") == []
