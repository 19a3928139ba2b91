"""Every environment variable the code reads is in .env.example and the README's table."""

from __future__ import annotations

import re
from pathlib import Path

from dotenv import dotenv_values

from bot.config import Settings
from tests.operator.support import REPO

# A literal variable name read through the config reader, os.environ or os.getenv.
_READ = re.compile(
    r"""(?:\breader\.\w+\(|\benviron\.get\(|\bgetenv\(|\benviron\[)\s*["']([A-Z][A-Z0-9_]+)["']"""
)
# `NAME=value` or `# NAME=value` (documented but left unset).
_EXAMPLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]+)=", re.MULTILINE)


def variables_read() -> set[str]:
    """Every variable name the bot's code reads, by scanning its source."""
    names: set[str] = set()
    for folder in ("bot", "cogs", "simulator"):
        for path in (REPO / folder).rglob("*.py"):
            names.update(_READ.findall(path.read_text(encoding="utf-8")))
    return names


def env_example() -> str:
    """The text of .env.example."""
    return (REPO / ".env.example").read_text(encoding="utf-8")


def documented_settings() -> set[str]:
    """Every variable .env.example lists, set or commented out."""
    return set(_EXAMPLE_LINE.findall(env_example()))


def readme_table() -> set[str]:
    """The variables named in the first cell of the README's configuration table."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n### ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def docker_env_file(text: str) -> dict[str, str]:
    """KEY=value lines as `docker run --env-file` reads them: verbatim, comments skipped."""
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def image_env() -> set[str]:
    """The variables the Dockerfile's ENV instruction sets in the image."""
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    names: set[str] = set()
    for line in dockerfile.splitlines():
        if line.startswith("ENV "):
            names.update(re.findall(r"([A-Z][A-Z0-9_]+)=", line))
    return names


def test_the_scan_sees_every_kind_of_read() -> None:
    """Guard against a scan that silently finds nothing: reader, environ.get, sandbox."""
    found = variables_read()
    assert {"DISCORD_TOKEN", "KLING_API_KEY", "DATA_DIR", "HTTP_PORT", "SANDBOX_DIR"} <= found
    assert len(found) >= 30


def assert_lists_what_the_code_reads(listed: set[str], where: str) -> None:
    """`listed` (from `where`) names every variable the code reads, and only those."""
    read = variables_read()
    assert read - listed == set(), f"read by the code but missing from {where}"
    assert listed - read == set(), f"in {where} but read nowhere"


def test_env_example_lists_exactly_what_the_code_reads() -> None:
    """A new setting needs its line in .env.example; a removed one must leave it."""
    assert_lists_what_the_code_reads(documented_settings(), ".env.example")


def test_every_variable_has_an_explanation() -> None:
    """Each variable's line follows a comment that explains it."""
    lines = env_example().splitlines()
    for number, line in enumerate(lines):
        if _EXAMPLE_LINE.match(line) and not line.startswith("#"):
            before = lines[number - 1]
            assert before.startswith("#") or _EXAMPLE_LINE.match(before), line


def test_the_readme_table_lists_what_the_code_reads() -> None:
    """The configuration table names every variable, and only real ones."""
    assert_lists_what_the_code_reads(readme_table(), "the README's table")


def test_env_example_leaves_the_image_settings_alone() -> None:
    """`--env-file .env` must not replace what the image sets (e.g. DATABASE_PATH=/data/…)."""
    active = docker_env_file(env_example())
    assert {"DATABASE_PATH", "SANDBOX_DIR"} <= image_env()
    assert image_env() & set(active) == set()


def test_env_example_is_valid_as_written() -> None:
    """Copied unchanged (plus a token), the values pass validation, read either way."""
    for values in (docker_env_file(env_example()), dotenv_values(REPO / ".env.example")):
        env = {key: value or "" for key, value in values.items()}
        env["DISCORD_TOKEN"] = "a-token"
        settings = Settings.from_env(env)
        assert settings.database_path == Path("data/bot.sqlite3")
        assert settings.local.mode == "auto"
