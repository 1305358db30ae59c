"""Anomaly detection against each plugin's own baseline: pure and clock-free.

A ``Detector`` holds one plugin's baselines and is fed one ``Sample`` per
monitoring round (times are data here, never read from a clock). For every
metric of ``METRICS`` (``health/anomalyspec.py``, with the settings) it learns
a robust centre and spread online:

- the centre is an EWMA of the median of the last ``MEDIAN_OF`` values, so a
  single spike never moves it;
- the spread is an EWMA of the absolute deviation from the expected value,
  each deviation clipped at ``CLIP`` spreads, so a burst cannot widen the band
  much; the band is ``expected +- sensitivity x 1.4826 x spread``, never
  narrower than the metric's floor (a fraction of the centre, or an absolute
  amount), because a metric that never moved has a spread of zero;
- a slow season per hour of the day (UTC) shifts the expected value once
  that hour has been seen ``SEASON_AFTER`` times.

A metric outside its band (on the side that matters for it) for ``consecutive``
rounds in a row, after ``warmup`` rounds of learning, is an anomaly; it stays
one until the metric has been back inside for as many rounds. Two further
detectors: *silence* (no new signal for far longer than the longest gap the
plugin had lately, while bars keep reaching it) and the *memory trend* (the
least-squares slope of RSS over the last ``TREND_WINDOW`` rounds that would
reach the memory limit within ``horizon_hours``).

``state()``/``restore()`` carry the baselines as JSON-ready records, so a
restarted host does not relearn from zero.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zepix_core.health.anomalyspec import (
    ALPHA,
    CLIP,
    GAPS_KEPT,
    MAD_TO_SIGMA,
    MEDIAN_OF,
    METRICS,
    SEASON_AFTER,
    SEASON_ALPHA,
    TREND_WINDOW,
    AnomalySettings,
    MetricSpec,
)


@dataclass(frozen=True)
class Sample:
    """One round of one plugin. ``values`` maps metric names to this round's
    reading (None: not measured); ``signals`` is how many new signals the
    plugin reported, ``fed`` whether bars reached it this round; the rates
    per hour are counts over the last ``rate_hours`` hours."""

    now: float
    values: Mapping[str, float | None]
    signals: int | None = None
    fed: bool = True
    memory_limit_mb: float | None = None
    rate_hours: float | None = None


@dataclass(frozen=True)
class Band:
    """A metric against its band this round (for ``zepix health ID``)."""

    metric: str
    value: float | None
    low: float | None
    high: float | None
    center: float | None
    rounds: int
    anomalous: bool

    def record(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}  # no deep copy


@dataclass(frozen=True)
class Finding:
    """An anomaly: ``kind`` is ``band``, ``silence`` or ``memory_trend``."""

    metric: str
    kind: str
    message: str
    value: float | None = None
    limit: float | None = None
    eta_s: float | None = None


@dataclass(frozen=True)
class Assessment:
    bands: tuple[Band, ...] = ()
    findings: tuple[Finding, ...] = ()
    warming: bool = False


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".rstrip() if unit not in ("", "%") else f"{text}{unit}"


class Baseline:
    """The learned centre, spread and hour-of-day season of one metric."""

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.n = 0
        self.center = 0.0
        self.spread = 0.0
        self.recent: deque[float] = deque(maxlen=MEDIAN_OF)
        self.season = [0.0] * 24
        self.seen = [0] * 24
        self.out = 0      # rounds in a row on the bad side
        self.back = 0     # rounds in a row back inside while anomalous
        self.anomalous = False

    def expected(self, hour: int) -> float:
        """The expected value at ``hour`` on the learning scale."""
        return self.center + (self.season[hour] if self.seen[hour] >= SEASON_AFTER else 0.0)

    def typical(self, hour: int) -> float:
        """The expected value at ``hour`` in the metric's own unit."""
        return self.spec.unscaled(self.expected(hour))

    def floor(self, expected: float, hours: float | None = None) -> float:
        spec = self.spec
        if spec.log:
            return spec.rel_floor
        floor = max(spec.rel_floor * abs(expected), spec.abs_floor)
        if spec.counts and hours:
            floor = max(floor, math.sqrt(abs(expected) * hours + 1.0) / hours)
        return floor

    def band(self, hour: int, sensitivity: float,
             hours: float | None = None) -> tuple[float, float]:
        """The band of ``hour`` in the metric's unit; never below 0, since no metric can be."""
        mid = self.expected(hour)
        width = sensitivity * max(MAD_TO_SIGMA * self.spread, self.floor(mid, hours))
        return self.spec.unscaled(mid - width), self.spec.unscaled(mid + width)

    def judge(self, value: float, low: float, high: float, k: int) -> bool:
        """Count this round against its band (before learning from it); True
        while the metric is an anomaly."""
        side = self.spec.side
        bad = (side != "low" and value > high) or (side != "high" and value < low)
        self.out = self.out + 1 if bad else 0
        self.back = 0 if bad else self.back + 1
        if self.out >= k:
            self.anomalous = True
        elif self.anomalous and self.back >= k:
            self.anomalous = False
        return self.anomalous

    def learn(self, raw: float, hour: int, seasonal: bool = True) -> None:
        """Learn from this round; the season only once warm (``seasonal``), since
        the first rounds of a plugin (indicators filling up) are not its day."""
        value = self.spec.scaled(raw)
        season = self.season[hour] if self.seen[hour] >= SEASON_AFTER else 0.0
        if self.n == 0:
            self.center = value
        alpha = max(ALPHA, 1.0 / (self.n + 1))
        expected = self.center + season
        width = max(MAD_TO_SIGMA * self.spread, self.floor(expected))
        deviation = value - expected
        clipped = max(-CLIP * width, min(CLIP * width, deviation))
        self.spread += alpha * (abs(clipped) - self.spread)
        self.recent.append(value - season)
        ordered = sorted(self.recent)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        self.center += alpha * (median - self.center)
        if seasonal:
            self.seen[hour] += 1
            self.season[hour] += SEASON_ALPHA * (clipped + season - self.season[hour])
        self.n += 1

    def state(self) -> dict[str, object]:
        return {"n": self.n, "center": self.center, "spread": self.spread,
                "recent": list(self.recent), "season": self.season, "seen": self.seen}

    def restore(self, state: Mapping[str, object]) -> None:
        self.n, self.center = int(_number(state["n"])), _number(state["center"])
        self.spread = _number(state["spread"])
        self.recent = deque(_numbers(state["recent"]), maxlen=MEDIAN_OF)
        self.season = _numbers(state["season"])[:24]
        self.seen = [int(v) for v in _numbers(state["seen"])][:24]
        if len(self.season) != 24 or len(self.seen) != 24:
            raise ValueError("season must hold 24 hours")


