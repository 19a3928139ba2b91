"""End-to-end checks of FakeDiscord against the real discord.py client (loopback only)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from PIL import Image

from simulator.fake_discord import FakeDiscord, FakeMessage, FakeSettings
from simulator.fake_discord.constants import EPHEMERAL, LOADING

STYLES = ("cinematic", "anime", "claymation", "documentary")


def png_bytes(width: int = 320, height: int = 200) -> bytes:
    """A real PNG image."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# A tiny throwaway bot
# ---------------------------------------------------------------------------------------------


class RenameModal(discord.ui.Modal, title="Rename"):
    """Asks for a new name."""

    def __init__(self) -> None:
        super().__init__(custom_id="demo:rename-modal")

    new_name: discord.ui.TextInput[RenameModal] = discord.ui.TextInput(
        label="New name", custom_id="demo:name", max_length=50
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Echo the submitted value."""
        await interaction.response.send_message(f"renamed to {self.new_name.value}")


class AgainView(discord.ui.View):
    """Persistent buttons under a finished clip."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Again", custom_id="demo:again", style=discord.ButtonStyle.primary)
    async def again(
        self, interaction: discord.Interaction, _: discord.ui.Button[AgainView]
    ) -> None:
        """Reply privately."""
        await interaction.response.send_message(f"again by {interaction.user.id}", ephemeral=True)

    @discord.ui.button(label="Rename", custom_id="demo:rename")
    async def rename(
        self, interaction: discord.Interaction, _: discord.ui.Button[AgainView]
    ) -> None:
        """Open a modal."""
        await interaction.response.send_modal(RenameModal())

    @discord.ui.select(
        custom_id="demo:speed",
        placeholder="Speed",
        options=[discord.SelectOption(label="Slow"), discord.SelectOption(label="Fast")],
    )
    async def speed(
        self, interaction: discord.Interaction, select: discord.ui.Select[AgainView]
    ) -> None:
        """Update the message in place (callback type 7)."""
        await interaction.response.edit_message(content=f"speed={select.values[0]}")


@dataclass
class BotState:
    """What the tiny bot observed, for assertions."""

    forum_id: int
    release: asyncio.Event = field(default_factory=asyncio.Event)
    seen: dict[str, Any] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, key: str, value: Any) -> None:
        """Record a value and wake waiters."""
        self.seen[key] = value
        self.changed.set()

    async def get(self, key: str, timeout: float = 5.0) -> Any:
        """Wait for a recorded value."""
        async with asyncio.timeout(timeout):
            while key not in self.seen:
                self.changed.clear()
                await self.changed.wait()
        return self.seen[key]


