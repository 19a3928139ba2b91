"""The layering rules of README's architecture section, checked on the code itself."""

from __future__ import annotations

import ast
import json
import re
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


# Each of these tables is written by one module only (migrations aside: they own the schema).
OWNERS = {
    "jobs": "bot/jobs/store.py",
    "members": "bot/ledger.py",
    "holds": "bot/ledger.py",
    "ledger": "bot/ledger.py",
}
_WRITE = re.compile(
    r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)"
    r"\s+(\w+)\b",
    re.IGNORECASE,
)


def _sql_strings(path: Path) -> list[str]:
    """Every string literal in a module; an f-string's fixed parts joined around `?`."""
    strings = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            strings.append(
                "".join(
                    part.value if isinstance(part, ast.Constant) else "?" for part in node.values
                )
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append(node.value)
    return strings


def _writes() -> dict[str, set[str]]:
    """Table -> the modules (under bot/ and cogs/) whose SQL writes it."""
    found: dict[str, set[str]] = {}
    for folder in ("bot", "cogs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = str(path.relative_to(ROOT))
            for sql in _sql_strings(path):
                for table in _WRITE.findall(sql):
                    found.setdefault(table.lower(), set()).add(module)
    return found


def test_each_owned_table_is_written_by_its_owner_only() -> None:
    writes = _writes()
    for table, owner in OWNERS.items():
        # The scan finds the owner's own writes, so an empty result elsewhere means something.
        assert owner in writes.get(table, set()), f"no write to {table} found in {owner}"
        assert writes[table] == {owner}, f"{table} is written outside {owner}: {writes[table]}"
