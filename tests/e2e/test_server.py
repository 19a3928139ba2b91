"""/server through the real bot and the fake Discord: who may run it, and what it keeps."""

from __future__ import annotations

import discord
import pytest

from tests.e2e.community_helpers import (
    AUDIT_CHANNEL,
    MODS_CHANNEL,
    add_community_channels,
    as_owner,
    fields,
    reply,
    text_of,
)
from tests.e2e.conftest import Stack

COMMUNITY_TABLES = (
    "community_settings",
    "community_channels",
    "community_roles",
    "blocked_terms",
    "generation_bans",
    "pool_movements",
    "moderation_log",
)


def _let_everyone_see(stack: Stack, command: str) -> None:
    """What a server admin can do in Server Settings > Integrations: show `command` to all."""
    # The fake keeps no per-server overrides, so its registered command is changed in place.
    stack.discord._find_command(command, stack.ids.guild_id)["default_member_permissions"] = None


async def test_discord_hides_server_from_members_and_dms(stack: Stack) -> None:
    registered = next(c for c in stack.discord.registered_commands if c["name"] == "server")
    manage_server = discord.Permissions(manage_guild=True).value
    assert registered["default_member_permissions"] == str(manage_server)
    assert registered["contexts"] == [0]  # servers only, through interaction contexts
    for user in (stack.ids.user_id, stack.ids.moderator_id):
        with pytest.raises(PermissionError, match="needs permissions"):
            await stack.invoke("server settings", user_id=user)
    answer = await as_owner(stack, "server settings")
    assert "Manage Server" not in text_of(answer)


async def test_a_member_is_refused_on_every_server_command(stack: Stack) -> None:
    # Discord hides /server from them by default; the code refuses them even when an admin
    # has shown it to everyone.
    _let_everyone_see(stack, "server")
    ids = stack.ids
    attempts = {
        "server settings": None,
        "server channels": {"add": ids.channel_id},
        "server roles": {"add": ids.member_role_id},
        "server moderators": {"channel": ids.channel_id},
        "server auditlog": {"channel": ids.channel_id},
        "server showcase": {"channel": ids.forum_channel_id},
        "server approval": {"mode": "everyone"},
        "server block": {"term": "kites", "name": "No kites"},
        "server unblock": {"name": "No kites"},
        "server ban": {"user": ids.other_user_id, "reason": "because"},
        "server unban": {"user": ids.other_user_id},
        "server pool": {"add": 1000},
    }
    registered = next(c for c in stack.discord.registered_commands if c["name"] == "server")
    assert {f"server {o['name']}" for o in registered["options"]} == set(attempts)
    # The moderator has Manage Messages but not Manage Server: refused too.
    for user in (ids.user_id, ids.moderator_id):
        for command, options in attempts.items():
            interaction = await stack.invoke(command, options, user_id=user)
            answer = await reply(stack, interaction)
            assert answer.ephemeral, command
            assert "Manage Server" in text_of(answer), (command, text_of(answer))
    for table in COMMUNITY_TABLES:
        assert stack.db.rows(f"SELECT * FROM {table}") == [], table
    assert stack.db.rows("SELECT * FROM ledger WHERE user_id = 0") == []