def make_bot(state: BotState) -> commands.Bot:
    """A commands.Bot with a /demo group exercising the interaction surface."""
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())
    demo = app_commands.Group(name="demo", description="Demo commands")

    @demo.command(name="make", description="Make a clip")
    async def make(
        interaction: discord.Interaction, prompt: str, image: discord.Attachment | None = None
    ) -> None:
        await interaction.response.defer(thinking=True)
        data = await image.read() if image is not None else b""
        if image is not None:
            state.put("image", (image.filename, image.content_type, image.width, image.height))
        embed = discord.Embed(title="Clip ready", description=prompt)
        embed.add_field(name="bytes", value=str(len(data)))
        embed.set_footer(text=hashlib.sha256(data).hexdigest()[:16])
        clip = discord.File(io.BytesIO(b"VIDEO:" + data), filename="out.mp4")
        try:
            await interaction.edit_original_response(
                embed=embed, attachments=[clip], view=AgainView()
            )
        except discord.HTTPException as exc:
            state.put("make_error", (exc.status, exc.code))
            await interaction.edit_original_response(content="too big: link instead", embed=embed)

    @demo.command(name="pick", description="Pick a style")
    async def pick(interaction: discord.Interaction, style: str) -> None:
        try:
            await interaction.response.send_message(f"style={style}")
        except discord.HTTPException as exc:
            state.put("pick_error", (exc.status, exc.code))

    @pick.autocomplete("style")
    async def pick_style(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=s, value=s) for s in STYLES if current.lower() in s]

    @demo.command(name="announce", description="Post twice with one nonce")
    async def announce(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message("posting", ephemeral=True)
        channel = interaction.channel
        assert isinstance(channel, discord.TextChannel)
        first = await channel.send(text, nonce="demo-nonce-1")
        second = await channel.send(text, nonce="demo-nonce-1")
        state.put("announce", (first.id, second.id))

    @demo.command(name="slow", description="Defer, wait, then edit")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await state.release.wait()
        try:
            await interaction.edit_original_response(content="late")
        except discord.HTTPException as exc:
            state.put("slow_error", (exc.status, exc.code))

    @demo.command(name="post", description="Forum post and DM")
    async def post(interaction: discord.Interaction, title: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild is not None
        forum = interaction.guild.get_channel(state.forum_id)
        assert isinstance(forum, discord.ForumChannel)
        created = await forum.create_thread(
            name=title,
            content="fresh clip",
            file=discord.File(io.BytesIO(b"clip-bytes"), filename="clip.mp4"),
            applied_tags=[forum.available_tags[0]],
        )
        await created.message.add_reaction("\N{THUMBS UP SIGN}")
        dm = await interaction.user.send("your post is up")
        await interaction.followup.send(
            f"thread={created.thread.id} dm={dm.channel.id}", ephemeral=False
        )

    bot.tree.add_command(demo)

    @bot.tree.command(name="grant", description="Give credits")
    @app_commands.default_permissions(administrator=True)
    @app_commands.guild_only()
    async def grant(
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 1, 1000],
    ) -> None:
        await interaction.response.send_message(
            f"granted {amount} to {member.display_name} ({member.id})"
            f" admin={interaction.permissions.administrator}",
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def setup_hook() -> None:
        bot.add_view(AgainView())
        await bot.tree.sync()

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@dataclass
class Harness:
    """A started fake plus the in-process bot connected to it."""

    fake: FakeDiscord
    bot: commands.Bot
    state: BotState


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Any:
    """Point discord.py's two global hooks at the fake, and restore them afterwards."""
    old_base, old_gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def connected(fake: FakeDiscord, client: discord.Client) -> AsyncIterator[None]:
    """Run `client` against the fake until the block ends, then close it and wait for it."""
    with pointed_at(fake):
        client._connection.guild_ready_timeout = 0.05
        await client.login("fake-token")
        task = asyncio.create_task(client.connect())
        try:
            yield
        finally:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with the default guild."""
    fake = FakeDiscord.with_default_guild()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def harness(fake: FakeDiscord) -> AsyncIterator[Harness]:
    """The tiny bot, running in-process against the fake, commands synced."""
    assert fake.defaults is not None
    state = BotState(forum_id=fake.defaults.forum_channel_id)
    bot = make_bot(state)
    async with connected(fake, bot):
        await fake.wait_until_connected(5)
        await fake.wait_for_commands(5, names={"demo"})
        yield Harness(fake, bot, state)
    assert fake.unhandled_requests == []
    assert fake.internal_errors == []


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


async def test_login_and_json_content_type(fake: FakeDiscord) -> None:
    """Login routes answer with exactly application/json, as discord.py needs."""
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"{fake.api_base}/users/@me", headers={"Authorization": "Bot x"})
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["bot"] is True
        resp = await session.get(f"{fake.api_base}/users/@me")
        assert resp.status == 401
        resp = await session.get(
            f"{fake.api_base}/no/such/route", headers={"Authorization": "Bot x"}
        )
        assert resp.status == 404
    assert [(r.method, r.path) for r in fake.unhandled_requests] == [("GET", "/no/such/route")]
    fake.unhandled_requests.clear()


async def test_registered_schema_and_guild(harness: Harness) -> None:
    """tree.sync registers the schema; READY and GUILD_CREATE populate discord.py's cache."""
    fake, bot = harness.fake, harness.bot
    assert fake.defaults is not None
    demo, grant = sorted(fake.registered_commands, key=lambda c: c["name"])
    assert grant["default_member_permissions"] == "8"
    assert grant["contexts"] == [0]
    subs = {o["name"]: o for o in demo["options"]}
    assert set(subs) == {"make", "pick", "announce", "slow", "post"}
    assert [(o["name"], o["type"]) for o in subs["make"]["options"]] == [
        ("prompt", 3),
        ("image", 11),
    ]
    guild = bot.get_guild(fake.defaults.guild_id)
    assert guild is not None
    assert guild.name == "Sandbox Guild"
    assert isinstance(guild.get_channel(fake.defaults.forum_channel_id), discord.ForumChannel)
    assert guild.get_channel(fake.defaults.nsfw_channel_id).is_nsfw()  # type: ignore[union-attr]
    assert guild.me is not None
    assert guild.member_count == 5
    assert bot.user is not None
    assert bot.user.id == fake.bot_user_id
    assert bot.application_id == fake.application_id


async def test_slash_command_attachment_file_embed_and_button(harness: Harness) -> None:
    """Defer, read the attachment from the CDN, edit with embed, file and a persistent button."""
    fake, state = harness.fake, harness.state
    image = png_bytes(320, 200)
    inter = await fake.invoke(
        "demo make", {"prompt": "a cat"}, attachments={"image": ("cat pic.png", image, "image/png")}
    )
    first = await inter.wait_for_response()
    assert first.type == 5
    original = await inter.wait_for_original(lambda m: m.embeds)
    assert original.interaction_id == inter.id
    assert not original.loading
    assert not original.ephemeral
    assert original.edit_count == 1
    assert state.seen["image"] == ("cat_pic.png", "image/png", 320, 200)
    clip = original.attachment("out.mp4")
    assert clip is not None
    assert clip.data == b"VIDEO:" + image
    assert clip.size == len(image) + 6
    assert clip.content_type == "video/mp4"
    embed = original.embed
    assert embed is not None
    assert embed["title"] == "Clip ready"
    assert embed["description"] == "a cat"
    assert embed["fields"] == [{"name": "bytes", "value": str(len(image)), "inline": True}]
    assert embed["footer"]["text"] == hashlib.sha256(image).hexdigest()[:16]
    assert original.custom_ids == ("demo:again", "demo:rename", "demo:speed")
    assert fake.requests_matching("GET", r"/ephemeral-attachments/\d+/\d+/cat_pic\.png$")

    click = await fake.click(original.id, "demo:again")
    reply = await click.wait_for_original()
    assert click.response is not None
    assert click.response.type == 4
    assert reply.flags & EPHEMERAL
    assert fake.defaults is not None
    assert reply.content == f"again by {fake.defaults.user_id}"
    assert reply.id not in {
        m.id for m in fake.channel_messages(reply.channel_id, include_ephemeral=False)
    }


async def test_select_updates_message_in_place(harness: Harness) -> None:
    """A select menu answered with edit_message (type 7) edits the message it is on."""
    fake = harness.fake
    inter = await fake.invoke("demo make", {"prompt": "sel"})
    original = await inter.wait_for_original(lambda m: m.components)
    with pytest.raises(LookupError):
        await fake.click(original.id, "demo:nope")
    pick = await fake.click(original.id, "demo:speed", values=["Fast"])
    assert pick.payload["data"] == {
        "custom_id": "demo:speed",
        "component_type": 3,
        "values": ["Fast"],
    }
    assert pick.payload["message"]["id"] == str(original.id)
    assert (await pick.wait_for_response()).type == 7
    updated = await pick.wait_for_original(lambda m: m.content == "speed=Fast")
    assert updated.id == original.id
    assert updated.edit_count == 2
    assert updated.attachment("out.mp4") is not None  # untouched by the edit


async def test_modal_roundtrip(harness: Harness) -> None:
    """A button opens a modal; submitting it reaches the modal's on_submit."""
    fake = harness.fake
    inter = await fake.invoke("demo make", {"prompt": "dog"})
    original = await inter.wait_for_original(lambda m: m.components)
    click = await fake.click(original.id, "demo:rename")
    assert (await click.wait_for_response()).type == 9
    assert click.modal is not None
    assert click.modal["title"] == "Rename"
    submitted = await fake.submit_modal("demo:rename-modal", {"demo:name": "Rex"})
    reply = await submitted.wait_for_original()
    assert reply.content == "renamed to Rex"
    with pytest.raises(ValueError, match="required"):
        await fake.submit_modal("demo:rename-modal", {"demo:name": ""})


async def test_autocomplete(harness: Harness) -> None:
    """Autocomplete returns the bot's choices for the focused option."""
    choices = await harness.fake.autocomplete("demo pick", {"style": "an"}, focused="style")
    assert choices == [{"name": "anime", "value": "anime"}]
    inter = await harness.fake.invoke("demo pick", {"style": "anime"})
    assert (await inter.wait_for_original()).content == "style=anime"


async def test_rate_limits_are_retried(harness: Harness) -> None:
    """Injected 429s (route and global) are honoured and retried by discord.py."""
    fake = harness.fake
    webhook_rule = fake.inject_rate_limit(
        "PATCH", r"^/webhooks/\d+/[^/]+/messages/@original$", retry_after=0.2
    )
    channel_rule = fake.inject_rate_limit(
        "POST", r"^/channels/\d+/messages$", retry_after=0.1, global_=True
    )
    inter = await fake.invoke("demo make", {"prompt": "rl"})
    original = await inter.wait_for_original(lambda m: m.attachments)
    assert original.attachment("out.mp4") is not None
    patches = fake.requests_matching("PATCH", r"/messages/@original$")
    assert len(patches) == 2
    assert patches[1].time - patches[0].time >= 0.19
    assert webhook_rule.remaining == 0
    assert len(webhook_rule.hits) == 1

    await fake.invoke("demo announce", {"text": "hello all"})
    first_id, second_id = await harness.state.get("announce")
    assert channel_rule.hits
    assert first_id == second_id  # the repeated nonce returned the same message
    assert fake.defaults is not None
    posted = [
        m
        for m in fake.channel_messages(fake.defaults.channel_id, include_ephemeral=False)
        if m.content == "hello all"
    ]
    assert [m.id for m in posted] == [first_id]
    assert posted[0].nonce == "demo-nonce-1"
    assert len(fake.requests_matching("POST", r"^/channels/\d+/messages$")) == 3


async def test_expired_token_gives_50027(harness: Harness) -> None:
    """An expired interaction token makes discord.py raise HTTPException 401 / 50027."""
    fake, state = harness.fake, harness.state
    inter = await fake.invoke("demo slow")
    assert (await inter.wait_for_response()).type == 5
    fake.expire_interaction(inter.id)
    state.release.set()
    assert await state.get("slow_error") == (401, 50027)
    assert [(e.status, e.code) for e in inter.errors] == [(401, 50027)]
    original = inter.original
    assert original is not None
    assert original.loading


async def test_file_over_attachment_size_limit_gives_40005(harness: Harness) -> None:
    """A file over the interaction's attachment_size_limit is refused with 413 / 40005."""
    fake, state = harness.fake, harness.state
    inter = await fake.invoke(
        "demo make",
        {"prompt": "big"},
        attachments={"image": ("big.png", png_bytes(64, 64), "image/png")},
        attachment_size_limit=100,
    )
    assert inter.payload["attachment_size_limit"] == 100
    original = await inter.wait_for_original()
    assert await state.get("make_error") == (413, 40005)
    assert [(e.method, e.code) for e in inter.errors] == [("PATCH", 40005)]
    assert original.content == "too big: link instead"
    assert original.attachments == ()


async def test_double_ack_and_deadline(harness: Harness) -> None:
    """A second initial response gets 40060; a response after the deadline gets 10062."""
    fake, state = harness.fake, harness.state
    inter = await fake.invoke("demo pick", {"style": "anime"})
    await inter.wait_for_original()
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            f"{fake.api_base}/interactions/{inter.id}/{inter.token}/callback",
            json={"type": 4, "data": {"content": "again"}},
        )
        assert resp.status == 400
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["code"] == 40060
        hook = f"{fake.api_base}/webhooks/{fake.application_id}/{inter.token}/messages/@original"
        resp = await session.get(hook)
        body = await resp.json()
        assert (resp.status, body["content"]) == (200, "style=anime")
        assert body["interaction_metadata"]["id"] == str(inter.id)
        assert (await session.delete(hook)).status == 204
        assert (await session.get(hook)).status == 404
        resp = await session.post(f"{fake.api_base}/webhooks/{fake.application_id}/bogus?wait=1")
        assert (resp.status, (await resp.json())["code"]) == (404, 10015)
    assert len(inter.responses) == 1
    assert [e.code for e in inter.errors] == [40060, 10008]
    original = inter.original
    assert original is not None
    assert original.deleted

    fake.settings = replace(fake.settings, initial_response_timeout=0.0)
    late = await fake.invoke("demo pick", {"style": "anime"})
    assert await state.get("pick_error") == (404, 10062)
    assert late.missed_deadline
    assert [(e.status, e.code) for e in late.errors] == [(404, 10062)]
    assert not late.acknowledged


async def test_forum_post_reaction_dm_and_followup(harness: Harness) -> None:
    """A forum post (thread + starter message with a file), a reaction, a DM and a followup."""
    fake = harness.fake
    assert fake.defaults is not None
    inter = await fake.invoke("demo post", {"title": "My clip"})
    result = await inter.wait_for_original(lambda m: m.content.startswith("thread="))
    assert result.ephemeral  # the defer fixed it; the followup's flags are ignored
    assert inter.followups == []  # the first followup after a defer edited the original
    (thread,) = fake.threads(fake.defaults.forum_channel_id)
    assert thread.name == "My clip"
    assert len(thread.applied_tags) == 1
    (starter,) = fake.channel_messages(thread.id)
    assert starter.id == thread.id
    assert starter.content == "fresh clip"
    assert starter.attachments[0].data == b"clip-bytes"
    assert starter.reactions == {"\N{THUMBS UP SIGN}": (fake.bot_user_id,)}
    dm_channel = fake.dm_channel_id(fake.defaults.user_id)
    assert dm_channel is not None
    assert [m.content for m in fake.channel_messages(dm_channel)] == ["your post is up"]
    assert result.content == f"thread={thread.id} dm={dm_channel}"


async def test_reconnect_resume_and_reidentify(harness: Harness) -> None:
    """After disconnects (resumable, then not) the bot comes back and still answers."""
    fake, bot = harness.fake, harness.bot
    assert fake.defaults is not None
    await fake.disconnect_bot()
    away = fake.post_user_message(fake.defaults.channel_id, "while you were away")
    await fake.wait_until_connected(5, connections=2)
    assert fake.connections[-1].resumed
    inter = await fake.invoke("demo pick", {"style": "anime"})
    assert (await inter.wait_for_original()).content == "style=anime"
    assert any(m.id == away.id for m in bot.cached_messages)

    fake.request_reconnect()
    await fake.wait_until_connected(5, connections=3)
    assert fake.connections[-1].resumed

    await fake.disconnect_bot(resumable=False)
    await fake.wait_until_connected(10, connections=4)
    live = [c for c in fake.connections if c.open]
    assert len(live) == 1
    assert not live[0].resumed
    inter = await fake.invoke("demo pick", {"style": "claymation"})
    assert (await inter.wait_for_original()).content == "style=claymation"


def _invalid_options(fake: FakeDiscord) -> list[tuple[str, dict[str, Any], type[Exception]]]:
    return [
        ("demo", {}, ValueError),
        ("demo nope", {}, LookupError),
        ("demo pick", {}, ValueError),
        ("demo pick", {"style": 3}, TypeError),
        ("demo pick", {"style": "x", "extra": 1}, ValueError),
    ]


async def test_invoke_validates_like_the_discord_client(harness: Harness) -> None:
    """invoke refuses what the Discord client would not let a user send."""
    for command, options, error in _invalid_options(harness.fake):
        with pytest.raises(error):
            await harness.fake.invoke(command, options)


SUBPROCESS_BOT = textwrap.dedent(
    """
    import os

    import discord
    import yarl
    from discord import app_commands
    from discord.gateway import DiscordWebSocket

    discord.http.Route.BASE = os.environ["FAKE_DISCORD_API"]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["FAKE_DISCORD_GATEWAY"])


    class Bot(discord.Client):
        def __init__(self):
            super().__init__(intents=discord.Intents.default())
            self.tree = app_commands.CommandTree(self)
            self._connection.guild_ready_timeout = 0.05

        async def setup_hook(self):
            await self.tree.sync()


    bot = Bot()


    @bot.tree.command(name="ping", description="Ping")
    async def ping(interaction):
        await interaction.response.defer()
        await interaction.followup.send(f"pong from {os.getpid()}")


    bot.run("fake-token", log_handler=None)
    """
)


async def _spawn(script: Path, fake: FakeDiscord) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "FAKE_DISCORD_API": fake.api_base,
        "FAKE_DISCORD_GATEWAY": fake.gateway_url,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _ping(fake: FakeDiscord) -> FakeMessage:
    inter = await fake.invoke("ping")
    return await inter.wait_for_original(timeout=10)


async def test_subprocess_bot_survives_sigkill_and_restart(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """A bot process killed with SIGKILL and restarted is served again on a new connection."""
    script = tmp_path / "tiny_bot.py"
    script.write_text(SUBPROCESS_BOT)
    procs: list[asyncio.subprocess.Process] = []
    try:
        procs.append(await _spawn(script, fake))
        await fake.wait_until_connected(20)
        await fake.wait_for_commands(10, names={"ping"})
        first = await _ping(fake)
        assert first.content == f"pong from {procs[0].pid}"

        procs[0].send_signal(signal.SIGKILL)
        await procs[0].wait()
        await fake.wait_until_disconnected(10)

        procs.append(await _spawn(script, fake))
        await fake.wait_until_connected(20, connections=2)
        second = await _ping(fake)
        assert second.content == f"pong from {procs[1].pid}"
        assert second.flags & LOADING == 0
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    records = fake.connections
    assert len(records) == 2
    assert not records[0].open
    assert not records[0].resumed
    assert not records[1].resumed
    assert records[0].session_id != records[1].session_id
    assert fake.unhandled_requests == []
    assert fake.internal_errors == []


async def test_user_option_permissions_and_dm(harness: Harness) -> None:
    """USER options are resolved to members; default_member_permissions and contexts apply."""
    fake = harness.fake
    assert fake.defaults is not None
    with pytest.raises(PermissionError):
        await fake.invoke("grant", {"member": fake.defaults.other_user_id, "amount": 5})
    with pytest.raises(ValueError, match="max_value"):
        await fake.invoke(
            "grant",
            {"member": fake.defaults.other_user_id, "amount": 5000},
            user_id=fake.defaults.owner_id,
        )
    inter = await fake.invoke(
        "grant",
        {"member": fake.defaults.other_user_id, "amount": 5},
        user_id=fake.defaults.owner_id,
    )
    resolved = inter.payload["data"]["resolved"]
    assert set(resolved) == {"users", "members"}
    reply = await inter.wait_for_original()
    assert reply.content == f"granted 5 to bob ({fake.defaults.other_user_id}) admin=True"
    assert reply.allowed_mentions == {"parse": []}

    with pytest.raises(PermissionError):
        await fake.invoke("grant", {"member": fake.defaults.user_id, "amount": 1}, dm=True)
    in_dm = await fake.invoke("demo pick", {"style": "anime"}, dm=True)
    dm_reply = await in_dm.wait_for_original()
    assert dm_reply.guild_id is None
    assert dm_reply.channel_id == fake.dm_channel_id(fake.defaults.user_id)
    assert "user" in in_dm.payload
    assert "member" not in in_dm.payload


async def test_members_intent_chunking_user_messages_and_reactions(fake: FakeDiscord) -> None:
    """With privileged intents the guild is chunked (op 8) and user activity is dispatched."""
    assert fake.defaults is not None
    seen: dict[str, Any] = {}
    got = asyncio.Event()
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    client = discord.Client(intents=intents)

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.id != fake.bot_user_id:
            seen["message"] = (message.author.id, message.content, message.guild)
            got.set()

    @client.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        seen["reaction"] = (payload.user_id, str(payload.emoji), payload.message_id)
        got.set()

    async with connected(fake, client):
        async with asyncio.timeout(5):
            await client.wait_until_ready()
        guild = client.get_guild(fake.defaults.guild_id)
        assert guild is not None
        assert guild.chunked
        assert {m.name for m in guild.members} == {
            "sandbox-owner",
            "SandboxBot",
            "alice",
            "bob",
            "mod",
        }
        assert fake.requests_matching("*", "/gateway")

        posted = fake.post_user_message(fake.defaults.channel_id, "hello bot")
        await asyncio.wait_for(got.wait(), 5)
        assert seen["message"][:2] == (fake.defaults.user_id, "hello bot")
        got.clear()
        fake.add_user_reaction(posted.id, "\N{FIRE}")
        await asyncio.wait_for(got.wait(), 5)
        assert seen["reaction"] == (fake.defaults.user_id, "\N{FIRE}", posted.id)
    assert fake.unhandled_requests == []
    assert fake.internal_errors == []


async def test_channel_upload_limit_follows_boost_tier(fake: FakeDiscord) -> None:
    """Channel uploads over the guild's tier limit get 413 / 40005; a boost raises the limit."""
    assert fake.defaults is not None
    blob = b"\0" * (10 * 1024 * 1024 + 1)
    url = f"{fake.api_base}/channels/{fake.defaults.channel_id}/messages"

    def form() -> aiohttp.FormData:
        data = aiohttp.FormData(quote_fields=False)
        data.add_field(
            "payload_json", '{"content": "clip", "attachments": [{"id": 0, "filename": "a.mp4"}]}'
        )
        data.add_field("files[0]", blob, filename="a.mp4", content_type="application/octet-stream")
        return data

    async with aiohttp.ClientSession(headers={"Authorization": "Bot x"}) as session:
        resp = await session.post(url, data=form())
        assert resp.status == 413
        assert await resp.json() == {"message": "Request entity too large", "code": 40005}
        fake.set_guild(fake.defaults.guild_id, premium_tier=2)
        resp = await session.post(url, data=form())
        assert resp.status == 200
        body = await resp.json()
    (att,) = body["attachments"]
    assert (att["filename"], att["size"], att["content_type"]) == ("a.mp4", len(blob), "video/mp4")
    stored = fake.message(int(body["id"]))
    assert stored is not None
    assert stored.attachments[0].data == blob


async def test_wait_for_timeout_says_what_was_awaited(fake: FakeDiscord) -> None:
    """A wait that times out raises TimeoutError naming what it waited for."""
    with pytest.raises(TimeoutError, match="the impossible"):
        await fake.wait_for(lambda: False, 0.05, description="the impossible")


async def test_resume_replays_missed_events_raw(fake: FakeDiscord) -> None:
    """RESUME replays events sent while disconnected; an unknown session gets op 9."""
    assert fake.defaults is not None
    intents = (1 << 0) | (1 << 9)  # GUILDS | GUILD_MESSAGES
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "t", "intents": intents, "properties": {}}})
            ready = await ws.receive_json()
            assert (ready["t"], ready["s"]) == ("READY", 1)
            assert ready["d"]["resume_gateway_url"] == fake.gateway_url
            guild_create = await ws.receive_json()
            assert guild_create["t"] == "GUILD_CREATE"
            await ws.send_json({"op": 1, "d": 2})
            assert (await ws.receive_json())["op"] == 11
        await fake.wait_until_disconnected()
        missed = fake.post_user_message(fake.defaults.channel_id, "missed")
        async with session.ws_connect(fake.gateway_url) as ws:
            assert (await ws.receive_json())["op"] == 10
            resume = {"token": "t", "session_id": ready["d"]["session_id"], "seq": 2}
            await ws.send_json({"op": 6, "d": resume})
            replayed = await ws.receive_json()
            assert (replayed["t"], replayed["s"]) == ("MESSAGE_CREATE", 3)
            assert replayed["d"]["id"] == str(missed.id)
            assert replayed["d"]["content"] == ""  # no MESSAGE_CONTENT intent
            assert (await ws.receive_json())["t"] == "RESUMED"
        async with session.ws_connect(fake.gateway_url) as ws:
            await ws.receive_json()
            await ws.send_json({"op": 6, "d": {"token": "t", "session_id": "nope", "seq": 1}})
            assert await ws.receive_json() == {"op": 9, "d": False}
    assert [c.resumed for c in fake.connections] == [False, True, False]


