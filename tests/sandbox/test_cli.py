"""The offline sandbox: scripts through the real bot process, the line parser, the text view."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from PIL import Image

from bot.__main__ import sandbox_wanted
from simulator import cli
from simulator.commands import (
    Catalog,
    Directory,
    LineError,
    MetaCommand,
    SlashCommand,
    parse_line,
)
from simulator.fake_discord import FakeAttachment, FakeDiscord, FakeMessage, FakeSettings
from simulator.fake_discord.records import _Msg
from simulator.render_text import Names, card_state, render_message
from simulator.session import Session
from tests.render.helpers import probe

REPO = Path(__file__).resolve().parents[2]
HEIGHTS = {"480p": 480, "720p": 720, "1080p": 1080}


# ---------------------------------------------------------------------------------------------
# Scripts through `python -m bot`: the real bot process, the fake Discord, the local provider
# ---------------------------------------------------------------------------------------------


def run_bot(args: list[str], cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` as a newcomer runs it: no token, no keys, stdin not a terminal."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "KVID_", "KLING_", "SANDBOX_"))
    }
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def requested_clips(script: str) -> list[tuple[str, int]]:
    """(resolution, duration) of every /video text|image line (or submitted Remix form) meant
    to succeed, in order."""
    clips = []
    expect_failure = False
    for line in script.splitlines():
        if line.startswith(":expect fail"):
            expect_failure = True
        elif line.startswith(("/video text", "/video image", ":submit")):
            words = dict(w.split(":", 1) for w in line.split() if w.count(":") == 1)
            if not expect_failure:
                clips.append((words.get("resolution", "720p"), int(words.get("duration", 5))))
            expect_failure = False
    return clips


def check_videos(folder: Path, output: str, clips: list[tuple[str, int]]) -> None:
    """Each requested clip was saved, named in the output, and decodes as requested."""
    saved = sorted(folder.glob("*.mp4"), key=lambda p: output.index(p.name))
    assert len(saved) == len(clips), output
    for path, (resolution, seconds) in zip(saved, clips, strict=True):
        assert f"→ sandbox/videos/{path.name}" in output
        info = probe(path)
        assert info.codec == "h264"
        assert info.height == HEIGHTS[resolution]
        assert info.width == round(info.height * 16 / 9 / 2) * 2  # 16:9 by default
        assert info.duration == pytest.approx(seconds, abs=0.1)
        assert info.frames == round(seconds * info.fps)


def test_the_demo_runs_when_there_is_no_token(tmp_path: Path) -> None:
    """`python -m bot --demo` with no token and no terminal: the one line, then the whole demo."""
    result = run_bot(["--demo"], tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert out.splitlines()[0] == cli.NO_TOKEN_LINE
    demo = (REPO / "simulator" / "demo.txt").read_text(encoding="utf-8")
    for command in ("/credits balance", "/video models", "/video history", "/credits history"):
        assert f"alice> {command}" in out
    assert "Credits of alice" in out
    assert "Available: 100" in out
    assert "Local camera motion (`local`)" in out
    assert out.count("✅ Done") >= 2
    assert "❌" not in out
    assert "Your credit history" in out
    assert "welcome grant" in out
    assert (tmp_path / "sandbox" / "bibimbap.jpg").is_file()
    clips = requested_clips(demo)
    check_videos(tmp_path / "sandbox" / "videos", out, clips)
    assert f"{len(clips)} files saved" in out
    assert "Can't keep up" not in (tmp_path / "sandbox" / "bot.log").read_text(encoding="utf-8")
    # The README's sample transcript is what a demo run prints (ids and timings aside).
    sample = readme_transcript()
    assert len(sample) > 20
    assert is_subsequence([normalized(line) for line in sample], map(normalized, out.splitlines()))


def readme_transcript() -> list[str]:
    """The lines of the README's sandbox sample, between its two markers."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- sandbox-transcript:start -->", 1)[1]
    block = block.split("<!-- sandbox-transcript:end -->", 1)[0]
    return [line for line in block.strip().strip("`").strip().splitlines() if line.strip()]


