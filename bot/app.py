"""The discord.py client: typed services in, cogs loaded, runner started, nothing global."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.community import Community
from bot.config import Settings
from bot.credits.quotas import Quotas
from bot.credits.usage import UsageReports
from bot.db import Database, execute_alone
from bot.jobs.runner import JobRunner
from bot.jobs.service import JobService
from bot.ledger import Ledger
from bot.providers.base import Provider
from bot.ui.buttons import JobActions, JobButton
from bot.ui.commands import CatalogueTranslator
from bot.ui.decide import DecideButton, Decisions
from bot.ui.errors import AppTree
from bot.ui.forms import FormRouter
from bot.ui.presenter import DiscordPresenter

log = logging.getLogger(__name__)

# On shutdown, commands and button presses already being handled get this long to finish
# before the HTTP session they answer through is closed.
INTERACTION_GRACE_SECONDS = 5.0
# discord.py's names for the tasks that run command callbacks, component callbacks and
# `on_interaction` listeners (where submitted forms are routed, see bot.ui.forms).
_INTERACTION_TASKS = (
    "CommandTree-invoker",
    "discord-ui-view-dispatch",
    "discord.py: on_interaction",
)


async def _finish_interactions(grace: float) -> None:
    """Wait (boundedly) for interaction handlers that are still running."""
    running = [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task()
        and not task.done()
        and task.get_name().startswith(_INTERACTION_TASKS)
    ]
    if running:
        await asyncio.wait(running, timeout=grace)


EXTENSIONS = (
    "cogs.video",
    "cogs.credits",
    "cogs.server",
    "cogs.showcase",
    "cogs.events",
    "cogs.help",
)


def needed_intents() -> discord.Intents:
    """Only the gateway events the bot acts on: its servers, and ⭐ reactions on showcase posts.

    Without the message intents Discord does not send the bot every message, including an
    update event for each card edit it makes itself (measured: most of its gateway traffic).
    """
    return discord.Intents(guilds=True, guild_reactions=True)


@dataclass(frozen=True)
class Services:
    """Everything the cogs may call, built by the composition root."""

    settings: Settings
    db: Database
    ledger: Ledger
    jobs: JobService
    providers: dict[str, Provider]
    quotas: Quotas
    usage: UsageReports
    community: Community


class VideoBot(commands.AutoShardedBot):
    """The bot: receives its shards' interactions and hands them to the cogs."""

    def __init__(
        self,
        services: Services,
        *,
        intents: discord.Intents | None = None,
        http_trace: aiohttp.TraceConfig | None = None,
    ) -> None:
        # Sees every REST response (the metrics count Discord's 429s through it); discord.py's
        # stubs take no None, so it is passed only when given.
        traced: dict[str, Any] = {"http_trace": http_trace} if http_trace is not None else {}
        shards = services.settings.shards
        # Unset, one connection as [0, 1], which Discord treats as unsharded (every server and the
        # DMs). Not shard_count=None: discord.py would then ask /gateway/bot how many shards to
        # open and connect to the URL it returns, ignoring DISCORD_GATEWAY_URL, and the count
        # would change under the operator's feet as servers join.
        count = shards.count or 1
        super().__init__(
            shard_count=count,
            shard_ids=list(shards.ids if shards.ids is not None else range(count)),
            command_prefix=commands.when_mentioned,
            intents=intents or needed_intents(),
            # Messages are never read from the gateway (see needed_intents): nothing to cache.
            max_messages=None,
            tree_cls=AppTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            **traced,
        )
        self.services = services
        # Set when shutdown begins: new commands, presses and forms are refused politely.
        self.draining = False
        self.presenter = DiscordPresenter(
            self, services.providers, services.jobs, services.community
        )
        self.runner: JobRunner | None = None
        # Presses of job buttons, including ones on messages sent before a restart (JobButton
        # rebuilds itself from its custom_id); each cog adds the actions it owns when loaded.
        self.job_actions = JobActions()
        # Submitted forms, routed by their custom_id (cogs add their patterns when loaded).
        self.forms = FormRouter()
        # Approve / Deny-with-a-reason under what moderators decide (cogs add their subjects).
        self.decisions = Decisions(self.forms)

    def gateway_connected(self) -> bool:
        """For /healthz: READY received, every shard's socket open, and not shutting down."""
        # An AutoShardedBot has one socket per shard (its `ws` is not one of them).
        shards = self.shards.values()
        return (
            self.is_ready()
            and not self.is_closed()
            and not self.draining
            and bool(shards)
            and not any(shard.is_closed() for shard in shards)
        )

    def attach_runner(self, runner: JobRunner) -> None:
        """The runner needs the presenter, which needs this client: wired after construction."""
        self.runner = runner

    async def setup_hook(self) -> None:
        """Load the cogs, publish the commands if they changed, and start driving jobs."""
        # Korean (and any other catalogue language) names and descriptions for the commands.
        await self.tree.set_translator(CatalogueTranslator())
        self.add_listener(self.forms.dispatch, "on_interaction")
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(JobButton, DecideButton)
        settings = self.services.settings
        if settings.sync_commands and settings.shards.runs_shard_zero:
            await self._sync_commands_if_changed()
        elif settings.sync_commands:
            # Commands are global: one process publishes them, so processes starting together
            # do not each sync the same tree. Shard 0 always exists, so one process runs it.
            log.info("application commands are published by the process running shard 0")
        if self.runner is not None:
            self.runner.start()
        self.presenter.start()

    async def close(self) -> None:
        """Stop the runner before the connection goes away."""
        self.draining = True
        log.info("shutting down: refusing new commands, finishing the job steps in hand")
        await _finish_interactions(INTERACTION_GRACE_SECONDS)
        if self.runner is not None:
            # A step in hand gets a moment to finish; what does not is released for next time.
            await self.runner.stop(grace=INTERACTION_GRACE_SECONDS)
        await self.presenter.stop()
        # discord.py waits ~2 s for guilds before dispatching `ready`; closing inside that
        # window leaves the task to dispatch on a torn-down client unless it is cancelled.
        # With shards, each has its own such task too.
        shard_tasks = getattr(self._connection, "_ready_tasks", {})
        for ready_task in [getattr(self._connection, "_ready_task", None), *shard_tasks.values()]:
            if ready_task is not None:
                ready_task.cancel()
        await super().close()

    async def _sync_commands_if_changed(self) -> None:
        # Discord limits command creation (200 a day per guild), so only sync when they changed.
        # The translated payload includes the localizations, so a changed translation re-syncs.
        translator = self.tree.translator
        schema = [
            await command.get_translated_payload(self.tree, translator)
            if translator is not None
            else command.to_dict(self.tree)
            for command in self.tree.get_commands()
        ]
        digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()
        db = self.services.db
        row = await db.fetchone("SELECT value FROM meta WHERE key = 'commands_digest'")
        if row is not None and row["value"] == digest:
            log.info("application commands unchanged; not syncing")
            return
        await self.tree.sync()
        await execute_alone(
            db,
            "INSERT INTO meta (key, value) VALUES ('commands_digest', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (digest,),
        )
        log.info("synced %d application commands", len(schema))

    async def on_ready(self) -> None:
        """Log once connected."""
        log.info(
            "connected as %s (%s) to %d guilds (%s)",
            self.user,
            self.user and self.user.id,
            len(self.guilds),
            self.services.settings.shards.describe(),
        )

    async def on_shard_ready(self, shard_id: int) -> None:
        """Log each shard once its servers have arrived."""
        log.info("shard %d of %d ready", shard_id, self.shard_count)