async def test_heartbeat_acks_are_measured_against_the_beat_they_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every ACK arrives after discord.py has recorded its beat: latency is the ACK delay, not
    the whole interval (which, at Discord's 41.25 s, logged "Can't keep up" on every beat)."""
    fake = FakeDiscord.with_default_guild(FakeSettings(heartbeat_interval_ms=400))
    await fake.start()
    try:
        client = discord.Client(intents=discord.Intents.default())
        async with connected(fake, client):
            async with asyncio.timeout(5):
                await client.wait_until_ready()
            latencies = []
            for _ in range(6):
                # One reading per beat, after its ACK came back.
                await asyncio.sleep(0.4)
                latencies.append(client.latency)
    finally:
        await fake.stop()
    assert all(latency < 0.25 for latency in latencies), latencies
    assert max(latencies) >= fake.settings.heartbeat_ack_delay * 0.9, latencies
    assert "behind" not in caplog.text


async def test_a_caller_dying_mid_upload_is_not_a_fake_error(fake: FakeDiscord) -> None:
    """A bot killed while uploading leaves a cut-off request: dropped, as Discord would."""
    assert fake.defaults is not None
    _, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    part = (
        b'--xx\r\nContent-Disposition: form-data; name="files[0]"; filename="a.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n" + b"x" * 1000
    )
    writer.write(
        f"POST /api/v10/channels/{fake.defaults.channel_id}/messages HTTP/1.1\r\n"
        "Host: fake\r\nAuthorization: Bot x\r\n"
        "Content-Type: multipart/form-data; boundary=xx\r\nContent-Length: 100000\r\n\r\n".encode()
        + part
    )
    await writer.drain()
    await fake.wait_for(lambda: fake.requests, 5)
    writer.transport.abort()
    [dropped] = await fake.wait_for(lambda: fake.dropped_requests, 5)
    assert (dropped.method, dropped.path) == (
        "POST",
        f"/channels/{fake.defaults.channel_id}/messages",
    )
    assert fake.internal_errors == []
    assert fake.channel_messages(fake.defaults.channel_id) == []
