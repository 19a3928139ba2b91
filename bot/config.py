"""Settings read from the environment (and `.env`), validated once at start-up."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

T = TypeVar("T", int, float)

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
LOG_FORMATS = ("TEXT", "JSON")
# A sanity bound, not Discord's: a typo like 40000 should not open thousands of connections.
MAX_SHARDS = 4096


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and what is expected."""


@dataclass(frozen=True)
class Secret:
    """A value that must never be printed: its repr and str are masked."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('****')" if self.value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True)
class ProviderSettings:
    """Where and how to reach one video provider."""

    api_key: Secret
    base_url: str
    poll_interval: float

    @property
    def configured(self) -> bool:
        """A provider without a key is not offered to members."""
        return bool(self.api_key)


@dataclass(frozen=True)
class LocalSettings:
    """The free camera-motion provider that renders on this machine."""

    # "auto": offered only when no paid provider has a key; "on"/"off": always/never.
    mode: str
    max_workers: int


@dataclass(frozen=True)
class CallbackSettings:
    """The bot's HTTP endpoint: provider callbacks (optional), /healthz and /metrics."""

    public_url: str | None
    host: str
    port: int
    # HTTP_PORT was set: serve /healthz and /metrics even without callbacks.
    port_given: bool = False

    @property
    def enabled(self) -> bool:
        """Callbacks need a URL the provider can reach; without one the bot polls."""
        return self.public_url is not None

    @property
    def serve(self) -> bool:
        """Listen at all: for callbacks, or because the operator asked for the endpoint."""
        return self.enabled or self.port_given


@dataclass(frozen=True)
class ShardSettings:
    """Which gateway shards this process runs; unset, one connection receives every server."""

    # Total shards across every process (Discord routes a server to (id >> 22) % count).
    count: int | None = None
    # This process's shards; None with a count: all of them.
    ids: tuple[int, ...] | None = None

    @property
    def runs_shard_zero(self) -> bool:
        """Shard 0 alone receives direct messages; its process also publishes the commands."""
        return self.ids is None or 0 in self.ids

    def describe(self) -> str:
        """For the start-up log line: "shards 0, 1 of 4" or "unsharded"."""
        if self.count is None:
            return "unsharded"
        ids = self.ids if self.ids is not None else tuple(range(self.count))
        return f"shards {', '.join(map(str, ids))} of {self.count}"


PROVIDER_NAMES = ("kvid", "kling", "local")


@dataclass(frozen=True)
class CreditDefaults:
    """The allowance and limits every server starts with; its admins can change them."""

    refill_amount: int
    refill_cap: int
    refill_period_hours: int
    max_concurrent_jobs: int  # 0: no limit
    daily_spend_cap: int  # 0: no cap


