"""Components belong to their feature: each cog registers the buttons, forms and decisions it
owns, and no cog reaches into another (by import or by name)."""

from __future__ import annotations

import ast
from pathlib import Path
from unittest.mock import MagicMock

from bot.app import EXTENSIONS, VideoBot

COGS = Path(__file__).resolve().parents[2] / "cogs"


async def loaded_bot() -> VideoBot:
    services = MagicMock()
    services.providers = {}
    bot = VideoBot(services)
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    return bot


def owner_of(handler: object) -> str:
    return type(getattr(handler, "__self__", None)).__name__


async def test_each_job_button_is_handled_by_the_feature_that_owns_it() -> None:
    bot = await loaded_bot()
    handlers = bot.job_actions._handlers
    assert {action: owner_of(h) for action, h in handlers.items()} == {
        "cancel": "VideoCog",
        "retry": "VideoCog",
        "remix": "VideoCog",
        "extend": "VideoCog",
        "post": "VideoCog",
        "delete": "VideoCog",
        "share": "ShowcaseCog",
        "report": "ModerationCog",
    }
    # Unloading a feature takes its buttons with it, and only its own.
    await bot.unload_extension("cogs.showcase")
    assert "share" not in bot.job_actions._handlers
    assert "report" in bot.job_actions._handlers


async def test_approvals_and_shares_are_decided_by_one_component() -> None:
    bot = await loaded_bot()
    subjects = bot.decisions._subjects
    assert sorted(subjects) == ["approval", "share"]
    await bot.unload_extension("cogs.server")
    assert sorted(bot.decisions._subjects) == ["share"]


def _cog_sources() -> list[Path]:
    return sorted(COGS.rglob("*.py"))


def test_no_cog_imports_another_cog() -> None:
    crossings = []
    for source in _cog_sources():
        feature = source.relative_to(COGS).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cogs."):
                imported = node.module.split(".")[1]  # type: ignore[union-attr]
                if imported != feature:
                    crossings.append(f"{source.relative_to(COGS)} imports {node.module}")
            if isinstance(node, ast.Import):
                crossings += [
                    f"{source.relative_to(COGS)} imports {a.name}"
                    for a in node.names
                    if a.name.startswith("cogs.")
                ]
    assert crossings == []


def test_no_cog_looks_another_up_by_name() -> None:
    lookups = [
        str(source.relative_to(COGS))
        for source in _cog_sources()
        if "get_cog(" in source.read_text(encoding="utf-8")
    ]
    assert lookups == []
