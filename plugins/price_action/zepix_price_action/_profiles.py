"""Per-timeframe tuning of the price-action plugins, shared by the plugins and their self test."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """What a timeframe's plugin looks for: faster timeframes are noisier, so
    they look further back, demand longer wicks and take profits sooner."""

    timeframe: str
    swing_lookback: int
    zone: float
    reward: float
    wick_ratio: float

    @property
    def plugin_id(self) -> str:
        return f"price_action_{self.timeframe}"


PROFILES: Mapping[str, Profile] = {
    "1m": Profile("1m", swing_lookback=30, zone=0.25, reward=1.5, wick_ratio=2.5),
    "5m": Profile("5m", swing_lookback=24, zone=0.30, reward=2.0, wick_ratio=2.0),
    "15m": Profile("15m", swing_lookback=20, zone=0.30, reward=2.0, wick_ratio=2.0),
    "1h": Profile("1h", swing_lookback=12, zone=0.35, reward=2.5, wick_ratio=2.0),
}