class Silence:
    """Rounds since the last new signal, against the longest recent gap."""

    def __init__(self) -> None:
        self.gap = 0
        self.gaps: deque[int] = deque(maxlen=GAPS_KEPT)

    def limit(self, sensitivity: float) -> float:
        longest = max(self.gaps, default=0)
        return longest * (1.0 + sensitivity / 8.0) + 2

    def step(self, signals: int, fed: bool) -> None:
        if signals > 0:
            self.gaps.append(self.gap)
            self.gap = 0
        elif fed:
            self.gap += 1

    def state(self) -> dict[str, object]:
        return {"gap": self.gap, "gaps": list(self.gaps)}

    def restore(self, state: Mapping[str, object]) -> None:
        self.gap = int(_number(state["gap"]))
        self.gaps = deque((int(g) for g in _numbers(state["gaps"])), maxlen=GAPS_KEPT)


def _number(value: object) -> float:
    """A number of a stored state (JSON): ``TypeError`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _numbers(value: object) -> list[float]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of numbers, got {value!r}")
    return [_number(v) for v in value]


def _table(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a table, got {value!r}")
    return value


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of ``(t, y)`` points (y per unit of t); 0 for fewer than 2."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = cov = 0.0
    for t, y in points:
        var += (t - mt) ** 2
        cov += (t - mt) * (y - my)
    return 0.0 if var == 0 else cov / var


class Detector:
    """One plugin's baselines and anomaly state."""

    def __init__(self, settings: AnomalySettings) -> None:
        self.settings = settings
        self.baselines = {name: Baseline(spec) for name, spec in METRICS.items()}
        self.silence = Silence()
        self.memory: deque[tuple[float, float]] = deque(maxlen=TREND_WINDOW)
        self.trend_rounds = 0
        self.rounds = 0

    def observe(self, sample: Sample) -> Assessment:
        """Judge this round against what was learned, then learn from it."""
        s = self.settings
        hour = int(sample.now // 3600) % 24
        warming = self.rounds < s.warmup
        self.rounds += 1
        bands, found = [], []
        for name, base in self.baselines.items():
            value = sample.values.get(name)
            if value is None or not math.isfinite(value):
                continue
            if base.n == 0:
                bands.append(Band(name, value, None, None, None, 0, False))
                base.learn(value, hour, not warming)
                continue
            low, high = base.band(hour, s.sensitivity, sample.rate_hours)
            bad = not warming and base.judge(value, low, high, s.consecutive)
            bands.append(Band(name, value, low, high, base.typical(hour), base.out, bad))
            if bad:
                found.append(_band_finding(name, value, low, high, base.out))
            base.learn(value, hour, not warming)
        found += self._silence(sample, warming)
        found += self._trend(sample, warming)
        return Assessment(tuple(bands), tuple(found), warming)

    def _silence(self, sample: Sample, warming: bool) -> list[Finding]:
        if sample.signals is None:
            return []
        self.silence.step(sample.signals, sample.fed)
        limit = self.silence.limit(self.settings.sensitivity)
        if warming or len(self.silence.gaps) < 3 or self.silence.gap <= limit:
            return []
        return [Finding("signals_per_hour", "silence", f"no new signal for "
                        f"{self.silence.gap} rounds while bars keep arriving (longest gap "
                        f"lately {max(self.silence.gaps)} rounds)", self.silence.gap, limit)]

    def _trend(self, sample: Sample, warming: bool) -> list[Finding]:
        rss, limit = sample.values.get("rss_mb"), sample.memory_limit_mb
        if rss is None or limit is None:
            return []
        self.memory.append((sample.now, rss))
        rate = slope(self.memory)  # MB per second
        eta = (limit - rss) / rate if rate > 0 and rss < limit else None
        near = (eta is not None and eta <= self.settings.horizon_hours * 3600
                and len(self.memory) == TREND_WINDOW and not warming)
        self.trend_rounds = self.trend_rounds + 1 if near else 0
        if self.trend_rounds < self.settings.consecutive or eta is None:
            return []
        return [Finding("rss_mb", "memory_trend", f"memory grows {rate * 60:.2g} MB/min: "
                        f"RSS {rss:.0f} MB reaches the {limit:.0f} MB limit in about "
                        f"{_duration(eta)}", rss, limit, eta)]

    def state(self) -> dict[str, object]:
        return {"rounds": self.rounds, "silence": self.silence.state(),
                "metrics": {name: b.state() for name, b in self.baselines.items()}}

    def restore(self, state: Mapping[str, object]) -> None:
        """Take up ``state()`` of an earlier run; ``ValueError`` for a malformed one."""
        try:
            for name, record in _table(state.get("metrics", {})).items():
                if name in self.baselines:
                    self.baselines[name].restore(_table(record))
            if "silence" in state:
                self.silence.restore(_table(state["silence"]))
            self.rounds = int(_number(state.get("rounds", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed baseline state: {exc!r}") from exc


def _band_finding(name: str, value: float, low: float, high: float, rounds: int) -> Finding:
    spec = METRICS[name]
    limit = high if value > high else low
    return Finding(name, "band", f"anomaly: {spec.label} {fmt(value, spec.unit)} outside "
                   f"its band {fmt(low, spec.unit)} .. {fmt(high, spec.unit)} for {rounds} "
                   "rounds", value, limit)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