@dataclass(frozen=True)
class Settings:
    """Everything the bot needs to run, validated."""

    discord_token: Secret
    discord_api_base: str | None
    discord_gateway_url: str | None
    database_path: Path
    # postgresql://... when several processes share one database; empty: SQLite at database_path.
    database_url: Secret
    kvid: ProviderSettings
    kling: ProviderSettings
    local: LocalSettings
    default_provider: str | None
    callbacks: CallbackSettings
    log_level: str
    # "text" (human-readable lines) or "json" (one object per line, for log collectors).
    log_format: str
    starting_credits: int
    credits: CreditDefaults
    pricing_file: Path | None
    job_deadline_seconds: float
    max_download_bytes: int
    # This process's name among several sharing one database; its job leases carry it.
    instance_name: str
    lease_seconds: float
    delivery_retry_seconds: float
    bot_owner_ids: frozenset[int]
    sync_commands: bool
    data_dir: Path
    shards: ShardSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: the process environment)."""
        reader = _Reader(os.environ if env is None else env)
        database_path = Path(reader.text("DATABASE_PATH", "data/bot.sqlite3"))
        starting_credits = reader.number("STARTING_CREDITS", 100, int, minimum=0)
        return cls(
            discord_token=Secret(reader.text("DISCORD_TOKEN", "")),
            discord_api_base=reader.optional_url("DISCORD_API_BASE", ("http", "https")),
            discord_gateway_url=reader.optional_url("DISCORD_GATEWAY_URL", ("ws", "wss")),
            database_path=database_path,
            database_url=Secret(
                reader.optional_url("DATABASE_URL", ("postgresql", "postgres"), secret=True) or ""
            ),
            kvid=ProviderSettings(
                api_key=Secret(reader.text("KVID_API_KEY", "")),
                base_url=reader.url("KVID_BASE_URL", "https://api.kvid.ai", ("http", "https")),
                poll_interval=reader.number(
                    "KVID_POLL_INTERVAL", 10.0, float, minimum=0.05, maximum=300
                ),
            ),
            kling=ProviderSettings(
                api_key=Secret(reader.text("KLING_API_KEY", "")),
                base_url=reader.url(
                    "KLING_BASE_URL", "https://api.acedata.cloud", ("http", "https")
                ),
                poll_interval=reader.number(
                    "KLING_POLL_INTERVAL", 10.0, float, minimum=0.05, maximum=300
                ),
            ),
            local=LocalSettings(
                mode=reader.choice("LOCAL_PROVIDER", "AUTO", ("AUTO", "ON", "OFF")).lower(),
                max_workers=reader.number("LOCAL_MAX_WORKERS", 1, int, minimum=1, maximum=8),
            ),
            default_provider=reader.optional_choice("DEFAULT_PROVIDER", PROVIDER_NAMES),
            callbacks=CallbackSettings(
                public_url=reader.optional_url("PUBLIC_URL", ("http", "https")),
                host=reader.text("HTTP_HOST", "0.0.0.0"),
                port=reader.number("HTTP_PORT", 8080, int, minimum=1, maximum=65535),
                port_given=reader.given("HTTP_PORT"),
            ),
            log_level=reader.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
            log_format=reader.choice("LOG_FORMAT", "TEXT", LOG_FORMATS).lower(),
            starting_credits=starting_credits,
            credits=CreditDefaults(
                refill_amount=reader.number("REFILL_AMOUNT", 20, int, minimum=0),
                # By default the allowance tops members back up to what they started with.
                refill_cap=reader.number("REFILL_CAP", starting_credits, int, minimum=0),
                refill_period_hours=reader.number(
                    "REFILL_PERIOD_HOURS", 24, int, minimum=1, maximum=8760
                ),
                max_concurrent_jobs=reader.number(
                    "MAX_CONCURRENT_JOBS", 3, int, minimum=0, maximum=100
                ),
                daily_spend_cap=reader.number("DAILY_SPEND_CAP", 0, int, minimum=0),
            ),
            pricing_file=reader.optional_path("PRICING_FILE"),
            job_deadline_seconds=reader.number(
                "JOB_DEADLINE_SECONDS", 900.0, float, minimum=1, maximum=86_400
            ),
            max_download_bytes=reader.number("MAX_DOWNLOAD_MB", 200, int, minimum=1, maximum=2_000)
            * 1024
            * 1024,
            instance_name=reader.text("INSTANCE_NAME", "main"),
            lease_seconds=reader.number("LEASE_SECONDS", 30.0, float, minimum=1, maximum=3_600),
            delivery_retry_seconds=reader.number(
                "DELIVERY_RETRY_SECONDS", 5.0, float, minimum=0.05, maximum=3_600
            ),
            bot_owner_ids=reader.id_set("BOT_OWNER_IDS"),
            sync_commands=reader.flag("SYNC_COMMANDS", True),
            data_dir=Path(reader.text("DATA_DIR", str(database_path.parent or "."))),
            shards=_read_shards(reader),
        )

    def require_discord_token(self) -> str:
        """The bot token, or a ConfigError that says how to get one."""
        if not self.discord_token:
            raise ConfigError(
                "DISCORD_TOKEN is not set. Create a bot at https://discord.com/developers/"
                "applications, copy its token, and put DISCORD_TOKEN=<token> in .env "
                "(see .env.example)."
            )
        return self.discord_token.value


class _Reader:
    """Parses one variable at a time, raising ConfigError with the variable's name."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        value = self._env.get(name, "").strip()
        return value or default

    def given(self, name: str) -> bool:
        return bool(self._env.get(name, "").strip())

    def number(
        self,
        name: str,
        default: T,
        kind: Callable[[str], T],
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> T:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        what = "a whole number" if kind is int else "a number"
        bounds = _describe_bounds(minimum, maximum)
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {what}{bounds}, not {raw!r}.") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ConfigError(f"{name} must be {what}{bounds}, not {raw!r}.")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).upper()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
        return value

    def optional_choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self._env.get(name, "").strip().lower()
        if not value:
            return None
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}.")

    def url(
        self, name: str, default: str, schemes: tuple[str, ...], *, secret: bool = False
    ) -> str:
        value = self.text(name, default)
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            # A URL that may carry a password is described, never echoed.
            given = (
                f"not a value starting with {parsed.scheme or '(nothing)'}://"
                if secret
                else f"not {value!r}"
            )
            raise ConfigError(
                f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, "
                f"{given}."
            )
        return value.rstrip("/")

    def optional_url(
        self, name: str, schemes: tuple[str, ...], *, secret: bool = False
    ) -> str | None:
        if not self._env.get(name, "").strip():
            return None
        return self.url(name, "", schemes, secret=secret)

    def optional_path(self, name: str) -> Path | None:
        raw = self._env.get(name, "").strip()
        if not raw:
            return None
        path = Path(raw)
        if not path.is_file():
            raise ConfigError(f"{name} must name an existing file, but {raw!r} does not exist.")
        return path

    def id_set(self, name: str) -> frozenset[int]:
        raw = self._env.get(name, "").replace(" ", "")
        if not raw:
            return frozenset()
        try:
            return frozenset(int(part) for part in raw.split(",") if part)
        except ValueError:
            raise ConfigError(
                f"{name} must be a comma-separated list of Discord user ids, not {raw!r}."
            ) from None


