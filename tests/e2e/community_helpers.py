"""Helpers for the community end-to-end tests (not a test module)."""

from __future__ import annotations

from typing import Any

from simulator.fake_discord import FakeInteraction, FakeMessage
from tests.e2e.conftest import Stack
from tests.fakes.kvid import KvidScenario

MODS_CHANNEL = 1300000000000000051
AUDIT_CHANNEL = 1300000000000000052
EVENTS_CHANNEL = 1300000000000000053


async def reply(stack: Stack, interaction: FakeInteraction, timeout: float = 10) -> FakeMessage:
    """The interaction's first finished answer (private or public), text or embed."""

    def find() -> FakeMessage | None:
        for message in [interaction.original, *interaction.followups]:
            if message is not None and not message.loading and (message.content or message.embeds):
                return message
        return None

    return await stack.discord.wait_for(find, timeout, description=f"a reply to {interaction}")


def text_of(message: FakeMessage) -> str:
    """Content plus every embed's title, description and fields, as one string."""
    parts = [message.content or ""]
    for embed in message.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(p for p in parts if p)


def fields(message: FakeMessage) -> dict[str, str]:
    """The first embed's fields by name."""
    return {f["name"]: f["value"] for f in (message.embed or {}).get("fields", [])}


async def as_owner(
    stack: Stack, command: str, options: dict[str, Any] | None = None
) -> FakeMessage:
    """Run a command as the server owner and return its answer."""
    interaction = await stack.invoke(command, options, user_id=stack.ids.owner_id)
    return await reply(stack, interaction)


def add_community_channels(stack: Stack) -> None:
    """A moderators' channel, an audit-log channel and an events channel."""
    guild = stack.ids.guild_id
    stack.discord.add_channel(guild, MODS_CHANNEL, "mods")
    stack.discord.add_channel(guild, AUDIT_CHANNEL, "audit-log")
    stack.discord.add_channel(guild, EVENTS_CHANNEL, "events")


async def make_video(stack: Stack, user_id: int, prompt: str) -> str:
    """A member makes a video through the real /video flow; returns its job id once delivered."""
    stack.kvid.script(KvidScenario(processing_polls=1))
    await stack.invoke("video text", {"prompt": prompt}, user_id=user_id)

    def done() -> str | None:
        for row in stack.job_rows():
            if row["request_json"] and prompt in str(row["request_json"]) and row["delivered_at"]:
                assert row["state"] == "succeeded", row
                return str(row["id"])
        return None

    return await stack.discord.wait_for(done, 30, description=f"the video {prompt!r}")


async def approval_setup(stack: Stack) -> None:
    """A moderators' channel, and every video waits for a moderator."""
    add_community_channels(stack)
    await as_owner(stack, "server moderators", {"channel": MODS_CHANNEL})
    await as_owner(stack, "server approval", {"mode": "everyone"})


async def posted_request(stack: Stack, job_id: str) -> FakeMessage:
    """The approval request the bot posted for a job."""
    return await stack.discord.wait_for_message(
        lambda m: f"approval:approve:{job_id}" in m.custom_ids, channel_id=MODS_CHANNEL, timeout=15
    )


async def shares_need_review(stack: Stack, prompt: str) -> str:
    """Alice's finished video, a showcase forum, and shares a moderator reviews first; its job id.

    The video is made before approval mode is on, so it does not wait for a moderator itself.
    """
    add_community_channels(stack)
    job_id = await make_video(stack, stack.ids.user_id, prompt)
    await as_owner(stack, "server showcase", {"channel": stack.ids.forum_channel_id})
    await as_owner(stack, "server moderators", {"channel": MODS_CHANNEL})
    await as_owner(stack, "server approval", {"mode": "everyone"})
    return job_id
