"""The layering rules of README's architecture section, checked on the code itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Everything that is not the Discord layer (bot/ui, cogs, bot/app.py, the composition root).
DOMAIN = [
    "bot.jobs",
    "bot.providers",
    "bot.credits",
    "bot.community",
    "bot.ledger",
    "bot.db",
    "bot.pricing",
    "bot.render",
    "bot.media",
    "bot.i18n",
]

# Imports each domain package and every module under it, then prints what got loaded.
_PROBE = """
import importlib, json, pkgutil, sys
imported = []
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
print(json.dumps({"imported": imported, "discord": sorted(
    m for m in sys.modules if m == "discord" or m.startswith("discord.")
)}))
"""


def test_the_domain_never_imports_discord() -> None:
    # A fresh interpreter: this test process has long since imported discord.
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *DOMAIN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    # The probe really walked the packages (jobs.models is the module issue 12 named).
    assert "bot.jobs.models" in report["imported"]
    assert "bot.community.pool" in report["imported"]
    assert report["discord"] == [], f"the domain loaded {report['discord'][:5]}"


def test_the_probe_sees_discord_when_it_is_imported() -> None:
    # The same probe over the Discord layer does report discord, so an empty list above means
    # something.
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "bot.ui.commands"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "discord" in json.loads(result.stdout)["discord"]