def _read_shards(reader: _Reader) -> ShardSettings:
    """SHARD_COUNT and SHARD_IDS, checked together (ids below the count, each once)."""
    raw_ids = reader.text("SHARD_IDS", "").replace(" ", "")
    if not reader.text("SHARD_COUNT", ""):
        if raw_ids:
            raise ConfigError(
                "SHARD_IDS needs SHARD_COUNT: set SHARD_COUNT to the total number of shards "
                "across every process (e.g. SHARD_COUNT=2 with SHARD_IDS=0 here and "
                "SHARD_IDS=1 in the other process)."
            )
        return ShardSettings()
    count = reader.number("SHARD_COUNT", 1, int, minimum=1, maximum=MAX_SHARDS)
    if not raw_ids:
        return ShardSettings(count)
    try:
        ids = [int(part) for part in raw_ids.split(",") if part]
    except ValueError:
        ids = []
    if not ids or any(i < 0 for i in ids):
        raise ConfigError(
            f"SHARD_IDS must be a comma-separated list of shard numbers from 0 to {count - 1}, "
            f"not {raw_ids!r}."
        )
    too_big = sorted({i for i in ids if i >= count})
    if too_big:
        raise ConfigError(
            f"SHARD_IDS has {', '.join(map(str, too_big))}, but shard numbers go from 0 to "
            f"{count - 1} with SHARD_COUNT={count} (Discord would close it with 4010)."
        )
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigError(
            f"SHARD_IDS names shard {', '.join(map(str, repeated))} more than once, "
            f"not {raw_ids!r}."
        )
    return ShardSettings(count, tuple(ids))


def _describe_bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f" of at least {minimum:g}"
    if maximum is not None:
        return f" of at most {maximum:g}"
    return ""
