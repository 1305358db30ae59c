"""What the anomaly detector judges: the metrics (``METRICS``: unit, bad side, band
floor) and the ``[anomaly]`` settings, per plugin; the detector itself is in
``health/anomaly.py``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from zepix_core.contract.configschema import check_table
from zepix_core.contract.errors import ConfigError
from zepix_core.loading.tables import ANOMALY

Side = Literal["high", "low", "both"]

MEDIAN_OF = 5
CLIP = 3.0
MAD_TO_SIGMA = 1.4826
#: Weight of a new round once warm: ~200 rounds of memory (100 minutes at 30 s).
ALPHA = 0.005
SEASON_ALPHA = 0.05
#: Rounds of one hour of the day (after warm-up) before its season counts:
#: two days at the 30 s default.
SEASON_AFTER = 240
TREND_WINDOW = 12
#: Gaps between new signals remembered for the silence detector.
GAPS_KEPT = 24


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is judged: its unit, the side that is bad, and the
    narrowest band half-width (before ``sensitivity``) as a fraction of the
    centre or an absolute amount, whichever is wider. A ``counts`` metric is a
    rate of rare events (intents): its band is never narrower than the
    Poisson noise of the count behind it, so a few intents close together in
    a quiet hour are not news. A ``log`` metric (latency) is learned on
    ``ln(value + abs_floor)``: its noise is multiplicative and heavy-tailed,
    so a band of robust deviations is only honest on that scale; there
    ``rel_floor`` is in log units."""

    label: str
    unit: str
    side: Side
    rel_floor: float
    abs_floor: float
    counts: bool = False
    log: bool = False

    def scaled(self, value: float) -> float:
        return math.log(max(0.0, value) + self.abs_floor) if self.log else value

    def unscaled(self, value: float) -> float:
        return max(0.0, math.exp(value) - self.abs_floor) if self.log else max(0.0, value)


METRICS: Mapping[str, MetricSpec] = {
    "p95_latency_ms": MetricSpec("p95 latency", "ms", "high", 0.25, 0.002, log=True),
    "error_rate": MetricSpec("error rate", "", "high", 0.25, 0.005),
    "signals_per_hour": MetricSpec("signals per hour", "/h", "both", 0.1, 2.0),
    "intents_per_hour": MetricSpec("intents per hour", "/h", "high", 0.25, 5.0, counts=True),
    "rss_mb": MetricSpec("RSS", "MB", "high", 0.02, 1.0),
    "cpu_percent": MetricSpec("CPU", "%", "high", 0.25, 2.0),
}


#: The defaults, declared with the ``[anomaly]`` table (``loading.tables``).
_DEFAULTS = ANOMALY.defaults()


@dataclass(frozen=True)
class AnomalySettings:
    """``[anomaly]`` and ``[plugins.<id>.anomaly]``: docs/health.md explains each."""

    enabled: bool = _DEFAULTS["enabled"]
    sensitivity: float = _DEFAULTS["sensitivity"]
    warmup: int = _DEFAULTS["warmup"]
    consecutive: int = _DEFAULTS["consecutive"]
    horizon_hours: float = _DEFAULTS["horizon_hours"]

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def merged(self, overrides: Mapping[str, object], plugin_id: str | None = None) -> AnomalySettings:
        """These settings with ``overrides`` applied; ``ConfigError`` names the bad key."""
        return dataclasses.replace(
            self, **{k: _checked(k, v, plugin_id) for k, v in overrides.items()})


def _checked(key: str, value: object, plugin_id: str | None) -> Any:
    parts = ("plugins", plugin_id, "anomaly") if plugin_id else ("anomaly",)
    problems = check_table(ANOMALY, {key: value}, parts)
    if problems:
        raise ConfigError(f"{problems[0].key}: {problems[0].message}", plugin_id=plugin_id)
    return ANOMALY.typed({key: value})[key]
