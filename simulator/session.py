"""One person's sandbox session: runs lines against the fake and prints what the bot shows."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import KW_ONLY, InitVar, dataclass, field
from pathlib import Path
from typing import Final

from simulator.commands import (
    Catalog,
    Directory,
    LineError,
    MetaCommand,
    SlashCommand,
    parse_line,
)
from simulator.fake_discord import DefaultGuild, FakeDiscord, FakeInteraction, FakeMessage
from simulator.forms import find_field, form_fields, form_text, select_value
from simulator.render_text import CardState, Names, button_label, card_state, render_message
from simulator.transcript import Transcript, display_path

# Commands whose answer is a job card; without one, the bot refused the request.
JOB_COMMANDS: Final = frozenset({"video text", "video image", "video extend"})
# What the bot says when a command crashed (bot/ui/errors.py).
INTERNAL_ERROR: Final = "Something went wrong on our side"
# Discord's deadline for the first answer, plus a little slack for the loopback.
ANSWER_DEADLINE: Final = 3.5
# An option value that stands for the newest job card's id (a script cannot know ids ahead).
NEWEST_JOB: Final = "$job"
NO_ANSWER: Final = "The application did not respond"

HELP: Final = """\
Type slash commands as you would in Discord; values with spaces go in double quotes:
  /video image image:bibimbap.jpg prompt:"[Zoom in] a bowl of bibimbap" resolution:480p
  /video text prompt:"서울의 밤 [Pan right]" duration:5
  /credits balance        /video history        /video models
  add as:bob to run one line as another member; files are looked up in {dirs}
Sandbox commands:
  :help [command]         this help, or one command's options (e.g. :help video image)
  :members                the server's members and their Discord language
  :as <member> [language] act as another member; with a language (ko, en-US, ja, ...) they use
                          Discord in it, and a new name joins the server (:as minji ko)
  :channel <name>         switch channel (general, after-dark)
  :press <label> [on <n>] [as:<member>]
                          press a button (the start of its label is enough, e.g. Vote), on
                          the last message showing it or on message [n]
  job:$job                in a command, the newest job card's id (e.g. /video status job:$job)
  :fill <field>:<value>   fill in the form the bot opened (fields by id or label)
  :submit [<field>:<value> ...]   send the form;  :close  close it without sending
  :wait [seconds]         wait for running videos (or just watch for some seconds)
  :show <n>               print message [n] again;  :videos  list the saved files
  :expect fail            the next command is meant to fail (for scripts)
  :log [lines]            the end of the bot's own log
  :quit                   stop the bot and leave (Ctrl-D does the same)"""


@dataclass
class OpenForm:
    """A modal the bot showed someone, and what they have typed into it so far."""

    interaction: FakeInteraction
    modal: dict[str, object]
    user_id: int
    filled: dict[str, str] = field(default_factory=dict)

    @property
    def custom_id(self) -> str:
        """The modal's own custom id, sent back unchanged on submit."""
        return str(self.modal.get("custom_id", ""))


@dataclass(frozen=True)
class Outcome:
    """How one line went: `ok` is what a script's exit code reflects."""

    ok: bool
    message: str = ""
    quit: bool = False


