"""Fault injection for anomaly detection: rounds on a fake clock, judged two ways.

Each plugin is watched exactly as the monitor watches it: a ``PluginHealth``
(the fixed thresholds of ``health/rules.py``) and a ``PluginBaseline`` (the
anomaly detector) get the same ``on_bar`` results, metrics and resource
samples every round; the anomaly breaches go through an ``AlertManager``
with the default cooldown, so an alert counted here is one an operator would
have received. Nothing sleeps: a round moves the fake clock by ``INTERVAL``.

Where the rounds come from is a ``Source``:

- ``StreamSource``: seeded synthetic streams shaped like the bundled plugins
  (their calls, signal cadence and intent rate per round; latencies drawn
  from a log-normal with rare pauses). Fast; the test uses it.
- ``ReplaySource`` (bench/bench_anomaly.py): the five bundled plugins
  themselves, fed the seeded market replay, with each ``on_bar`` timed.

In-process plugins have no memory of their own to measure, so both sources
simulate a worker's RSS (a flat level with noise) for the memory faults.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from zepix_core.alerts.manager import AlertManager
from zepix_core.contract.model import AlertLevel
from zepix_core.execution.runner import CallResult
from zepix_core.health.anomalyspec import AnomalySettings
from zepix_core.health.baselines import PluginBaseline, breaches, with_anomalies
from zepix_core.health.resources import ResourceSample
from zepix_core.health.rules import Thresholds
from zepix_core.health.shapes import PluginHealth
from zepix_core.testing import FakeClock

INTERVAL = 30.0                     # seconds between rounds, the [host] default
BARS_PER_ROUND = 5                  # replay steps per round, the [host] default
WEEK = 7 * 24 * 3600 // int(INTERVAL)
FAULTS = ("latency_x20", "signal_stop", "error_burst", "memory_leak")
ANOMALY_KINDS = frozenset({"anomaly", "memory_trend"})
LEAK_MB_PER_ROUND = INTERVAL / 60.0  # 1 MB per simulated minute
MB = 2**20


@dataclass(frozen=True)
class Call:
    duration: float
    intents: int = 0
    error: bool = False


@dataclass
class Round:
    """What one plugin did in one round: its work calls, its signal counter, its RSS."""

    calls: list[Call]
    signals_total: int
    rss_mb: float
    cpu: float = 3.0


Source = Callable[[str, int], Round]


@dataclass
class Injector:
    """Turns a clean round into a faulty one from round ``start`` on."""

    fault: str | None = None
    start: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(99))
    frozen_signals: int | None = None
    leaked: float = 0.0

    def apply(self, index: int, clean: Round) -> Round:
        if self.fault is None or index < self.start:
            return clean
        if self.fault == "latency_x20":
            clean.calls = [Call(c.duration * 20, c.intents, c.error) for c in clean.calls]
        elif self.fault == "error_burst":
            clean.calls = [Call(c.duration, 0 if bad else c.intents, c.error or bad)
                           for c in clean.calls for bad in [self.rng.random() < 0.10]]
        elif self.fault == "signal_stop":
            if self.frozen_signals is None:
                self.frozen_signals = clean.signals_total
            clean.signals_total = self.frozen_signals
            clean.calls = [Call(c.duration * 0.2, 0, c.error) for c in clean.calls]
        elif self.fault == "memory_leak":
            self.leaked += LEAK_MB_PER_ROUND
            clean.rss_mb += self.leaked
        return clean


@dataclass
class Outcome:
    """One plugin's run: anomaly alerts opened (round indexes) and the first
    round any fixed threshold fired, both counted from round 0."""

    plugin_id: str
    fault: str | None
    anomaly_alerts: list[int] = field(default_factory=list)
    fixed_first: int | None = None
    fixed_kinds: set[str] = field(default_factory=set)
    messages: list[str] = field(default_factory=list)

    def delay(self, start: int) -> tuple[int | None, int | None]:
        """Rounds from the fault's start to the first alert, anomaly and fixed
        (1 = the first faulty round); None when it never fired."""
        after = [r for r in self.anomaly_alerts if r >= start]
        first = after[0] - start + 1 if after else None
        fixed = None if self.fixed_first is None else self.fixed_first - start + 1
        return first, fixed


class Watch:
    """One plugin judged by the fixed thresholds and by its baseline."""

    def __init__(self, plugin_id: str, clock: FakeClock, settings: AnomalySettings) -> None:
        self.plugin_id = plugin_id
        self.clock = clock
        self.health = PluginHealth(plugin_id, clock=clock.monotonic, wall=clock.time)
        self.baseline = PluginBaseline(settings, clock.monotonic)
        self.limits = Thresholds()
        self.alerts = AlertManager(clock.monotonic, clock.time, cooldown=300.0)

    def round(self, index: int, r: Round, outcome: Outcome, judge_from: int) -> None:
        pid, now = self.plugin_id, self.clock.time()
        for call in r.calls:
            result = CallResult(pid, "on_bar", value=[{}] * call.intents,
                                error="RuntimeError: injected" if call.error else None,
                                duration=call.duration)
            self.health.record_work(result)
            self.baseline.record_work(result, None)
        self.health.note_activity(now)
        self.health.record_ping(CallResult(pid, "health_ping", value=True))
        metrics = {"signals_processed": r.signals_total}
        self.health.record_metrics(CallResult(pid, "get_metrics", value=metrics))
        res = ResourceSample(1, True, int(r.rss_mb * MB), r.cpu, 4, 8, "process")
        verdict = self.health.assess(alive=True, now=now, limits=self.limits, resources=res)
        if verdict.reasons and outcome.fixed_first is None and index >= judge_from:
            outcome.fixed_first = index
            outcome.fixed_kinds = {b.kind for b in verdict.reasons}
        found = self.baseline.assess(self.baseline.sample(now, metrics, res, self.limits.memory_mb))
        judged = [b for b in with_anomalies(verdict, breaches(found.findings)).reasons
                  if b.kind in ANOMALY_KINDS]
        level = max((b.level for b in judged), key=list(AlertLevel).index, default=None)
        message = judged[0].message if judged else ""
        for alert in self.alerts.observe(pid, "anomaly", level or AlertLevel.WARNING,
                                         bool(judged), message):
            if alert.event == "fired" and "escalated_from" not in alert.details:
                outcome.anomaly_alerts.append(index)
                outcome.messages.append(alert.message)


def run(source: Source, plugin_ids: Sequence[str], rounds: int, *, fault: str | None = None,
        start: int = 0, settings: AnomalySettings | None = None,
        seed: int = 1) -> list[Outcome]:
    """``rounds`` rounds of every plugin, with ``fault`` injected from round ``start``."""
    clock = FakeClock(wall=1_704_067_200.0)
    settings = settings or AnomalySettings()
    watches = [Watch(pid, clock, settings) for pid in plugin_ids]
    injectors = [Injector(fault, start, random.Random(f"{seed}:{pid}")) for pid in plugin_ids]
    outcomes = [Outcome(pid, fault) for pid in plugin_ids]
    for index in range(rounds):
        clock.advance(INTERVAL)
        for watch, inject, outcome in zip(watches, injectors, outcomes, strict=True):
            clean = source(watch.plugin_id, index)
            watch.round(index, inject.apply(index, clean), outcome, start if fault else 0)
    return outcomes


# -- synthetic streams shaped like the bundled plugins ----------------------------

@dataclass(frozen=True)
class Profile:
    """Per round: ``calls`` on_bar calls; ``signals`` new signals every ``every``
    rounds; ``intents`` intents on average; per-call latency log-normal with
    median ``latency_ms`` and log-spread ``sigma``."""

    calls: int
    signals: int
    every: int
    intents: float
    latency_ms: float
    sigma: float
    rss_mb: float = 42.0


#: Measured from the bundled plugins on the replay at 5 steps per round (direct
#: on_bar calls: p50 and p95 per call, intents per round; bench/bench_anomaly.py).
PROFILES = {
    "combined_v3": Profile(13, 2, 1, 0.09, 0.0006, 1.6),
    "price_action_1m": Profile(13, 10, 1, 2.4, 0.004, 0.73),
    "price_action_5m": Profile(13, 2, 1, 0.39, 0.0006, 1.56),
    "price_action_15m": Profile(13, 2, 3, 0.12, 0.0006, 1.14),
    "price_action_1h": Profile(13, 2, 12, 0.02, 0.0006, 0.6),
}


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class StreamSource:
    """Seeded per-round streams for each plugin of ``PROFILES``."""

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed
        self.rngs: dict[str, random.Random] = {}
        self.totals: dict[str, int] = {}

    def __call__(self, plugin_id: str, index: int) -> Round:
        p = PROFILES[plugin_id]
        rng = self.rngs.setdefault(plugin_id, random.Random(f"{self.seed}:{plugin_id}"))
        signals = p.signals if index % p.every == 0 else 0
        total = self.totals[plugin_id] = self.totals.get(plugin_id, 0) + signals
        intents = poisson(rng, p.intents)
        calls = []
        for i in range(p.calls):
            ms = p.latency_ms * math.exp(rng.gauss(0.0, p.sigma))
            if rng.random() < 0.002:  # a GC pause or a busy machine
                ms *= rng.uniform(5, 50)
            calls.append(Call(ms / 1000.0, intents if i == 0 else 0, rng.random() < 0.0005))
        rss = p.rss_mb + rng.gauss(0.0, 0.15) + (0.8 if rng.random() < 0.01 else 0.0)
        return Round(calls, total, rss, max(0.0, rng.gauss(3.0, 0.6)))


def plugin_ids() -> list[str]:
    return list(PROFILES)


def table(false_alarms: dict[str, int], weeks: float,
          delays: dict[str, dict[str, tuple[int | None, int | None]]]) -> Iterator[str]:
    """The markdown tables of docs/health.md."""
    yield "| plugin | anomaly alerts in a clean week (all false) |"
    yield "|---|---|"
    for pid, count in false_alarms.items():
        yield f"| `{pid}` | {count / weeks:g} |"
    yield ""
    yield "| fault | " + " | ".join(f"`{pid}`" for pid in false_alarms) + " |"
    yield "|---|" + "---|" * len(false_alarms)
    for fault, per_plugin in delays.items():
        cells = [f"{_r(a)} / {_r(f)}" for a, f in (per_plugin[p] for p in false_alarms)]
        yield f"| {fault} | " + " | ".join(cells) + " |"


def _r(rounds: int | None) -> str:
    return "never" if rounds is None else str(rounds)


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {o.plugin_id: len(o.anomaly_alerts) for o in outcomes}


# -- metric streams straight into the detector (what the test drives) -------------

def samples(plugin_id: str, rounds: int, *, fault: str | None = None, start: int = 0,
            seed: int = 7, t0: float = 1_704_067_200.0) -> Iterator[Any]:
    """Seeded per-round ``Sample``s of one plugin as ``PluginBaseline.sample``
    would build them, with ``fault`` from round ``start``: the windowed p95 and
    error rate, signal and intent rates over 10 rounds, a worker's RSS and CPU."""
    from zepix_core.health.anomaly import Sample

    p = PROFILES[plugin_id]
    rng = random.Random(f"{seed}:{plugin_id}:streams")
    recent_signals: list[int] = []
    recent_intents: list[int] = []
    leaked = drift = 0.0
    for index in range(rounds):
        faulty = fault is not None and index >= start
        signals = p.signals if index % p.every == 0 else 0
        if faulty and fault == "signal_stop":
            signals = 0
        intents = poisson(rng, p.intents)
        # The windowed p95 of the replay wanders: on a log scale about 0.3 either
        # way, slowly (windows overlap by 9 rounds in 10), with rare pauses on top.
        drift = 0.9 * drift + rng.gauss(0.0, 0.3 * math.sqrt(1 - 0.81))
        p95 = p.latency_ms * math.exp(1.645 * p.sigma + drift)
        if rng.random() < 0.01:
            p95 *= rng.uniform(2, 8)
        calls = p.calls * 10
        rate = 0.10 if faulty and fault == "error_burst" else 0.0005
        errors = sum(1 for _ in range(calls) if rng.random() < rate)
        if faulty and fault == "latency_x20":
            p95 *= 20
        if faulty and fault == "memory_leak":
            leaked += LEAK_MB_PER_ROUND
        recent_signals = (recent_signals + [signals])[-10:]
        recent_intents = (recent_intents + [intents])[-10:]
        per_hour = 3600.0 / (INTERVAL * len(recent_signals))
        rss = p.rss_mb + leaked + rng.gauss(0.0, 0.15) + (0.8 if rng.random() < 0.01 else 0.0)
        yield Sample(t0 + index * INTERVAL, {
            "p95_latency_ms": p95, "error_rate": errors / calls,
            "signals_per_hour": sum(recent_signals) * per_hour,
            "intents_per_hour": sum(recent_intents) * per_hour,
            "rss_mb": rss, "cpu_percent": max(0.0, rng.gauss(3.0, 0.6)),
        }, signals, True, 500.0, len(recent_signals) * INTERVAL / 3600.0)
