"""Configuration: defaults, messages that name the variable, secrets kept out of reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-bot-token-value"
KVID_KEY = "kvid-live-key-0123456789"


def test_defaults_when_only_token_is_set() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN})
    assert settings.require_discord_token() == TOKEN
    assert settings.database_path == Path("data/bot.sqlite3")
    assert settings.kvid.base_url == "https://api.kvid.ai"
    assert not settings.kvid.configured
    assert settings.discord_api_base is None
    assert settings.discord_gateway_url is None
    assert settings.job_deadline_seconds == 900.0
    assert settings.log_level == "INFO"


def test_missing_token_names_the_variable_and_how_to_fix_it() -> None:
    settings = Settings.from_env({})
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set") as info:
        settings.require_discord_token()
    assert ".env" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("KVID_BASE_URL", "api.kvid.ai", "KVID_BASE_URL must be a URL starting with http://"),
        (
            "DISCORD_GATEWAY_URL",
            "http://x",
            "DISCORD_GATEWAY_URL must be a URL starting with ws://",
        ),
        ("DISCORD_API_BASE", "ftp://x", "DISCORD_API_BASE must be a URL"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
        ("STARTING_CREDITS", "-5", "STARTING_CREDITS must be a whole number of at least 0"),
        ("STARTING_CREDITS", "ten", "STARTING_CREDITS must be a whole number"),
        ("JOB_DEADLINE_SECONDS", "0", "JOB_DEADLINE_SECONDS must be a number from 1"),
        ("BOT_OWNER_IDS", "12,abc", "BOT_OWNER_IDS must be a comma-separated list"),
        ("PRICING_FILE", "/nonexistent/prices.toml", "PRICING_FILE must name an existing file"),
        ("SYNC_COMMANDS", "maybe", "SYNC_COMMANDS must be true or false"),
    ],
)
def test_bad_values_stop_with_one_message_naming_the_variable(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DISCORD_TOKEN": TOKEN, name: value})
    assert str(info.value).startswith(expected)
    assert value in str(info.value)


def test_proxy_urls_and_owner_ids_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "DISCORD_API_BASE": "http://127.0.0.1:8080/api/v10/",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:8080/gateway",
            "BOT_OWNER_IDS": "1, 2,3",
            "KVID_API_KEY": KVID_KEY,
        }
    )
    assert settings.discord_api_base == "http://127.0.0.1:8080/api/v10"
    assert settings.discord_gateway_url == "ws://127.0.0.1:8080/gateway"
    assert settings.bot_owner_ids == frozenset({1, 2, 3})
    assert settings.kvid.configured


def test_secrets_never_appear_in_reprs() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN, "KVID_API_KEY": KVID_KEY})
    for text in (repr(settings), str(settings), repr(settings.kvid), f"{settings.discord_token}"):
        assert TOKEN not in text
        assert KVID_KEY not in text


def test_shards_are_unset_by_default() -> None:
    shards = Settings.from_env({"DISCORD_TOKEN": TOKEN}).shards
    assert (shards.count, shards.ids) == (None, None)
    assert shards.runs_shard_zero
    assert shards.describe() == "unsharded"


def test_shard_ids_are_parsed_and_shard_zero_is_known() -> None:
    shards = Settings.from_env({"SHARD_COUNT": "4", "SHARD_IDS": " 3, 1"}).shards
    assert (shards.count, shards.ids) == (4, (3, 1))
    assert not shards.runs_shard_zero
    assert shards.describe() == "shards 3, 1 of 4"
    every = Settings.from_env({"SHARD_COUNT": "2"}).shards
    assert (every.count, every.ids) == (2, None)
    assert every.runs_shard_zero
    assert every.describe() == "shards 0, 1 of 2"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be a whole number from 1"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT must be a whole number"),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "2"},
            "SHARD_IDS has 2, but shard numbers go from 0 to 1",
        ),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,0"}, "SHARD_IDS names shard 0 more than once"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "a"}, "SHARD_IDS must be a comma-separated list"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "-1"}, "SHARD_IDS must be a comma-separated list"),
    ],
)
def test_bad_shard_settings_say_what_is_wrong(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DISCORD_TOKEN": TOKEN, **env})
    assert str(info.value).startswith(expected)