@dataclass(eq=False)
class Session:
    """Runs sandbox lines as members of the default guild of a running FakeDiscord."""

    fake: FakeDiscord
    _: KW_ONLY
    out: Callable[[str], None]
    videos_dir: InitVar[Path]
    search_dirs: tuple[Path, ...] = (Path(),)
    wait_for_jobs: bool = True
    job_timeout: float = 600.0
    answer_timeout: float = 60.0
    alive: Callable[[], bool] = lambda: True
    bot_log: Callable[[], str] = lambda: ""
    # Members added with `:as NAME LANGUAGE`, and languages chosen for existing ones.
    added: dict[str, int] = field(default_factory=dict, init=False)
    locales: dict[int, str] = field(default_factory=dict, init=False)
    form: OpenForm | None = field(default=None, init=False)
    # The custom ids of every button pressed and form sent (a moderator's decision names its job).
    sent_ids: list[str] = field(default_factory=list, init=False)
    _expect_failure: bool = field(default=False, init=False)

    def __post_init__(self, videos_dir: Path) -> None:
        assert self.fake.defaults is not None, "the fake needs its default guild"
        self.ids: DefaultGuild = self.fake.defaults
        self.user_id = self.ids.user_id
        self.channel_id = self.ids.channel_id
        self.transcript = Transcript(
            self.fake, self.out, self.names, videos_dir, here=lambda: self.channel_id
        )

    # -- the default guild ----------------------------------------------------------------------

    def members(self) -> dict[str, int]:
        """The name to type for each member: owner, alice, bob, mod, and any added since."""
        ids = self.ids
        out = {"owner": ids.owner_id}
        for user_id in (ids.user_id, ids.other_user_id, ids.moderator_id):
            out[self.fake.user(user_id).username] = user_id
        out.update(self.added)
        return out

    def names(self) -> Names:
        """Display names of the default guild's members, roles and channels."""
        ids = self.ids
        users = {uid: name for name, uid in self.members().items()}
        users[self.fake.bot_user_id] = self.fake.user(self.fake.bot_user_id).username
        roles = {
            ids.guild_id: "everyone",
            ids.member_role_id: "Member",
            ids.moderator_role_id: "Moderator",
            ids.admin_role_id: "Admin",
        }
        channel_ids = (ids.channel_id, ids.nsfw_channel_id, ids.forum_channel_id)
        channels = {cid: self.fake.channel(cid).name for cid in channel_ids}
        return Names(users, roles, channels)

    def locale_of(self, user_id: int) -> str:
        """The Discord language a member's interactions carry."""
        if user_id in self.locales:
            return self.locales[user_id]
        return self.fake.member(self.ids.guild_id, user_id).locale

    def directory(self) -> Directory:
        """What names and files a line can refer to."""
        names = self.names()
        return Directory(
            members=self.members(),
            channels={name: cid for cid, name in names.channels.items()},
            roles={name: rid for rid, name in names.roles.items()},
            search_dirs=self.search_dirs,
        )

    def catalog(self) -> Catalog:
        """The commands the bot registered, as the fake recorded them."""
        return Catalog.from_registered(self.fake.registered_commands)

    @property
    def member_name(self) -> str:
        """Who the person is acting as."""
        return self.names().user(self.user_id)

    # -- lines ----------------------------------------------------------------------------------

    async def run_line(self, text: str) -> Outcome | None:
        """Run one line; None for blanks and comments."""
        try:
            line = parse_line(text, self.catalog(), self.directory())
        except LineError as exc:
            self.out(f"✗ {exc}")
            return Outcome(False, str(exc))
        if line is None:
            return None
        if isinstance(line, MetaCommand):
            outcome = await self.run_meta(line)
        else:
            outcome = await self.run_slash(line)
        self.transcript.scan()
        if not outcome.ok and outcome.message:
            self.out(f"✗ {outcome.message}")
        return outcome

    async def run_slash(self, command: SlashCommand) -> Outcome:
        """Send a slash command as the current (or `as:`) member and follow what it causes."""
        user_id = self.user_id
        if command.member is not None:
            found = self._member(command.member)
            if found is None:
                return Outcome(False, f"no member {command.member!r}; :members lists them")
            user_id = found
        options = dict(command.options)
        for name, value in options.items():
            if value == NEWEST_JOB:
                cards = self.transcript.cards()
                if not cards:
                    return self._judge(Outcome(False, f"{NEWEST_JOB}: no job card shown yet"))
                options[name] = cards[-1].job_id
        mark = self.transcript.count
        try:
            interaction = await self.fake.invoke(
                command.path,
                options,
                attachments=dict(command.attachments),
                user_id=user_id,
                channel_id=self.channel_id,
                locale=self.locale_of(user_id),
            )
        except (LookupError, PermissionError, TypeError, ValueError) as exc:
            return self._judge(Outcome(False, f"Discord would not send this: {exc}"))
        outcome = await self._follow(interaction, mark, expects_job=command.path in JOB_COMMANDS)
        return self._judge(outcome)

    async def press(self, label: str, ref: str | None = None, member: str | None = None) -> Outcome:
        """Press the button with this label (or label start) on message `ref`, or the newest."""
        user_id = self.user_id
        if member is not None:
            found_member = self._member(member)
            if found_member is None:
                return Outcome(False, f"no member {member!r}; :members lists them")
            user_id = found_member
        found = await self._button_when_shown(label, ref)
        if isinstance(found, str):
            return self._judge(Outcome(False, found))
        message, custom_id = found
        mark = self.transcript.count
        try:
            interaction = await self.fake.click(
                message.id, custom_id, user_id=user_id, locale=self.locale_of(user_id)
            )
        except (LookupError, ValueError) as exc:
            return self._judge(Outcome(False, f"Discord would not send this click: {exc}"))
        self.sent_ids.append(custom_id)
        outcome = await self._follow(interaction, mark, expects_job=False)
        return self._judge(outcome)

    async def _button_when_shown(
        self, label: str, ref: str | None
    ) -> tuple[FakeMessage, str] | str:
        """The button to press; a script gives the bot a moment to post it (a moderator's
        request is posted just after the line that made it), as a person would wait to see it."""
        found = self._find_button(label, ref)
        if isinstance(found, str) and self.wait_for_jobs:
            with contextlib.suppress(TimeoutError):
                await self._until(
                    lambda: not isinstance(self._find_button(label, ref), str),
                    ANSWER_DEADLINE,
                    "the button",
                )
                found = self._find_button(label, ref)
        return found

    def _find_button(self, label: str, ref: str | None) -> tuple[FakeMessage, str] | str:
        """The message and custom id to click, or why there is none.

        On each message, newest first, an exact label wins; otherwise a label that starts with
        what was typed (`Vote` for `Vote · 3`), if only one does."""
        wanted = label.strip().strip("[]").strip().lower()
        if ref is not None:
            message_id = self.transcript.message_id(ref)
            message = self.fake.message(message_id) if message_id is not None else None
            if message is None:
                return f"no message {ref}"
            candidates = [message]
        else:
            candidates = list(reversed(self.transcript.shown()))
        labels: list[str] = []
        for message in candidates:
            if message.deleted:
                continue
            enabled: list[tuple[str, str]] = []
            for custom_id in message.custom_ids:
                component = message.component(custom_id) or {}
                if component.get("type") != 2:
                    continue
                shown = button_label(component)
                labels.append(shown)
                if not component.get("disabled"):
                    enabled.append((custom_id, shown))
            exact = [cid for cid, shown in enabled if shown.lower() == wanted]
            if exact:
                return message, exact[0]
            starting = [(cid, shown) for cid, shown in enabled if shown.lower().startswith(wanted)]
            if len({shown for _, shown in starting}) == 1:
                return message, starting[0][0]
            if starting:
                which = ", ".join(shown for _, shown in starting)
                return f"{label!r} could be any of {which}; type more of the label"
        where = f"message {ref}" if ref is not None else "any message"
        if labels:
            shown_labels = ", ".join(dict.fromkeys(labels))
            return f"no enabled button {label!r} on {where}; buttons: {shown_labels}"
        return f"no button {label!r} on {where}"

    async def _follow(
        self,
        interaction: FakeInteraction,
        mark: int,
        *,
        expects_job: bool,
    ) -> Outcome:
        """Wait for the answer (and, if asked, the jobs it started); decide how it went."""
        try:
            await self._until(lambda: interaction.response, ANSWER_DEADLINE, "the first answer")
        except TimeoutError:
            return Outcome(False, f"the bot did not answer within 3 s (Discord: {NO_ANSWER!r})")
        try:
            await self._until(
                lambda: self._answered(interaction), self.answer_timeout, "the answer"
            )
        except TimeoutError:
            return Outcome(False, f"the bot was still thinking after {self.answer_timeout:g} s")
        self.transcript.scan()
        if interaction.modal is not None:
            self._show_form(interaction)
            return Outcome(True)
        if self.wait_for_jobs:
            settled = await self.settle(self.job_timeout)
            if not settled.ok:
                return settled
        new = self.transcript.shown_since(mark)
        cards = [c for c in (card_state(m) for m in new) if c is not None]
        for message in new:
            if INTERNAL_ERROR in message.content:
                return Outcome(False, "the bot hit an internal error (see :log)")
        failed = [c for c in cards if c.terminal and not c.succeeded]
        if failed:
            return Outcome(False, f"job {failed[0].job_id} ended {failed[0].state}")
        if expects_job and not cards:
            return Outcome(False, "no video job was started (the reply above says why)")
        return Outcome(True)

    @staticmethod
    def _answered(interaction: FakeInteraction) -> bool:
        """The interaction's visible answer exists (a reply, a followup, a form or an edit)."""
        if interaction.modal is not None or interaction.choices is not None:
            return True
        response = interaction.response
        if response is None:
            return False
        if response.type in (4, 6, 7):
            return True
        if interaction.followups:
            return True
        original = interaction.original
        return original is not None and not original.loading and not original.deleted

    def pending_cards(self) -> list[CardState]:
        """Unfinished jobs worth waiting for: one waiting for a moderator only once a button or
        form named it (a decision was sent); until then only a later line can move it."""
        return [
            card
            for card in self.transcript.unfinished_cards()
            if not card.awaits_moderator or any(card.job_id in sent for sent in self.sent_ids)
        ]

    async def settle(self, within: float) -> Outcome:
        """Wait until every job worth waiting for (see pending_cards) is finished."""
        try:
            await self._until(lambda: not self.pending_cards(), within, "jobs")
        except TimeoutError:
            pending = ", ".join(c.job_id for c in self.pending_cards())
            return Outcome(False, f"jobs still unfinished after {within:g} s: {pending}")
        return Outcome(True)

    async def _until(self, predicate: Callable[[], object], within: float, what: str) -> None:
        """Wait for predicate while printing every change; stop early if the bot died."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            self.transcript.scan()
            if predicate():
                return
            if not self.alive():
                raise BotGone(self.bot_log())
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(what)
            with contextlib.suppress(TimeoutError):
                # Wakes on the fake's next recorded event (or after a short while).
                await self.fake.wait_for(self.transcript.scan, min(remaining, 0.5))

    def _judge(self, outcome: Outcome) -> Outcome:
        """Apply `:expect fail` to the command it was meant for."""
        if not self._expect_failure:
            return outcome
        self._expect_failure = False
        if outcome.ok:
            return Outcome(False, "this command was expected to fail, but it succeeded")
        self.out(f"✓ failed, as expected: {outcome.message}")
        return Outcome(True)

    def _member(self, name: str) -> int | None:
        key = name.strip().lstrip("@").lower()
        if key.isdigit():
            return int(key) if int(key) in self.members().values() else None
        return {k.lower(): v for k, v in self.members().items()}.get(key)

    # -- sandbox commands -----------------------------------------------------------------------

    async def run_meta(self, line: MetaCommand) -> Outcome:
        """Run a `:command`."""
        handler = getattr(self, f"_meta_{line.name}")
        return await handler(line.args)

    async def _meta_help(self, args: tuple[str, ...]) -> Outcome:
        catalog = self.catalog()
        if args:
            path = " ".join(a.lstrip("/").lower() for a in args)
            spec = catalog.commands.get(path)
            if spec is None:
                return Outcome(False, f"no command /{path}")
            self.out(spec.usage())
            if spec.description:
                self.out(f"  {spec.description}")
            for option in spec.options:
                need = "required" if option.required else "optional"
                self.out(f"  {option.name} ({need}): {option.description}")
            return Outcome(True)
        dirs = " then ".join(display_path(d) or "." for d in self.search_dirs)
        self.out(HELP.format(dirs=dirs))
        self.out("Commands the bot registered:")
        for spec in catalog.commands.values():
            self.out(f"  /{spec.path:<22} {spec.description}")
        return Outcome(True)

    async def _meta_quit(self, args: tuple[str, ...]) -> Outcome:
        return Outcome(True, quit=True)

    async def _meta_wait(self, args: tuple[str, ...]) -> Outcome:
        if not args:
            return await self.settle(self.job_timeout)
        try:
            seconds = float(args[0])
        except ValueError:
            return Outcome(False, f":wait takes a number of seconds, not {args[0]!r}")
        with contextlib.suppress(TimeoutError):
            await self._until(lambda: False, seconds, "time")
        return Outcome(True)

    async def _meta_members(self, args: tuple[str, ...]) -> Outcome:
        names = self.names()
        for name, user_id in self.members().items():
            member = self.fake.member(self.ids.guild_id, user_id)
            roles = ", ".join(names.roles.get(r, str(r)) for r in member.roles) or "no roles"
            you = "  ← you" if user_id == self.user_id else ""
            self.out(f"  {name:<8} {roles} · {self.locale_of(user_id)}{you}")
        return Outcome(True)

    async def _meta_as(self, args: tuple[str, ...]) -> Outcome:
        if len(args) not in (1, 2):
            return Outcome(
                False, ":as takes a member and, optionally, a language: :as bob, :as minji ko"
            )
        locale = None
        if len(args) == 2:
            locale = discord_locale(args[1])
            if locale is None:
                return Outcome(
                    False, f"{args[1]!r} is not a Discord language; try ko, en-US, ja or de"
                )
        found = self._member(args[0])
        if found is None and locale is None:
            return Outcome(
                False,
                f"no member {args[0]!r}; :members lists them, and :as {args[0]} ko adds a new "
                "member who uses Discord in Korean",
            )
        if found is None:
            assert locale is not None
            added = self._add_member(args[0], locale)
            if isinstance(added, str):
                return Outcome(False, added)
            found = added
            self.out(f"{args[0].lower()} joined the server (role Member).")
        elif locale is not None:
            self.locales[found] = locale
        self.user_id = found
        self.out(f"You are now {self.member_name} (Discord language {self.locale_of(found)}).")
        return Outcome(True)

    def _add_member(self, name: str, locale: str) -> int | str:
        """A new member of the default guild with the Member role; or why not."""
        key = name.strip().lstrip("@").lower()
        if not re.fullmatch(r"[a-z0-9_.]{2,32}", key):
            return f"{name!r} cannot be a member name: 2-32 letters, digits, _ or ."
        user_id = self.fake.new_id()
        self.fake.add_member(
            self.ids.guild_id, user_id, key, roles=(self.ids.member_role_id,), locale=locale
        )
        self.added[key] = user_id
        return user_id

    async def _meta_channel(self, args: tuple[str, ...]) -> Outcome:
        channels = {n.lower(): c for c, n in self.names().channels.items()}
        key = args[0].lstrip("#").lower() if len(args) == 1 else ""
        found = channels.get(key)
        if found is None:
            return Outcome(False, f":channel takes one of {', '.join(channels)}")
        self.channel_id = found
        self.out(f"Now in #{self.fake.channel(found).name}.")
        return Outcome(True)

    async def _meta_press(self, args: tuple[str, ...]) -> Outcome:
        member = None
        words: list[str] = []
        for word in args:
            if word.lower().startswith("as:"):
                member = word[3:]
            else:
                words.append(word)
        ref = None
        if len(words) >= 3 and words[-2].lower() == "on":
            ref = words[-1]
            words = words[:-2]
        if not words:
            return Outcome(
                False, ':press takes a label, e.g. :press "Retry", :press Older on 3 as:bob'
            )
        return await self.press(" ".join(words), ref, member)

    # -- forms (modals) -------------------------------------------------------------------------

    def _show_form(self, interaction: FakeInteraction) -> None:
        """Print the modal the bot opened, and keep it open for :fill and :submit."""
        modal = interaction.modal or {}
        self.form = OpenForm(interaction, modal, interaction.user_id)
        self._print_form()
        self.out('  :fill <field>:"<text>" changes a field, :submit sends it, :close drops it')

    def _print_form(self) -> None:
        if self.form is not None:
            self.out("\n".join(form_text(self.form.modal, self.form.filled)))

    def _fill(self, args: tuple[str, ...]) -> str | None:
        """Put `field:value` words into the open form; unquoted words continue a value."""
        assert self.form is not None
        fields = form_fields(self.form.modal)
        current: str | None = None
        for word in args:
            name, colon, value = word.partition(":")
            found = find_field(fields, name) if colon else None
            if found is not None:
                if found.is_select:
                    picked = select_value(found, value)
                    if picked is None:
                        options = ", ".join(v for _, v in found.options)
                        return f"{found.custom_id} is one of {options}, not {value!r}"
                    value = picked
                self.form.filled[found.custom_id] = value
                current = found.custom_id
            elif current is not None:
                self.form.filled[current] += f" {word}"
            else:
                ids = ", ".join(f.custom_id for f in fields)
                return f"{word!r} is not field:value; this form's fields are {ids}"
        return None

    async def _meta_fill(self, args: tuple[str, ...]) -> Outcome:
        if self.form is None:
            return Outcome(False, "no form is open; a button such as Remix opens one")
        if not args:
            self._print_form()
            return Outcome(True)
        problem = self._fill(args)
        if problem is not None:
            return Outcome(False, problem)
        self._print_form()
        return Outcome(True)

    async def _meta_submit(self, args: tuple[str, ...]) -> Outcome:
        form = self.form
        if form is None:
            return self._judge(Outcome(False, "no form is open; a button such as Remix opens one"))
        problem = self._fill(args) if args else None
        if problem is not None:
            return self._judge(Outcome(False, problem))
        values: dict[str, str | list[str]] = {}
        for item in form_fields(form.modal):
            if item.custom_id in form.filled:
                typed = form.filled[item.custom_id]
                values[item.custom_id] = [typed] if item.is_select else typed
            elif item.is_select and item.value:
                values[item.custom_id] = [item.value]
        mark = self.transcript.count
        try:
            interaction = await self.fake.submit_modal(
                form.custom_id,
                values,
                user_id=form.user_id,
                interaction=form.interaction,
                locale=self.locale_of(form.user_id),
            )
        except (LookupError, TypeError, ValueError) as exc:
            return self._judge(Outcome(False, f"Discord would not send this form: {exc}"))
        self.sent_ids.append(form.custom_id)
        self.form = None
        outcome = await self._follow(interaction, mark, expects_job=False)
        return self._judge(outcome)

    async def _meta_close(self, args: tuple[str, ...]) -> Outcome:
        if self.form is None:
            return Outcome(False, "no form is open")
        self.form = None
        self.out("Form closed; nothing was sent.")
        return Outcome(True)

    async def _meta_expect(self, args: tuple[str, ...]) -> Outcome:
        if [a.lower() for a in args] not in (["fail"], ["failure"]):
            return Outcome(False, ":expect takes `fail`")
        self._expect_failure = True
        return Outcome(True)

    async def _meta_show(self, args: tuple[str, ...]) -> Outcome:
        message_id = self.transcript.message_id(args[0]) if len(args) == 1 else None
        message = self.fake.message(message_id) if message_id is not None else None
        if message is None:
            return Outcome(False, ":show takes a message number such as 3")
        header = f"{self.transcript.handle(message.id)} (as it is now)"
        self.out(render_message(message, header, self.names()))
        return Outcome(True)

    async def _meta_videos(self, args: tuple[str, ...]) -> Outcome:
        files = self.transcript.saved_files
        if not files:
            self.out("No files saved yet.")
        for path in files:
            self.out(f"  {display_path(path)}")
        return Outcome(True)

    async def _meta_log(self, args: tuple[str, ...]) -> Outcome:
        count = int(args[0]) if args and args[0].isdigit() else 20
        lines = self.bot_log().splitlines()[-count:]
        self.out("\n".join(lines) if lines else "(the bot has not logged anything)")
        return Outcome(True)


def discord_locale(raw: str) -> str | None:
    """A Discord locale from what a person typed: `ko`, `en` (en-US), `pt-br`; else None."""
    import discord  # The sandbox's own process needs discord.py only for this list.

    known = {locale.value.lower(): locale.value for locale in discord.Locale}
    key = raw.strip().lower().replace("_", "-")
    if key in known:
        return known[key]
    return next((v for k, v in known.items() if k.startswith(key + "-")), None)


class BotGone(Exception):
    """The bot process exited while the sandbox was waiting on it."""

    def __init__(self, log: str) -> None:
        tail = "\n".join(log.splitlines()[-30:])
        super().__init__(f"the bot stopped; the end of its output:\n{tail}")