_JOB_ID_RE = re.compile(r"(?<![0-9a-z])[2-9a-z]{8}(?![0-9a-z])")
_VOLATILE = (
    (re.compile(r"\d+(?:\.\d+)? ?(?:s|초)\b|\d+(?:\.\d+)?초"), "N s"),  # elapsed, estimates
    (re.compile(r"\d+ KB\b"), "N KB"),
    (re.compile(r"\(custom_id [^)]*\)"), "(custom_id …)"),
)


def normalized(line: str) -> str:
    """A transcript line without what changes from run to run: job ids, timings, sizes.

    Any eight-character word of the job-id alphabet counts as an id (`bibimbap` too): both
    sides are normalized alike, so that only loosens the comparison a little."""
    line = _JOB_ID_RE.sub("JOB", line)
    for pattern, stand_in in _VOLATILE:
        line = pattern.sub(stand_in, line)
    return line.rstrip()


def is_subsequence(wanted: list[str], lines: Any) -> bool:
    """Every wanted line appears, in this order, among `lines`."""
    remaining = iter(lines)
    missing = [line for line in wanted if not any(line == seen for seen in remaining)]
    assert missing == [], f"README lines not in the demo's output (in order): {missing[:3]}"
    return True


SCRIPT_480P = """\
# Test script: 480p, 5 s clips.
/video image image:food.png prompt:"[Zoom in] 비빔밥 한 그릇" resolution:480p duration:5
:as bob
/video text prompt:"서울의 밤 [Pan right]" resolution:480p duration:5 camera:"Pan right"
:expect fail
/video text prompt:"too sharp" resolution:4k as:alice
/credits history as:alice
/video status job:$job
"""


