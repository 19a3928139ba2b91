"""The price table and the log redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.logs import RedactingFilter
from bot.pricing import PriceMissing, PriceTable


def test_packaged_prices_cover_every_kvid_model_and_resolution() -> None:
    from bot.providers.kvid import KvidProvider

    table = PriceTable.load()
    for model in KvidProvider.models.values():
        for resolution in model.resolutions:
            assert table.price("kvid", model.name, resolution, None) > 0


def test_operator_file_overrides_and_durations(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[prices.kling."kling-v1"]\nstd = { "5" = 10, "10" = 20 }\n')
    table = PriceTable.load(path)
    assert table.price("kling", "kling-v1", "std", 10) == 20
    with pytest.raises(PriceMissing, match="no price"):
        table.price("kling", "kling-v1", "pro", 5)
    with pytest.raises(PriceMissing):
        table.price("kvid", "v2", "720p", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[prices.kvid.v2]\n'720p' = -1\n", "kvid.v2.720p must be a whole number"),
        ("[prices.kvid.v2]\n'720p' = { five = 1 }\n", "durations must be whole seconds"),
        ("not toml at all [", "is not valid TOML"),
    ],
)
def test_bad_price_files_name_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        PriceTable.load(path)


def test_redaction_masks_secrets_and_interaction_tokens(caplog: pytest.LogCaptureFixture) -> None:
    secret = "super-secret-api-key-123"
    token_url = "/webhooks/123456789/aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmFiY2RlZg/messages/@original"
    logger = logging.getLogger("test.redaction")
    redactor = RedactingFilter([secret])
    logger.addFilter(redactor)
    try:
        with caplog.at_level(logging.DEBUG, logger="test.redaction"):
            logger.debug("calling %s with key %s", token_url, secret)
            logger.debug("event: %s", {"type": 2, "token": "aW50ZXJhY3Rpb246payloadtoken"})
            try:
                raise RuntimeError(f"failed with {secret}")
            except RuntimeError:
                logger.exception("boom")
    finally:
        logger.removeFilter(redactor)
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert secret not in text
    assert "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmFiY2RlZg" not in text
    assert "payloadtoken" not in text
    assert "/webhooks/123456789/****" in text
