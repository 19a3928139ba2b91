"""The price table: credits per (provider, model, resolution or mode, duration)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.config import ConfigError

Key = tuple[str, str, str, int | None]
# Marks a per-second rate in the table's duration slot; real durations are positive.
PER_SECOND = -1


class PriceMissing(LookupError):
    """No price is configured for a combination, so it cannot be ordered."""


@dataclass(frozen=True)
class PriceTable:
    """Looks up prices; `None` duration means the provider chooses the length."""

    by_key: dict[Key, int]

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """Read the operator's file, or the packaged defaults when `path` is None."""
        if path is None:
            text = (resources.files("bot") / "data" / "pricing.toml").read_text(encoding="utf-8")
            origin = "the packaged pricing.toml"
        else:
            text = path.read_text(encoding="utf-8")
            origin = f"PRICING_FILE ({path})"
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{origin} is not valid TOML: {exc}.") from None
        return cls(by_key=_flatten(document.get("prices", {}), origin))

    def price(self, provider: str, model: str, tier: str, duration: int | None) -> int:
        """The price of one video, or PriceMissing."""
        for key in ((provider, model, tier, duration), (provider, model, tier, None)):
            if key in self.by_key:
                return self.by_key[key]
        rate = self.by_key.get((provider, model, tier, PER_SECOND))
        if rate is not None and duration is not None:
            return rate * duration
        length = f", {duration} s" if duration is not None else ""
        raise PriceMissing(f"{provider} {model} at {tier}{length} has no price on this bot.")

    def for_model(self, provider: str, model: str) -> dict[tuple[str, int | None], int]:
        """Every priced (tier, duration) of one model, for listings."""
        return {
            (tier, duration): credits
            for (p, m, tier, duration), credits in self.by_key.items()
            if (p, m) == (provider, model)
        }


def _flatten(prices: object, origin: str) -> dict[Key, int]:
    table: dict[Key, int] = {}
    if not isinstance(prices, dict):
        raise ConfigError(f"{origin}: [prices] must be a table.")
    for provider, models in prices.items():
        for model, tiers in _table(models, origin, provider).items():
            for tier, value in _table(tiers, origin, f"{provider}.{model}").items():
                where = f"{provider}.{model}.{tier}"
                if isinstance(value, dict) and "per_second" in value:
                    table[(provider, model, tier, PER_SECOND)] = _credits(
                        value["per_second"], origin, f"{where}.per_second"
                    )
                elif isinstance(value, dict):
                    for seconds, credits in value.items():
                        if not str(seconds).isdigit():
                            raise ConfigError(f"{origin}: {where} durations must be whole seconds.")
                        table[(provider, model, tier, int(seconds))] = _credits(
                            credits, origin, f"{where}.{seconds}"
                        )
                else:
                    table[(provider, model, tier, None)] = _credits(value, origin, where)
    return table


def _table(value: object, origin: str, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: {where} must be a table.")
    return value


def _credits(value: object, origin: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{origin}: {where} must be a whole number of credits (0 or more).")
    return value