def test_a_script_runs_every_line_and_saves_its_videos(tmp_path: Path) -> None:
    """Attachments from the script's folder, members, an expected refusal; exit code 0."""
    photo = Image.new("RGB", (800, 600), (200, 120, 40))
    photo.save(tmp_path / "food.png")
    script = tmp_path / "script.txt"
    script.write_text(SCRIPT_480P, encoding="utf-8")
    result = run_bot(["--sandbox", "--script", str(script), "--dir", "sandbox"], tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "bob> /video text" in out
    assert "You are now bob (Discord language en-US)." in out
    assert "✓ failed, as expected" in out
    assert "does not make 4k videos" in out
    assert "1 spent" in out  # alice paid 1 credit for her 480p clip
    # `$job` stands for the newest card's id: bob's video, the last one made.
    made, status = out.split("bob> /video text", 1)[1].split("> /video status job:$job", 1)
    card_id = re.compile(r"Video job `(\w+)`")
    assert card_id.findall(status)[:1] == card_id.findall(made)[:1] != []
    check_videos(tmp_path / "sandbox" / "videos", out, requested_clips(SCRIPT_480P))


SCRIPT_APPROVAL = """\
:as owner
/server moderators channel:general
/server approval mode:everyone
:as alice
/video text prompt:"a kite over the sea" resolution:480p duration:5
:press Approve as:owner
/video text prompt:"a boat at dawn" resolution:480p duration:5
:press Deny as:owner
:submit reason:"not today"
"""


def test_a_script_goes_on_while_a_video_waits_for_a_moderator(tmp_path: Path) -> None:
    """A video waiting for approval does not hold the script up (only a later line can move
    it); Approve is pressed once the bot posts the request, and the script then waits for the
    approved video; the denied one ends with the moderator's words."""
    script = tmp_path / "approval.txt"
    script.write_text(SCRIPT_APPROVAL, encoding="utf-8")
    result = run_bot(["--script", str(script), "--dir", "sandbox"], tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "✅ Approved by @owner" in out
    assert "A moderator did not approve this video: “not today”. Your 1 credit was returned." in out
    assert "Finished in" in out
    check_videos(tmp_path / "sandbox" / "videos", out, [("480p", 5)])


def test_a_script_with_a_failing_line_exits_non_zero(tmp_path: Path) -> None:
    """A refusal nobody expected and a line that cannot be parsed both fail the script."""
    script = tmp_path / "bad.txt"
    script.write_text(
        '/video text prompt:"x" resolution:4k\n'
        '/video text prompt:"y" duration:soon\n'
        "/video status job:$job\n"
        "/credits balance\n",
        encoding="utf-8",
    )
    result = run_bot(["--script", str(script), "--dir", "sandbox"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 line(s) failed" in result.stdout
    assert "line 1: /video text" in result.stdout
    assert "line 2: /video text" in result.stdout
    assert "$job: no job card shown yet" in result.stdout
    assert "duration must be a whole number, not 'soon'" in result.stdout
    assert "Credits of alice" in result.stdout  # later lines still ran


def test_the_sandboxed_bot_gets_a_token_and_no_real_services(tmp_path: Path) -> None:
    """The child never recurses into the sandbox and never reaches a real provider."""
    fake = FakeDiscord.with_default_guild()
    os.environ["KVID_API_KEY"] = "real-key-must-not-leak"
    try:
        env = cli.sandbox_env(fake, tmp_path)
    finally:
        del os.environ["KVID_API_KEY"]
    assert not sandbox_wanted([], env)
    assert env["KVID_API_KEY"] == ""
    assert env["KLING_API_KEY"] == ""
    assert env["LOCAL_PROVIDER"] == "on"
    assert env["DATABASE_PATH"] == str(tmp_path / cli.DATABASE_NAME)
    assert sandbox_wanted([], {})
    assert sandbox_wanted(["--demo"], {"DISCORD_TOKEN": "t"})
    assert not sandbox_wanted([], {"DISCORD_TOKEN": "t"})


# ---------------------------------------------------------------------------------------------
# The line parser
# ---------------------------------------------------------------------------------------------

SCHEMA: list[dict[str, Any]] = [
    {
        "name": "video",
        "type": 1,
        "description": "Make AI videos",
        "options": [
            {
                "type": 1,
                "name": "text",
                "description": "Make a video from a text prompt",
                "options": [
                    {"type": 3, "name": "prompt", "required": True, "max_length": 2500},
                    {"type": 3, "name": "resolution"},
                    {"type": 4, "name": "duration", "min_value": 1, "max_value": 60},
                    {
                        "type": 3,
                        "name": "camera",
                        "choices": [
                            {"name": "Zoom in", "value": "zoom_in"},
                            {"name": "Pan right", "value": "pan_right"},
                        ],
                    },
                    {"type": 5, "name": "prompt_expansion"},
                    {"type": 10, "name": "cfg_scale", "min_value": 0, "max_value": 1},
                ],
            },
            {
                "type": 1,
                "name": "image",
                "description": "Animate an image you attach",
                "options": [
                    {"type": 11, "name": "image", "required": True, "description": "A photo"},
                    {"type": 3, "name": "prompt", "required": True},
                    {"type": 3, "name": "resolution"},
                ],
            },
        ],
    },
    {
        "name": "credits",
        "type": 1,
        "description": "Your video credits",
        "options": [
            {"type": 1, "name": "balance", "description": "Your credits"},
            {
                "type": 1,
                "name": "grant",
                "options": [
                    {"type": 6, "name": "user", "required": True},
                    {"type": 4, "name": "amount", "required": True, "min_value": 0},
                ],
            },
            {"type": 2, "name": "tier", "options": [{"type": 1, "name": "list"}]},
        ],
    },
]
CATALOG = Catalog.from_registered(SCHEMA)


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    """Members alice and bob; files are looked up in tmp_path."""
    return Directory(members={"alice": 32, "bob": 33}, search_dirs=(tmp_path,))


def slash(text: str, directory: Directory) -> SlashCommand:
    """Parse a line that must be a slash command."""
    line = parse_line(text, CATALOG, directory)
    assert isinstance(line, SlashCommand)
    return line


def test_catalog_flattens_groups_and_subcommands() -> None:
    """Every runnable path, subcommand groups included."""
    assert list(CATALOG.commands) == [
        "credits balance",
        "credits grant",
        "credits tier list",
        "video image",
        "video text",
    ]


def test_quoted_and_unquoted_values(directory: Directory) -> None:
    """Double and single quotes, apostrophes in free text, and unquoted words that continue."""
    quoted = slash('/video text prompt:"[Zoom in] a bowl of bibimbap" resolution:480p', directory)
    assert quoted.path == "video text"
    assert dict(quoted.options) == {"prompt": "[Zoom in] a bowl of bibimbap", "resolution": "480p"}
    single = slash("/video text prompt:'a cat, \"sleeping\"'", directory)
    assert single.options["prompt"] == 'a cat, "sleeping"'
    loose = slash("/video text prompt:don't stop me now duration:5", directory)
    assert dict(loose.options) == {"prompt": "don't stop me now", "duration": 5}


def test_korean_text_and_choices(directory: Directory) -> None:
    """Korean passes untouched; a choice is accepted by its value or its label."""
    line = slash('/video text prompt:"서울의 밤 [Pan right]" camera:"Pan right"', directory)
    assert line.options == {"prompt": "서울의 밤 [Pan right]", "camera": "pan_right"}
    assert slash("/video text prompt:밤 camera:zoom_in", directory).options["camera"] == "zoom_in"


def test_values_are_typed_by_the_registered_schema(directory: Directory) -> None:
    """Integers, numbers, booleans and members become what Discord would send."""
    line = slash("/video text prompt:x duration:10 cfg_scale:0.5 prompt_expansion:yes", directory)
    assert line.options == {
        "prompt": "x",
        "duration": 10,
        "cfg_scale": 0.5,
        "prompt_expansion": True,
    }
    assert isinstance(line.options["duration"], int)
    grant = slash("/credits grant user:@bob amount:50 as:alice", directory)
    assert grant.options == {"user": 33, "amount": 50}
    assert grant.member == "alice"
    assert slash("/credits tier list", directory).path == "credits tier list"


def test_attachment_options_take_a_local_file(directory: Directory, tmp_path: Path) -> None:
    """The file's name, bytes and sniffed content type, from the search folders."""
    buffer = io.BytesIO()
    Image.new("RGB", (320, 320), (10, 200, 90)).save(buffer, format="JPEG")
    (tmp_path / "photo.jpg").write_bytes(buffer.getvalue())
    (tmp_path / "noext").write_bytes(buffer.getvalue())
    line = slash("/video image image:photo.jpg prompt:'[Zoom in] bibimbap'", directory)
    assert line.attachments == {"image": ("photo.jpg", buffer.getvalue(), "image/jpeg")}
    assert "image" not in line.options
    sniffed = slash(f"/video image image:{tmp_path / 'noext'} prompt:x", directory)
    assert sniffed.attachments["image"][2] == "image/jpeg"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/vidoe text prompt:x", "no command /vidoe; the bot has /credits balance"),
        ("/video", "/video needs one of: image, text"),
        ("/video text", "/video text needs prompt:<text>"),
        ("/video image prompt:x", "/video image needs image:<file> (A photo)"),
        ("/video image image:missing.png prompt:x", "image: no file 'missing.png'"),
        ("/video text prompt:x resoluton:480p", "no option resoluton (did you mean resolution?)"),
        ("/video text prompt:x duration:five", "duration must be a whole number, not 'five'"),
        ("/video text prompt:x duration:61", "duration must be a whole number in 1-60"),
        ("/video text prompt:x camera:spin", "camera must be one of zoom_in, pan_right"),
        ("/video text prompt:x prompt_expansion:maybe", "must be true or false"),
        ("/video text prompt:x prompt:y", "option prompt is given twice"),
        ('/video text prompt:"never closed', "a quote is not closed"),
        ("/credits grant user:carol amount:1", "user: no member 'carol'"),
        ("/credits balance now", "'now' is not name:value"),
        ("video text prompt:x", "a line starts with / for a slash command"),
        (":dance", "no sandbox command :dance"),
    ],
)
def test_bad_lines_say_what_to_change(directory: Directory, text: str, message: str) -> None:
    """Every refusal names the problem."""
    with pytest.raises(LineError, match=None) as caught:
        parse_line(text, CATALOG, directory)
    assert message in str(caught.value)


def test_comments_blanks_and_meta_commands(directory: Directory) -> None:
    """`#` lines and blanks are skipped; `:` lines are sandbox commands with aliases."""
    assert parse_line("# a comment", CATALOG, directory) is None
    assert parse_line("   ", CATALOG, directory) is None
    assert parse_line(':press "Retry" on 3', CATALOG, directory) == MetaCommand(
        "press", ("Retry", "on", "3")
    )
    assert parse_line(":q", CATALOG, directory) == MetaCommand("quit")


# ---------------------------------------------------------------------------------------------
# The text view
# ---------------------------------------------------------------------------------------------


def message(**changes: Any) -> FakeMessage:
    """A bot message with nothing in it, changed as given."""
    # The fake's own record of a new message, so every field has the value the fake starts with.
    base = _Msg(id=1, channel_id=11, guild_id=1, author_id=100).snapshot()
    return replace(base, **changes)


def test_an_embed_with_fields_and_buttons_reads_as_text() -> None:
    """Content, title, description (markdown resolved), fields, footer, file, buttons."""
    now = 1_700_000_000
    embed = {
        "title": "Video job `ab12cd34`",
        "description": "**Bold** prompt for <@33>, see [the clip](https://example.test/c.mp4)",
        "fields": [
            {"name": "State", "value": "✅ Done", "inline": True},
            {"name": "Elapsed", "value": "6s", "inline": True},
            {"name": "What happened", "value": "Line one\nLine two", "inline": False},
            {"name": "Refill", "value": f"<t:{now + 7200}:R>", "inline": True},
        ],
        "footer": {"text": "/video status job:ab12cd34"},
    }
    buttons = {
        "type": 1,
        "components": [
            {"type": 2, "style": 1, "label": "Retry", "custom_id": "retry"},
            {"type": 2, "style": 2, "label": "Newer", "custom_id": "newer", "disabled": True},
            {"type": 2, "style": 5, "label": "Open video", "url": "https://example.test/v"},
        ],
    }
    clip = FakeAttachment(7, "ab12cd34.mp4", "video/mp4", 420_000, b"", width=854, height=480)
    shown = message(
        content="Your video is ready.",
        embeds=(embed,),
        components=(buttons,),
        attachments=(replace(clip, duration=5.0),),
    )
    text = render_message(
        shown,
        "[3] VideoBot",
        Names(users={33: "bob"}),
        saved=lambda a: f"sandbox/videos/{a.filename}",
        now=now,
    )
    assert text == "\n".join(
        [
            "[3] VideoBot",
            "    Your video is ready.",
            "    │ Video job `ab12cd34`",
            "    │ Bold prompt for @bob, see the clip (https://example.test/c.mp4)",
            "    │ State: ✅ Done · Elapsed: 6s",
            "    │ What happened:",
            "    │   Line one",
            "    │   Line two",
            "    │ Refill: in 2 hours",
            "    │ — /video status job:ab12cd34",
            "    📎 ab12cd34.mp4 (410 KB, 854x480, 5.0 s) → sandbox/videos/ab12cd34.mp4",
            "    [ Retry ] [ Newer (disabled) ] [ Open video ↗ https://example.test/v ]",
        ]
    )
    card = card_state(shown)
    assert card is not None
    assert card.job_id == "ab12cd34"
    assert card.terminal
    assert card.succeeded
    assert card_state(message(content="hello")) is None


# ---------------------------------------------------------------------------------------------
# Pressing buttons by label (a tiny in-process bot on the same fake)
# ---------------------------------------------------------------------------------------------


class Pager(discord.ui.View):
    """Newer (disabled), Older and Retry, as persistent buttons."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Newer", custom_id="t:newer", disabled=True)
    async def newer(self, interaction: discord.Interaction, _: discord.ui.Button[Pager]) -> None:
        """Never sent: the button is disabled."""
        await interaction.response.defer()

    @discord.ui.button(label="Older", custom_id="t:older")
    async def older(self, interaction: discord.Interaction, _: discord.ui.Button[Pager]) -> None:
        """Edit the message in place."""
        embed = discord.Embed(title="History", description="page 2 of 2")
        await interaction.response.edit_message(embed=embed)

    @discord.ui.button(label="Retry", custom_id="t:retry", style=discord.ButtonStyle.primary)
    async def retry(self, interaction: discord.Interaction, _: discord.ui.Button[Pager]) -> None:
        """Answer with who pressed it, and in which language."""
        await interaction.response.send_message(
            f"retry pressed by {interaction.user.name} in {interaction.locale.value}"
        )

    @discord.ui.button(label="Vote · 0", custom_id="t:vote")
    async def vote(self, interaction: discord.Interaction, _: discord.ui.Button[Pager]) -> None:
        """Answer with who voted."""
        await interaction.response.send_message(f"vote from {interaction.user.name}")

    @discord.ui.button(label="Remix", custom_id="t:remix")
    async def remix(self, interaction: discord.Interaction, _: discord.ui.Button[Pager]) -> None:
        """Open a form whose custom id carries a job, as the bot's Remix does."""
        await interaction.response.send_modal(RemixForm())


class RemixForm(discord.ui.Modal, title="Remix this video"):
    """A pre-filled text input in an action row and one wrapped in a Label component."""

    def __init__(self) -> None:
        super().__init__(custom_id="t:remix-form:job42")
        self.prompt = discord.ui.TextInput(
            label="Prompt", default="a cat on a roof", max_length=100, custom_id="prompt"
        )
        self.note = discord.ui.TextInput(custom_id="note", required=False, max_length=20)
        self.add_item(self.prompt)
        self.add_item(discord.ui.Label(text="Note", description="Optional", component=self.note))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Echo what came back, and the custom id it came back under."""
        assert interaction.data is not None
        await interaction.response.send_message(
            f"remix {interaction.data.get('custom_id')}: {self.prompt.value} / {self.note.value}"
        )


def pager_bot() -> commands.Bot:
    """A bot with /pager: an embed with fields and the three buttons."""
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())

    @bot.tree.command(name="pager", description="A page with buttons")
    @app_commands.guild_only()
    async def pager(interaction: discord.Interaction) -> None:
        embed = discord.Embed(title="History", description="page 1 of 2")
        embed.add_field(name="Movements", value="12")
        await interaction.response.send_message(embed=embed, view=Pager())

    async def setup_hook() -> None:
        bot.add_view(Pager())
        await bot.tree.sync()

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


@pytest.fixture
def pointed() -> Iterator[None]:
    """discord.py's two hooks, restored after the test."""
    old = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old


@pytest.fixture
async def pager_session(pointed: None, tmp_path: Path) -> AsyncIterator[tuple[Session, list[str]]]:
    """A session on a fake that the tiny bot is connected to; and what it printed."""
    fake = FakeDiscord.with_default_guild(FakeSettings(bot_name="VideoBot"))
    await fake.start()
    discord.http.Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    bot = pager_bot()
    bot._connection.guild_ready_timeout = 0.05
    await bot.login("fake-token")
    task = asyncio.create_task(bot.connect())
    printed: list[str] = []
    try:
        await fake.wait_until_connected()
        await fake.wait_for_commands(names=("pager",))
        # Typed as a person does (not a script): a missing button is refused at once.
        session = Session(
            fake, out=printed.append, videos_dir=tmp_path / "videos", wait_for_jobs=False
        )
        yield session, printed
    finally:
        await bot.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fake.stop()


@pytest.fixture
async def pager_shown(pager_session: tuple[Session, list[str]]) -> tuple[Session, list[str]]:
    """The pager session after `/pager` posted its page, with nothing printed since."""
    session, printed = pager_session
    await session.run_line("/pager")
    printed.clear()
    return session, printed


async def accepted(session: Session, line: str, printed: list[str]) -> None:
    """Run a line the session must carry out (what it printed explains a failure)."""
    outcome = await session.run_line(line)
    assert outcome is not None, printed
    assert outcome.ok, (outcome, printed)


async def refused(session: Session, line: str) -> str:
    """Run a line the session must refuse, and return the message saying why."""
    outcome = await session.run_line(line)
    assert outcome is not None
    assert not outcome.ok
    return outcome.message


async def test_press_a_button_by_label(pager_session: tuple[Session, list[str]]) -> None:
    """`:press "Retry"` on the newest message showing it, `:press Older on 1` by number."""
    session, printed = pager_session
    await accepted(session, "/pager", printed)
    page = "\n".join(printed)
    assert "│ History" in page
    assert "│ Movements: 12" in page
    assert "[ Newer (disabled) ] [ Older ] [ Retry ] [ Vote · 0 ] [ Remix ]" in page

    printed.clear()
    await accepted(session, ':press "Retry"', printed)
    assert any("retry pressed by alice in en-US" in text for text in printed), printed

    printed.clear()
    await session.run_line(":as bob")
    await accepted(session, ":press older on 1", printed)
    assert printed[-1].startswith("[1] VideoBot")
    assert "page 2 of 2" in printed[-1]


async def test_pressing_what_is_not_there_says_what_is(
    pager_shown: tuple[Session, list[str]],
) -> None:
    """A disabled or missing button is refused with the labels that can be pressed."""
    session, _ = pager_shown
    refusal = await refused(session, ":press Newer")
    assert "no enabled button 'Newer'" in refusal
    assert "Older, Retry, Vote · 0, Remix" in refusal
    assert "no enabled button 'Share'" in await refused(session, ":press Share on 1")
    assert "no message 99" in await refused(session, ":press Retry on 99")


async def test_press_by_label_start_on_a_message_as_another_member(
    pager_shown: tuple[Session, list[str]],
) -> None:
    """`:press "Vote" on 1 as:bob`: the label's start, a message number and a member."""
    session, printed = pager_shown
    await accepted(session, ':press "Vote" on 1 as:bob', printed)
    assert any("vote from bob" in text for text in printed), printed
    assert session.member_name == "alice"  # as: is for that line only
    assert "could be any of Retry, Remix" in await refused(session, ":press Re on 1")


async def test_a_form_is_shown_filled_and_submitted_under_its_own_custom_id(
    pager_shown: tuple[Session, list[str]],
) -> None:
    """Remix opens a form: its fields are printed, :fill and :submit send it back."""
    session, printed = pager_shown
    await accepted(session, ":press Remix", printed)
    form = "\n".join(printed)
    assert "📝 Form: Remix this video (custom_id t:remix-form:job42)" in form
    assert "prompt  Prompt (required, up to 100 characters)" in form
    assert "= a cat on a roof" in form
    assert "note    Note (optional, up to 20 characters) · Optional" in form
    assert ":submit sends it" in form

    await accepted(session, ':fill prompt:"a dog on a roof"', printed)
    assert "= a dog on a roof" in printed[-1]
    assert "this form's fields are prompt, note" in await refused(session, ":fill colour:red")

    printed.clear()
    await accepted(session, ":submit Note:quick one", printed)
    assert any(
        "remix t:remix-form:job42: a dog on a roof / quick one" in text for text in printed
    ), printed
    assert "no form is open" in await refused(session, ":submit")


async def test_acting_as_a_korean_member(pager_shown: tuple[Session, list[str]]) -> None:
    """`:as minji ko` adds a member who uses Discord in Korean; :members lists everyone."""
    session, printed = pager_shown
    assert ":as minji ko adds a new member" in await refused(session, ":as minji")
    await accepted(session, ":as minji ko", printed)
    assert session.member_name == "minji"
    printed.clear()
    await session.run_line(":press Retry")
    assert any("retry pressed by minji in ko" in text for text in printed), printed
    await session.run_line(":as bob ja")
    printed.clear()
    await session.run_line(":press Retry")
    assert any("retry pressed by bob in ja" in text for text in printed), printed

    printed.clear()
    await session.run_line(":members")
    listed = [line.split()[0] for line in printed]
    assert listed == ["owner", "alice", "bob", "mod", "minji"]
    assert "minji    Member · ko" in "\n".join(printed)
    # Every member a refusal suggests is one :members lists.
    with pytest.raises(LineError) as caught:
        parse_line("/credits grant user:carol amount:1", CATALOG, session.directory())
    assert "try one of owner, alice, bob, mod, minji" in str(caught.value)
