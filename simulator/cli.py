"""The offline sandbox: the real bot, a simulated Discord on 127.0.0.1, and a prompt to use it.

`python -m bot` runs this when DISCORD_TOKEN is not set (or with --sandbox / --demo):

    python -m bot --sandbox                 # type slash commands yourself
    python -m bot --demo                    # run the shipped demo script and exit
    python -m bot --sandbox --script FILE   # run your own script and exit (0: every line worked)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from simulator.console import Console
from simulator.fake_discord import FakeDiscord, FakeSettings
from simulator.process import BotProcess, BotStartError, bot_env, start_and_wait
from simulator.sample_photo import ensure_sample_photo
from simulator.session import BotGone, Session
from simulator.transcript import display_path

NO_TOKEN_LINE: Final = (
    "DISCORD_TOKEN is not set, so the bot runs in the offline sandbox against a simulated "
    "Discord; set DISCORD_TOKEN in .env to run it on Discord"
)
# Any token works with the fake; the child must have one so it runs the bot, not the sandbox.
CHILD_TOKEN: Final = "c2FuZGJveA.offline-sandbox.not-a-real-token"
DATABASE_NAME: Final = "sandbox.sqlite3"
COMMAND_NAMES: Final = ("video", "credits")
# Settings that would send the sandboxed bot to real services, or to the operator's data.
_CLEARED: Final = (
    "KVID_API_KEY",
    "KLING_API_KEY",
    "PUBLIC_URL",
    "DEFAULT_PROVIDER",
    "BOT_OWNER_IDS",
)
_DROPPED_PREFIXES: Final = ("DISCORD_", "KVID_", "KLING_")


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    folder: Path
    script: str | None
    demo: bool
    keep_data: bool
    job_timeout: float
    start_timeout: float


def parse_args(argv: Sequence[str]) -> Options:
    """Read the sandbox's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description=(
            "Offline sandbox: the real bot against a simulated Discord on 127.0.0.1, "
            "with the free local video provider. No accounts needed."
        ),
    )
    parser.add_argument("--sandbox", action="store_true", help="run the sandbox (the default)")
    parser.add_argument("--demo", action="store_true", help="run the demo script, then exit")
    parser.add_argument("--script", metavar="FILE", help="run the lines of FILE (- for stdin)")
    parser.add_argument(
        "--dir",
        default=os.environ.get("SANDBOX_DIR") or "sandbox",
        metavar="FOLDER",
        help="where the throwaway database, the bot's log and videos/ go (default: ./sandbox)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep credits and jobs from the last sandbox run instead of starting afresh",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long one video may take in a script before the line counts as failed",
    )
    args = parser.parse_args(list(argv))
    return Options(
        folder=Path(args.dir),
        script=args.script,
        demo=args.demo,
        keep_data=args.keep_data,
        job_timeout=args.timeout,
        start_timeout=60.0,
    )