async def test_settings_round_trip(stack: Stack) -> None:
    ids = stack.ids
    add_community_channels(stack)
    empty = await as_owner(stack, "server settings")
    shown = fields(empty)
    assert shown["Where videos can be made"] == "all channels"
    assert shown["Who can make videos"] == "everyone"
    assert shown["Approval"] == "off"
    assert shown["Moderators' channel"] == "not set"

    assert (await as_owner(stack, "server channels", {"add": ids.channel_id})).content == "Saved."
    await as_owner(stack, "server roles", {"add": ids.member_role_id})
    await as_owner(stack, "server moderators", {"channel": MODS_CHANNEL})
    await as_owner(stack, "server auditlog", {"channel": AUDIT_CHANNEL})
    await as_owner(stack, "server showcase", {"channel": ids.forum_channel_id})
    approval = await as_owner(
        stack, "server approval", {"mode": "new_members", "days": 3, "timeout_hours": 12}
    )
    assert "members who joined less than 3 days ago" in approval.content
    await as_owner(stack, "server block", {"term": "Gore", "name": "Graphic violence"})
    await as_owner(stack, "server ban", {"user": ids.other_user_id, "reason": "spam"})
    await as_owner(stack, "server pool", {"add": 200, "daily_limit": 40})

    shown = fields(await as_owner(stack, "server settings"))
    assert shown["Where videos can be made"] == f"<#{ids.channel_id}>"
    assert shown["Who can make videos"] == f"<@&{ids.member_role_id}>"
    assert shown["Moderators' channel"] == f"<#{MODS_CHANNEL}>"
    assert shown["Audit-log channel"] == f"<#{AUDIT_CHANNEL}>"
    assert shown["Showcase channel"] == f"<#{ids.forum_channel_id}>"
    assert shown["Approval"] == (
        "videos of members who joined less than 3 days ago; undecided after 12 h: released"
    )
    assert shown["Blocked terms (1)"] == "**Graphic violence** · word `gore`"
    assert shown["Banned from generating (1)"] == f"<@{ids.other_user_id}> · spam"
    assert shown["Server pool"] == "200 credits · 40 per member per day"

    [settings] = stack.db.rows(
        "SELECT moderators_channel_id, audit_channel_id, showcase_channel_id, approval_mode, "
        "new_member_days, approval_timeout_hours, pool_daily_limit FROM community_settings"
    )
    assert settings == {
        "moderators_channel_id": MODS_CHANNEL,
        "audit_channel_id": AUDIT_CHANNEL,
        "showcase_channel_id": ids.forum_channel_id,
        "approval_mode": "new_members",
        "new_member_days": 3,
        "approval_timeout_hours": 12,
        "pool_daily_limit": 40,
    }
    # Every admin action is in the log, by whom, and goes to the audit-log channel once set.
    log = stack.db.rows("SELECT action, actor_id, detail FROM moderation_log ORDER BY id")
    assert {row["actor_id"] for row in log} == {ids.owner_id}
    assert [row["action"] for row in log] == [
        "settings",
        "settings",
        "settings",
        "settings",
        "settings",
        "settings",
        "block",
        "ban",
        "pool add",
        "pool limit",
    ]

    def relayed() -> list[str] | None:
        posted = [m.content for m in stack.discord.channel_messages(AUDIT_CHANNEL)]
        return posted if len(posted) == 6 else None

    posted = await stack.discord.wait_for(relayed, 15, description="the audit-log lines")
    assert posted[0].startswith("**settings** · <@")
    assert "audit-log channel set to" in posted[0]
    assert any("**ban**" in line and "spam" in line for line in posted)
    assert not any("gore" in line.lower() for line in posted)  # rules are logged by name


async def test_clearing_settings(stack: Stack) -> None:
    ids = stack.ids
    await as_owner(stack, "server channels", {"add": ids.channel_id})
    await as_owner(stack, "server channels", {"add": ids.nsfw_channel_id})
    await as_owner(stack, "server channels", {"remove": ids.channel_id})
    shown = fields(await as_owner(stack, "server settings"))
    assert shown["Where videos can be made"] == f"<#{ids.nsfw_channel_id}>"
    refused = await as_owner(stack, "server channels", {"remove": ids.channel_id})
    assert "is not in the list" in text_of(refused)
    await as_owner(stack, "server channels", {"clear": True})
    await as_owner(stack, "server showcase", {"channel": ids.forum_channel_id})
    await as_owner(stack, "server showcase", {"clear": True})
    shown = fields(await as_owner(stack, "server settings"))
    assert shown["Where videos can be made"] == "all channels"
    assert shown["Showcase channel"] == "not set"


