"""From what a monitoring round saw to an anomaly ``Sample``: the detector's feed.

``PluginBaseline`` is one plugin's side of anomaly detection: it watches the
work the host gives the plugin over a short window (``WINDOW`` seconds, so a
step shows within a round or two, where the fixed rules' one-hour window
takes many), counts the intents it returns, turns the plugin's
``signals_processed`` counter into new signals per round and a rate, and hands
the round to its ``Detector``. ``settings_for`` reads ``[anomaly]`` and
``[plugins.<id>.anomaly]``; ``breaches`` and ``with_anomalies`` put the
detector's findings into the round's verdict beside the fixed rules.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

from zepix_core.contract.model import AlertLevel, HealthStatus
from zepix_core.execution.runner import CallResult
from zepix_core.health.anomaly import Assessment, Detector, Finding, Sample
from zepix_core.health.anomalyspec import AnomalySettings
from zepix_core.health.resources import ResourceSample
from zepix_core.health.rules import SEVERITY, Breach, Verdict
from zepix_core.health.sketch import WindowStats
from zepix_core.loading.config import Config, require_valid

MB = 2**20
#: Seconds of work behind the anomaly detector's latency and error rate.
WINDOW = 300.0
#: Rounds behind the signal and intent rates.
RATE_ROUNDS = 10
#: Calls in the window below which the error rate is not judged.
MIN_CALLS = 10


def settings_for(config: Config, plugin_id: str) -> AnomalySettings:
    """Defaults, then ``[anomaly]``, then ``[plugins.<id>.anomaly]``."""
    settings = AnomalySettings().merged(config.sections.get("anomaly", {}))
    own = config.plugins.get(plugin_id, {}).get("anomaly", {})
    return settings.merged(own, plugin_id) if own else settings


def check_settings(config: Config) -> None:
    """Validate every table of ``config`` (anomaly tables included); ``ConfigError``
    names file and key."""
    require_valid(config)


class PluginBaseline:
    """One plugin's anomaly feed. ``record_work`` runs on dispatch threads."""

    def __init__(self, settings: AnomalySettings, clock: Callable[[], float]) -> None:
        self.detector = Detector(settings)
        self.work = WindowStats(window=WINDOW, slots=10, clock=clock)
        self._lock = threading.Lock()
        self._intents = self._calls = 0
        self._signals_total = 0
        self._last_counter: float | None = None
        self._points: deque[tuple[float, int, int]] = deque(maxlen=RATE_ROUNDS + 1)
        self._intents_total = 0
        self.last = Assessment()

    @property
    def enabled(self) -> bool:
        return self.detector.settings.enabled

    def record_work(self, result: CallResult, problem: str | None) -> None:
        ok = result.ok and problem is None
        self.work.record(result.duration, error=not ok)
        with self._lock:
            self._calls += 1  # its intents are counted where the host checks them

    def record_answers(self, durations: Sequence[float]) -> None:
        """Several work calls that answered in shape (one feed of bars)."""
        self.work.record_many(durations)
        with self._lock:
            self._calls += len(durations)

    def record_intents(self, count: int) -> None:
        """Intents the plugin handed out, counted where they are checked (the host)."""
        with self._lock:
            self._intents += count

    def sample(self, now: float, metrics: Mapping[str, float] | None,
               resources: ResourceSample | None, memory_limit_mb: float) -> Sample:
        """This round's readings; counters since the previous round are taken."""
        with self._lock:
            intents, calls, self._intents = self._intents, self._calls, 0
            self._calls = 0
        signals = self._new_signals(metrics)
        self._signals_total += signals or 0
        self._intents_total += intents
        self._points.append((now, self._signals_total, self._intents_total))
        latency = self.work.snapshot()
        values: dict[str, float | None] = {
            "p95_latency_ms": latency.p95_ms,
            "error_rate": latency.error_rate if latency.calls >= MIN_CALLS else None,
            **self._rates(),
        }
        if resources is not None and resources.attributable:
            values["rss_mb"] = None if resources.rss_bytes is None else resources.rss_bytes / MB
            values["cpu_percent"] = resources.cpu_percent
        span = self._points[-1][0] - self._points[0][0]
        return Sample(now, values, signals, calls > 0, memory_limit_mb,
                      span / 3600.0 if span > 0 else None)

    def _new_signals(self, metrics: Mapping[str, float] | None) -> int | None:
        counter = None if metrics is None else metrics.get("signals_processed")
        if counter is None:
            return None
        last, self._last_counter = self._last_counter, counter
        if last is None:
            return None
        return int(counter - last if counter >= last else counter)  # a restart resets it

    def _rates(self) -> dict[str, float | None]:
        # Only over a full window: a rate over the first round or two after a
        # (re)start is 0 or several times the usual for any strategy that signals
        # every few rounds, and the restored baseline would judge it at once.
        full = len(self._points) == self._points.maxlen
        if not full or self._points[-1][0] <= self._points[0][0]:
            return {"signals_per_hour": None, "intents_per_hour": None}
        (t0, s0, i0), (t1, s1, i1) = self._points[0], self._points[-1]
        per_hour = 3600.0 / (t1 - t0)
        return {"signals_per_hour": (s1 - s0) * per_hour, "intents_per_hour": (i1 - i0) * per_hour}

    def assess(self, sample: Sample) -> Assessment:
        self.last = self.detector.observe(sample) if self.enabled else Assessment()
        return self.last

    def record(self) -> dict[str, object]:
        """The ``anomaly`` field of a snapshot: each metric against its band."""
        return {"enabled": self.enabled, "warming_up": self.last.warming,
                "rounds_learned": self.detector.rounds,
                "bands": {b.metric: b.record() for b in self.last.bands}}


def breaches(findings: Iterable[Finding]) -> list[Breach]:
    """Findings as breaches: DEGRADED; a memory trend alerts HIGH."""
    return [Breach("memory_trend" if f.kind == "memory_trend" else "anomaly",
                   HealthStatus.DEGRADED, f.message, f.value, f.limit,
                   alert=AlertLevel.HIGH if f.kind == "memory_trend" else None)
            for f in findings]


def with_anomalies(verdict: Verdict, found: Sequence[Breach]) -> Verdict:
    """``verdict`` with anomaly breaches added; a DEAD plugin is not judged further."""
    if not found or verdict.status is HealthStatus.DEAD:
        return verdict
    reasons = sorted((*verdict.reasons, *found), key=lambda b: SEVERITY.index(b.status))
    status = min((verdict.status, HealthStatus.DEGRADED), key=SEVERITY.index)
    return Verdict(status, tuple(reasons))