def sandbox_env(fake: FakeDiscord, folder: Path) -> dict[str, str]:
    """The child bot's environment: pointed at the fake, offline, with its own database."""
    env = bot_env({})
    for key in list(env):
        if key.startswith(_DROPPED_PREFIXES):
            del env[key]
    pricing = env.get("PRICING_FILE")
    if pricing:
        # The child runs in the sandbox folder; a relative path must still find the file.
        env["PRICING_FILE"] = str(Path(pricing).resolve())
    # Set (even empty) so a .env above the sandbox folder cannot fill them in for the child.
    env.update(dict.fromkeys(_CLEARED, ""))
    env.update(
        DISCORD_TOKEN=CHILD_TOKEN,
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        DATABASE_PATH=str(folder / DATABASE_NAME),
        DATA_DIR=str(folder / "data"),
        LOCAL_PROVIDER="on",
        SYNC_COMMANDS="true",
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_folder(options: Options) -> Path:
    """Create the sandbox folder (ignored by git) and clear the last run unless kept."""
    folder = options.folder.expanduser().resolve()
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if created:
        # Keeps `git status` clean when the sandbox runs inside a checkout.
        (folder / ".gitignore").write_text("*\n", encoding="utf-8")
    if not options.keep_data:
        for name in (DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm", "bot.log"):
            (folder / name).unlink(missing_ok=True)
    (folder / "videos").mkdir(exist_ok=True)
    return folder


def read_script(options: Options) -> tuple[list[str], Path | None] | None:
    """The lines to run and the script's folder, or None for an interactive session."""
    if options.script == "-":
        return sys.stdin.read().splitlines(), None
    if options.script:
        path = Path(options.script).expanduser()
        return path.read_text(encoding="utf-8").splitlines(), path.resolve().parent
    if options.demo or not sys.stdin.isatty():
        demo = resources.files("simulator").joinpath("demo.txt")
        return demo.read_text(encoding="utf-8").splitlines(), None
    return None


async def run_script(session: Session, lines: Sequence[str], console: Console) -> int:
    """Run each line in order, waiting for its videos; 0 if every line did what it should."""
    started = time.monotonic()
    failures: list[str] = []
    narrating = False
    for number, text in enumerate(lines, 1):
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            # A block of comments reads as one paragraph of narration.
            console.print(stripped if narrating else f"\n{stripped}")
            narrating = True
            continue
        narrating = False
        console.print(f"\n{session.member_name}> {stripped}")
        began = time.monotonic()
        outcome = await session.run_line(stripped)
        if outcome is None:
            continue
        if outcome.quit:
            break
        took = time.monotonic() - began
        if outcome.ok and stripped.startswith(("/", ":press", ":submit", ":wait")):
            console.print(f"  ✓ {took:.1f} s")
        elif not outcome.ok:
            failures.append(f"line {number}: {stripped}")
    saved = session.transcript.saved_files
    console.print(
        f"\nFinished in {time.monotonic() - started:.1f} s: "
        f"{len(saved)} file{'s' if len(saved) != 1 else ''} saved"
        + (f" in {display_path(saved[0].parent)}/" if saved else "")
    )
    for path in saved:
        console.print(f"  {display_path(path)}")
    if failures:
        console.print(f"{len(failures)} line(s) failed:")
        for failure in failures:
            console.print(f"  {failure}")
        return 1
    return 0


async def run_interactive(session: Session, console: Console, bot: BotProcess) -> int:
    """Read lines at a prompt until :quit or Ctrl-D; print live updates meanwhile."""
    console.print("Type :help for help, :quit (or Ctrl-D) to leave.")

    async def watch() -> None:
        # Prints job-card updates that arrive while the person is typing.
        while bot.running:
            with contextlib.suppress(TimeoutError):
                await session.fake.wait_for(session.transcript.scan, 1.0)

    watcher = asyncio.create_task(watch())
    died = asyncio.create_task(bot.exited())
    try:
        while True:
            reading = asyncio.create_task(console.read(f"{session.member_name}> "))
            await asyncio.wait({reading, died}, return_when=asyncio.FIRST_COMPLETED)
            if died.done():
                reading.cancel()
                raise BotGone(bot.log())
            text = reading.result()
            if text is None:
                console.print("")
                return 0
            outcome = await session.run_line(text)
            if outcome is not None and outcome.quit:
                return 0
    finally:
        watcher.cancel()
        died.cancel()
        console.save_history()


async def run(options: Options, console: Console) -> int:
    """Start the fake and the bot, run the session, and stop both; return the exit code."""
    try:
        script = read_script(options)
    except OSError as exc:
        console.print(f"Cannot read the script: {exc}")
        return 2
    try:
        folder = prepare_folder(options)
        photo = ensure_sample_photo(folder)
    except OSError as exc:
        console.print(f"Cannot set up the sandbox folder: {exc}. Pass --dir FOLDER to use another.")
        return 2
    fake = FakeDiscord.with_default_guild(FakeSettings(bot_name="VideoBot"))
    await fake.start("127.0.0.1", 0)
    bot = BotProcess(sandbox_env(fake, folder), folder / "bot.log", cwd=folder)
    try:
        began = time.monotonic()
        console.print(
            f"Starting the bot (python -m bot) against a simulated Discord on "
            f"127.0.0.1:{fake.port}…"
        )
        await start_and_wait(bot, fake, names=COMMAND_NAMES, within=options.start_timeout)
        search = [Path.cwd()]
        if script is not None and script[1] is not None:
            search.append(script[1])
        search.append(folder)
        session = Session(
            fake,
            out=console.print,
            videos_dir=folder / "videos",
            search_dirs=tuple(dict.fromkeys(search)),
            wait_for_jobs=script is not None,
            job_timeout=options.job_timeout,
            alive=lambda: bot.running,
            bot_log=bot.log,
        )
        console.print(
            f"Connected in {time.monotonic() - began:.1f} s. Server 'Sandbox Guild', "
            f"channel #general; members: {', '.join(session.members())}; "
            f"you are {session.member_name}.\n"
            f"Sample photo: {display_path(photo)} · videos are saved in "
            f"{display_path(folder / 'videos')}/ · the bot's log: {display_path(bot.log_path)}"
        )
        if script is None:
            return await run_interactive(session, console, bot)
        return await run_script(session, script[0], console)
    except (BotStartError, BotGone) as exc:
        console.print(f"✗ {exc}")
        return 1
    finally:
        await bot.stop()
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: `python -m bot [--sandbox] [--demo] [--script FILE] [--dir FOLDER]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(args)
    console_history = None if options.script or options.demo else options.folder / ".history"
    console = Console(history=console_history)
    if not os.environ.get("DISCORD_TOKEN", "").strip():
        console.print(NO_TOKEN_LINE)
    try:
        code = asyncio.run(run(options, console))
    except KeyboardInterrupt:
        print()
        code = 130
    raise SystemExit(code)
