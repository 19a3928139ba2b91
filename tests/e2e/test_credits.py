"""Credits as members and admins use them: balance, history pages, tiers, limits and usage."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from tests.e2e.conftest import Stack
from tests.fakes.kvid import KvidScenario

DAY = 86_400


async def private_message(stack: Stack, interaction, predicate=lambda m: m.embeds):
    message = await interaction.wait_for_original(predicate, timeout=10)
    assert message.ephemeral
    return message


async def as_owner(stack: Stack, command: str, options: dict | None = None) -> str:
    interaction = await stack.invoke(command, options, user_id=stack.ids.owner_id)
    return await stack.private_reply(interaction)


def described(message) -> str:
    return (message.embed or {}).get("description", "")


@pytest.mark.bot_env(STARTING_CREDITS="40", REFILL_AMOUNT="25", REFILL_CAP="100")
async def test_balance_shows_held_tier_allowance_and_next_refill(stack: Stack) -> None:
    alice = stack.ids.user_id
    assert "saved" in await as_owner(
        stack,
        "credits tier set",
        {"name": "Regular", "discount": 20, "role": stack.ids.member_role_id},
    )
    interaction = await stack.invoke("credits balance")
    message = await private_message(stack, interaction)
    fields = {f["name"]: f["value"] for f in message.embed["fields"]}
    # 40 to start, then today's refill of 25 (the cap is 100).
    assert fields == {"Available": "65", "On hold": "0", "Balance": "65"}
    text = described(message)
    assert "**Tier:** Regular (20% off every video)" in text
    assert "+25 credits every day, up to 100" in text
    assert "Your allowance just added **+25** credits." in text
    next_refill = int(re.search(r"Next refill:\*\* <t:(\d+):R>", text).group(1))
    assert next_refill in {(int(time.time()) // DAY + n) * DAY for n in (1, 2)}
    assert stack.db.rows("SELECT user_id, amount FROM refills") == [
        {"user_id": alice, "amount": 25}
    ]

    again = await private_message(stack, await stack.invoke("credits balance"))
    assert "just added" not in described(again)
    assert stack.db.balance(stack.ids.guild_id, alice) == (65, 0)


async def test_history_turns_pages_with_buttons_and_the_page_option(stack: Stack) -> None:
    alice = stack.ids.user_id
    for n in range(1, 13):
        await as_owner(stack, "credits grant", {"user": alice, "amount": n, "reason": f"gift {n}"})
    interaction = await stack.invoke("credits history")
    message = await private_message(stack, interaction)
    assert message.embed["footer"]["text"] == "Page 1 of 2 · 13 movements"
    assert "+12 granted** · gift 12" in described(message)
    labels = {message.component(c)["label"]: c for c in message.custom_ids}
    assert set(labels) == {"Newer", "Older"}
    assert message.component(labels["Newer"]).get("disabled")

    await stack.discord.click(message.id, labels["Older"], user_id=alice)
    turned = await stack.discord.wait_for(
        lambda: (
            (m := stack.discord.message(message.id)) and "Page 2" in m.embed["footer"]["text"] and m
        ),
        10,
        description="page 2",
    )
    assert "welcome grant" in described(turned)
    assert "gift 12" not in described(turned)
    # The buttons name the member and the page they show: they still work after a restart.
    assert set(turned.custom_ids) == {f"credits:page:{alice}:1", f"credits:page:{alice}:3"}
    await stack.bot.kill()
    await stack.start_bot()
    newer = await stack.discord.click(message.id, f"credits:page:{alice}:1", user_id=alice)
    assert (await newer.wait_for_response(10)).type == 7
    back = stack.discord.message(message.id)
    assert back.embed["footer"]["text"] == "Page 1 of 2 · 13 movements"
    assert "gift 12" in described(back)

    direct = await private_message(stack, await stack.invoke("credits history", {"page": 2}))
    assert direct.embed["footer"]["text"] == "Page 2 of 2 · 13 movements"


async def test_a_member_tier_discounts_the_price_held(stack: Stack) -> None:
    stack.kvid.script(KvidScenario(processing_polls=10_000))
    await as_owner(stack, "credits tier set", {"name": "VIP", "discount": 20, "max_jobs": 5})
    reply = await as_owner(stack, "credits tier member", {"user": stack.ids.user_id, "tier": "vip"})
    assert "now has tier **VIP**" in reply
    await stack.invoke("video text", {"prompt": "a discounted kite"})
    await stack.kvid.wait_for_submissions(1, timeout=15)
    [job] = stack.job_rows()
    assert job["price"] == 12  # 15 less 20 %
    assert stack.db.balance(stack.ids.guild_id, stack.ids.user_id) == (100, 12)
    listing = await stack.invoke("credits tier list", user_id=stack.ids.owner_id)
    embed = (await private_message(stack, listing)).embed
    assert embed["fields"][0]["name"] == "VIP"
    assert "20% off" in embed["fields"][0]["value"]
    assert "1 member directly" in embed["fields"][0]["value"]


async def test_limits_refuse_privately_saying_which_and_when(stack: Stack) -> None:
    stack.kvid.set_default(KvidScenario(processing_polls=10_000))
    saved = await as_owner(stack, "credits settings", {"max_jobs": 1})
    assert saved.startswith("Saved.")
    await stack.invoke("video text", {"prompt": "first"})
    await stack.kvid.wait_for_submissions(1, timeout=15)
    second = await stack.invoke("video text", {"prompt": "second"})
    reply = await stack.private_reply(second)
    assert "1 video in progress, the most this server allows at once (1)" in reply
    assert "when one of them finishes" in reply

    await as_owner(stack, "credits settings", {"max_jobs": 0, "daily_cap": 20})
    bob = await stack.invoke("video text", {"prompt": "third"}, user_id=stack.ids.other_user_id)
    reply = await stack.private_reply(bob)
    assert "daily limit of 20 credits is reached: 15 spent or on hold today" in reply
    # Says when: plain UTC from the exception, or a Discord timestamp from limit_message().
    assert re.search(r"It (frees up at \d{4}-\d\d-\d\d 00:00 UTC|resets <t:\d+:R>)", reply)
    assert len(stack.job_rows()) == 1
    # Refused inside the transaction that would have held: nothing of bob's was written.
    bob_rows = stack.db.rows(
        "SELECT kind FROM ledger WHERE user_id = ? AND kind != 'grant'",
        (stack.ids.other_user_id,),
    )
    assert bob_rows == []
    audit = stack.db.rows(
        "SELECT action, detail FROM moderation_log WHERE action = 'credit settings'"
    )
    assert [a["detail"] for a in audit] == [
        "max_concurrent_jobs=1",
        "max_concurrent_jobs=0, daily_spend_cap=20",
    ]


async def test_settings_show_and_reset(stack: Stack) -> None:
    shown = await stack.invoke("credits settings", user_id=stack.ids.owner_id)
    fields = {f["name"]: f["value"] for f in (await private_message(stack, shown)).embed["fields"]}
    assert fields["Refill"] == "+20 every day"
    assert fields["Videos at once, per member"] == "3"
    await as_owner(stack, "credits settings", {"refill": 5, "period_hours": 6, "cap": 30})
    changed = await stack.invoke("credits settings", user_id=stack.ids.owner_id)
    fields = {
        f["name"]: f["value"] for f in (await private_message(stack, changed)).embed["fields"]
    }
    assert (fields["Refill"], fields["Refill cap"]) == ("+5 every 6 hours", "30")
    await as_owner(stack, "credits settings", {"reset": True})
    assert stack.db.rows("SELECT refill_amount, refill_cap FROM credit_settings") == [
        {"refill_amount": None, "refill_cap": None}
    ]


async def test_usage_report_attaches_a_csv(stack: Stack) -> None:
    stack.kvid.script(
        KvidScenario(processing_polls=1, used_credit=54),
        KvidScenario(processing_polls=1, outcome="failed", error_message="boom"),
    )
    await stack.invoke("video text", {"prompt": "works"})
    await stack.discord.wait_for(
        lambda: len([j for j in stack.job_rows() if j["delivered_at"]]) == 1, 30, description="1"
    )
    await stack.invoke("video text", {"prompt": "fails"}, user_id=stack.ids.other_user_id)
    await stack.discord.wait_for(
        lambda: len([j for j in stack.job_rows() if j["delivered_at"]]) == 2, 30, description="2"
    )

    # Roles are remembered whenever a member is seen with them (here: looking at the balance).
    for member in (stack.ids.user_id, stack.ids.other_user_id):
        await private_message(stack, await stack.invoke("credits balance", user_id=member))
    interaction = await stack.invoke(
        "credits usage", {"period": "today"}, user_id=stack.ids.owner_id
    )
    message = await private_message(stack, interaction, lambda m: m.attachments)
    assert message.embed["title"] == "Usage over today (UTC)"
    assert "2 videos · 15 credits spent · 1 failed · 1 refund (15 credits)" in described(message)
    table = list(csv.DictReader(io.StringIO(message.attachment("usage-today.csv").data.decode())))
    rows = {(r["scope"], r["id"]): r for r in table}
    kvid = rows[("provider", "kvid")]
    assert (kvid["jobs"], kvid["spent"], kvid["failed"], kvid["refunds"]) == ("2", "15", "1", "1")
    assert float(kvid["provider_cost"]) == 54
    alice = rows[("member", str(stack.ids.user_id))]
    assert (alice["spent"], alice["failed"]) == ("15", "0")
    assert rows[("role", str(stack.ids.member_role_id))]["jobs"] == "2"


async def test_members_cannot_run_admin_credit_commands(stack: Stack) -> None:
    for command, options in (
        ("credits settings", {"refill": 1000}),
        ("credits usage", None),
        ("credits tier set", {"name": "Mine", "discount": 100}),
        ("credits tier member", {"user": stack.ids.user_id, "tier": "Mine"}),
    ):
        interaction = await stack.invoke(command, options)
        assert "Manage Server" in await stack.private_reply(interaction)
    assert stack.db.rows("SELECT * FROM credit_settings") == []
    assert stack.db.rows("SELECT * FROM credit_tiers") == []


async def test_bad_tier_requests_say_what_to_change(stack: Stack) -> None:
    reply = await as_owner(
        stack, "credits tier role", {"role": stack.ids.member_role_id, "tier": "Nope"}
    )
    assert "There is no tier `Nope`. Create it first with `/credits tier set`." in reply
    reply = await as_owner(stack, "credits tier remove", {"name": "Nope"})
    assert "There is no tier `Nope`" in reply
    assert stack.db.rows("SELECT * FROM credit_tier_roles") == []