async def test_blocked_terms_are_configured_by_name(stack: Stack) -> None:
    saved = await as_owner(
        stack, "server block", {"term": r"free\s*crypto", "name": "Scams", "kind": "pattern"}
    )
    assert "**Scams**" in saved.content
    await as_owner(stack, "server block", {"term": "blood bath"})
    unsafe = await as_owner(stack, "server block", {"term": "(a+)+$", "kind": "pattern"})
    assert "nest repeats" in unsafe.content
    duplicate = await as_owner(stack, "server block", {"term": "Blood  Bath"})
    assert 'already blocked, by the rule named "word rule 2"' in duplicate.content
    rules = stack.db.rows("SELECT kind, term, name FROM blocked_terms ORDER BY id")
    assert rules == [
        {"kind": "pattern", "term": r"free\s*crypto", "name": "Scams"},
        {"kind": "word", "term": "blood bath", "name": "word rule 2"},
    ]

    choices = await stack.discord.autocomplete(
        "server unblock", {}, "name", user_id=stack.ids.owner_id
    )
    assert [c["value"] for c in choices] == ["Scams", "word rule 2"]
    _let_everyone_see(stack, "server")
    assert await stack.discord.autocomplete("server unblock", {}, "name") == []  # members

    removed = await as_owner(stack, "server unblock", {"name": "scams"})
    assert removed.content == "Rule **Scams** removed."
    missing = await as_owner(stack, "server unblock", {"name": "scams"})
    assert "There is no rule named `scams`" in missing.content
    assert [r["name"] for r in stack.db.rows("SELECT name FROM blocked_terms")] == ["word rule 2"]


async def test_ban_and_unban(stack: Stack) -> None:
    bob = stack.ids.other_user_id
    banned = await as_owner(stack, "server ban", {"user": bob})
    assert banned.content == f"<@{bob}> can no longer make videos here."
    assert stack.db.rows("SELECT user_id, reason FROM generation_bans") == [
        {"user_id": bob, "reason": None}
    ]
    lifted = await as_owner(stack, "server unban", {"user": bob})
    assert lifted.content == f"<@{bob}> can make videos again."
    again = await as_owner(stack, "server unban", {"user": bob})
    assert "is not banned" in again.content
    actions = stack.db.rows("SELECT action, target_user_id FROM moderation_log ORDER BY id")
    assert actions == [
        {"action": "ban", "target_user_id": bob},
        {"action": "unban", "target_user_id": bob},
    ]


async def test_pool_add_and_show(stack: Stack) -> None:
    first = await as_owner(stack, "server pool", {"add": 500})
    assert first.content == "Added 500 credits."
    assert first.embed["description"].startswith("**500 credits**")
    assert "25 per member per UTC day" in first.embed["description"]
    report = fields(first)
    assert report["Who added credits"] == f"<@{stack.ids.owner_id}> · 500"
    assert report["Who drew or won what"] == "nobody yet"

    changed = await as_owner(stack, "server pool", {"remove": 120, "daily_limit": 0})
    assert changed.content == "Removed 120 credits. Daily limit per member: 0."
    assert "drawing off" in changed.embed["description"]
    too_much = await as_owner(stack, "server pool", {"remove": 1000})
    assert "remove at most 380" in text_of(too_much)

    shown = await as_owner(stack, "server pool", {"period": "all"})
    assert shown.content == ""
    assert shown.embed["description"].startswith("**380 credits**")
    assert fields(shown)["In and out, all time"] == ("added 500 · removed 120 · drawn 0 · prizes 0")
    # The pool is a ledger account (user 0): every movement is a ledger row.
    rows = stack.db.rows(
        "SELECT kind, balance_delta, actor_id FROM ledger WHERE user_id = 0 ORDER BY id"
    )
    assert rows == [
        {"kind": "grant", "balance_delta": 500, "actor_id": stack.ids.owner_id},
        {"kind": "take", "balance_delta": -120, "actor_id": stack.ids.owner_id},
    ]
    assert stack.db.balance(stack.ids.guild_id, 0) == (380, 0)
