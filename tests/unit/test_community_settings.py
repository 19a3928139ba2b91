"""Community settings and the admission verdict the job service asks for."""

from __future__ import annotations

import pytest

from bot.community import AdmissionQuery, Community, CommunityRefusal
from bot.community.settings import DAY, ApprovalMode, SettingsError
from bot.db import Database
from bot.providers.base import InvalidRequest
from tests.unit.community_support import (
    ADMIN,
    ALICE,
    CHANNEL,
    GUILD,
    community_fixture,  # noqa: F401 (a fixture)
)

OTHER_CHANNEL = 2_000_002
THREAD_PARENT = 2_000_003
ROLE_ARTIST = 4_000_001
ROLE_OTHER = 4_000_002


async def verdict(community: Community, db: Database, **kwargs):
    """The admission as the job service sees it: inside a write transaction."""
    args = dict(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=ALICE,
        role_ids=[ROLE_OTHER],
        joined_at=None,
        prompt="a lighthouse at night",
        channel_is_age_restricted=False,
    )
    args.update(kwargs)
    async with db.transaction() as tx:
        return await community.admission_in(tx, AdmissionQuery(**args))


async def test_a_new_server_is_open_to_everyone_everywhere(community, db) -> None:
    settings = await community.settings.get(GUILD)
    assert settings.approval_mode is ApprovalMode.OFF
    assert (settings.channel_ids, settings.role_ids) == (frozenset(), frozenset())
    admitted = await verdict(community, db)
    assert admitted.allowed
    assert not admitted.needs_approval
    assert admitted.force_safety_checker


async def test_the_safety_checker_is_forced_outside_age_restricted_channels(community, db) -> None:
    assert (await verdict(community, db)).force_safety_checker is True
    assert (
        await verdict(community, db, channel_is_age_restricted=True)
    ).force_safety_checker is False


async def test_channels_and_threads_of_allowed_channels(community, db) -> None:
    await community.settings.change_list(GUILD, ADMIN, "channels", add=OTHER_CHANNEL)
    refused = await verdict(community, db)
    assert (refused.allowed, refused.reason_key) == (False, "channel")
    assert f"<#{OTHER_CHANNEL}>" in str(refused.message)
    assert (await verdict(community, db, channel_id=OTHER_CHANNEL)).allowed
    assert (await verdict(community, db, channel_id=99, parent_channel_id=OTHER_CHANNEL)).allowed
    assert (await verdict(community, db, is_manager=True)).allowed  # admins may test anywhere
    with pytest.raises(SettingsError, match="not in the list"):
        await community.settings.change_list(GUILD, ADMIN, "channels", remove=CHANNEL)
    await community.settings.change_list(GUILD, ADMIN, "channels", clear=True)
    assert (await verdict(community, db)).allowed


async def test_roles(community, db) -> None:
    await community.settings.change_list(GUILD, ADMIN, "roles", add=ROLE_ARTIST)
    refused = await verdict(community, db)
    assert (refused.allowed, refused.reason_key) == (False, "role")
    assert f"<@&{ROLE_ARTIST}>" in str(refused.message)
    assert (await verdict(community, db, role_ids=[ROLE_OTHER, ROLE_ARTIST])).allowed
    assert not (await verdict(community, db, role_ids=None)).allowed


async def test_approval_for_new_members_and_for_everyone(community, db, clock) -> None:
    saved = await community.settings.configure(
        GUILD, ADMIN, approval_mode="new_members", new_member_days=3, approval_timeout_hours=2
    )
    assert (saved.approval_mode, saved.new_member_days) == (ApprovalMode.NEW_MEMBERS, 3)
    assert saved.approval_timeout_seconds == 7200
    fresh = await verdict(community, db, joined_at=clock() - 1 * DAY)
    assert fresh.allowed
    assert fresh.needs_approval
    assert "joined 1 day ago" in fresh.approval_reason
    veteran = await verdict(community, db, joined_at=clock() - 30 * DAY)
    assert veteran.allowed
    assert not veteran.needs_approval
    assert (await verdict(community, db, joined_at=None)).needs_approval
    assert not (await verdict(community, db, joined_at=None, is_manager=True)).needs_approval

    await community.settings.configure(GUILD, ADMIN, approval_mode=ApprovalMode.EVERYONE)
    assert (await verdict(community, db, joined_at=clock() - 300 * DAY)).needs_approval


async def test_bad_settings_are_refused(community) -> None:
    with pytest.raises(SettingsError, match="Approval mode"):
        await community.settings.configure(GUILD, ADMIN, approval_mode="sometimes")
    with pytest.raises(SettingsError, match="from 1 to 365"):
        await community.settings.configure(GUILD, ADMIN, new_member_days=0)
    with pytest.raises(SettingsError):
        await community.settings.set_channel(GUILD, ADMIN, "password", 1)


async def test_channels_settings_round_trip_and_are_logged(community) -> None:
    await community.settings.set_channel(GUILD, ADMIN, "moderators_channel_id", 11)
    await community.settings.set_channel(GUILD, ADMIN, "showcase_channel_id", 12)
    await community.settings.set_channel(GUILD, ADMIN, "audit_channel_id", 13)
    await community.settings.set_channel(GUILD, ADMIN, "showcase_channel_id", None)
    settings = await community.settings.get(GUILD)
    assert (
        settings.moderators_channel_id,
        settings.showcase_channel_id,
        settings.audit_channel_id,
    ) == (11, None, 13)
    details = [line.detail for line in await community.log.recent(GUILD)]
    assert details[0] == "showcase channel cleared"
    assert "moderators' channel set to <#11>" in details


async def test_a_refused_admission_raises_a_private_refusal(community, db) -> None:
    await community.bans.ban(GUILD, ADMIN, ALICE, None)
    async with db.transaction() as tx:
        query = AdmissionQuery(GUILD, CHANNEL, ALICE, [], None, "a kite", False)
        admission = await community.admission_in(tx, query)
    with pytest.raises(InvalidRequest) as refused:
        admission.require()
    assert isinstance(refused.value, CommunityRefusal)
    assert refused.value.admission.reason_key == "banned"
    assert "stopped you" in str(refused.value)
