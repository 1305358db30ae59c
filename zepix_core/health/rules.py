"""Health status rules: a pure judge over what one monitoring round saw.

``judge`` turns an ``Observation`` of one plugin into a ``Verdict``: the
status and every breach that led to it. What the host reads from the health
hooks, and the per-plugin tracker that feeds the judge between rounds
(``PluginHealth``), live in ``_shapes``. docs/health.md has the rules as a
table; keep the two in step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from zepix_core.contract.configschema import check_table
from zepix_core.contract.errors import ConfigError
from zepix_core.contract.model import AlertLevel, HealthStatus
from zepix_core.health.resources import ResourceSample
from zepix_core.health.sketch import LatencySnapshot
from zepix_core.loading.tables import THRESHOLDS

MB = 2**20

#: Statuses worst first: when several rules apply, the first of these wins.
SEVERITY = (
    HealthStatus.DEAD, HealthStatus.HUNG, HealthStatus.STALE, HealthStatus.DEGRADED,
    HealthStatus.HEALTHY, HealthStatus.UNKNOWN,
)

#: The alert level a breach of each status raises.
ALERT_LEVELS: Mapping[HealthStatus, AlertLevel] = {
    HealthStatus.DEAD: AlertLevel.CRITICAL,
    HealthStatus.HUNG: AlertLevel.CRITICAL,
    HealthStatus.STALE: AlertLevel.HIGH,
    HealthStatus.DEGRADED: AlertLevel.WARNING,
}

#: Every ``Breach.kind`` the rules produce. Alerts of other kinds (restarts,
#: version changes) are raised and resolved by their owners, not by verdicts.
BREACH_KINDS = frozenset({
    "dead", "hung", "ping_missed", "stale", "latency", "error_rate", "memory", "cpu",
    "ping_failed", "ping_error", "self_test", "metrics", "anomaly", "memory_trend",
})

PingOutcome = Literal["ok", "failed", "error", "missed"]


#: The defaults, declared with the ``[thresholds]`` table (``loading.tables``).
_DEFAULTS = THRESHOLDS.defaults()


@dataclass(frozen=True)
class Thresholds:
    """Limits past which a plugin is DEGRADED (or STALE, or HUNG).

    ``hung_after`` is 2: one missed ping can be a GC pause or a busy machine,
    so it only makes the plugin DEGRADED; a second miss in a row means no
    answer for a whole interval (30 s by default) on top of the deadline,
    which is a real freeze. ``min_calls`` keeps the error rate from judging a
    handful of calls, where one error is already a large share.
    """

    p95_latency_ms: float = _DEFAULTS["p95_latency_ms"]
    error_rate: float = _DEFAULTS["error_rate"]
    min_calls: int = _DEFAULTS["min_calls"]
    memory_mb: float = _DEFAULTS["memory_mb"]
    cpu_percent: float = _DEFAULTS["cpu_percent"]
    heartbeat_s: float = _DEFAULTS["heartbeat_s"]
    hung_after: int = _DEFAULTS["hung_after"]

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))

    def merged(self, overrides: Mapping[str, object], plugin_id: str | None = None) -> Thresholds:
        """These thresholds with ``overrides`` (a config table) applied; raises
        ``ConfigError`` naming the key for an unknown key or a bad value."""
        changes: dict[str, Any] = {k: _checked(k, v, plugin_id) for k, v in overrides.items()}
        return dataclasses.replace(self, **changes)


def _checked(key: str, value: object, plugin_id: str | None) -> object:
    parts = ("plugins", plugin_id, "thresholds") if plugin_id else ("thresholds",)
    problems = check_table(THRESHOLDS, {key: value}, parts)
    if problems:
        raise ConfigError(f"{problems[0].key}: {problems[0].message}", plugin_id=plugin_id)
    return THRESHOLDS.typed({key: value})[key]


# -- the judge ---------------------------------------------------------------

@dataclass(frozen=True)
class PingReading:
    """How this round's health_ping went: answered ``ok``, answered not ok
    (``failed``), raised or answered in the wrong shape (``error``), or gave
    no answer within its deadline (``missed``)."""

    outcome: PingOutcome
    message: str = ""


@dataclass(frozen=True)
class Observation:
    """What the host saw of one plugin in one round. ``now`` is wall-clock
    epoch seconds, comparable with ``last_activity``."""

    alive: bool
    now: float
    ping: PingReading | None = None
    misses: int = 0
    last_activity: float | None = None
    latency: LatencySnapshot | None = None
    resources: ResourceSample | None = None
    self_test_passed: bool | None = None
    metrics_problem: str | None = None
    exit_detail: str | None = None


@dataclass(frozen=True)
class Breach:
    """One rule that applied: the condition ``kind``, the status it implies,
    a message for people, and the measured value against its limit. ``alert``
    overrides the level the status implies (a memory trend is DEGRADED, HIGH)."""

    kind: str
    status: HealthStatus
    message: str
    value: float | None = None
    limit: float | None = None
    alert: AlertLevel | None = None

    @property
    def level(self) -> AlertLevel:
        return self.alert or ALERT_LEVELS[self.status]


@dataclass(frozen=True)
class Verdict:
    status: HealthStatus
    reasons: tuple[Breach, ...] = ()


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    """The worst of ``statuses`` by ``SEVERITY``; HEALTHY when there are none."""
    return min(statuses, key=SEVERITY.index, default=HealthStatus.HEALTHY)


def judge(obs: Observation, limits: Thresholds) -> Verdict:
    """The status of a checked plugin: the worst status any rule gives it."""
    dead = _dead(obs)
    if dead is not None:
        return Verdict(HealthStatus.DEAD, (dead,))
    breaches = [*_responsiveness(obs, limits), *_activity(obs, limits),
                *_performance(obs.latency, limits), *_answers(obs)]
    if obs.resources is not None and obs.resources.attributable:
        breaches += resource_breaches(obs.resources, limits)
    breaches.sort(key=lambda b: SEVERITY.index(b.status))
    return Verdict(worst(b.status for b in breaches), tuple(breaches))


def _dead(obs: Observation) -> Breach | None:
    if not obs.alive:
        why = f": {obs.exit_detail}" if obs.exit_detail else ""
        return Breach("dead", HealthStatus.DEAD, f"not running{why}")
    if obs.resources is not None and not obs.resources.running:
        why = obs.resources.detail or "no such process"
        return Breach("dead", HealthStatus.DEAD, f"process {obs.resources.pid} not running: {why}")
    return None


def _responsiveness(obs: Observation, limits: Thresholds) -> list[Breach]:
    if obs.misses <= 0:
        return []
    last = obs.ping.message if obs.ping is not None and obs.ping.message else "no answer"
    if obs.misses >= limits.hung_after:
        return [Breach("hung", HealthStatus.HUNG, f"{obs.misses} health pings in a row "
                       f"missed their deadline ({last})", obs.misses, limits.hung_after)]
    return [Breach("ping_missed", HealthStatus.DEGRADED, f"health ping missed its deadline "
                   f"({last})", obs.misses, limits.hung_after)]


def figure(value: float) -> str:
    """A figure for a message with its significant digits: ``0.63``, ``12.5``, ``6000``;
    never rounded to a whole unit (``p95 latency 1 ms > 0 ms`` hid 0.63 > 0.1)."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _activity(obs: Observation, limits: Thresholds) -> list[Breach]:
    if obs.last_activity is None:
        return []
    idle = obs.now - obs.last_activity
    if idle <= limits.heartbeat_s:
        return []
    return [Breach("stale", HealthStatus.STALE, f"no activity for {figure(idle)} s "
                   f"(limit {figure(limits.heartbeat_s)} s)", idle, limits.heartbeat_s)]


def _performance(latency: LatencySnapshot | None, limits: Thresholds) -> list[Breach]:
    if latency is None:
        return []
    found = []
    p95 = latency.p95_ms
    if p95 is not None and p95 > limits.p95_latency_ms:
        found.append(Breach("latency", HealthStatus.DEGRADED, f"p95 latency {figure(p95)} ms > "
                            f"{figure(limits.p95_latency_ms)} ms", p95, limits.p95_latency_ms))
    rate = latency.error_rate
    if latency.calls >= limits.min_calls and rate > limits.error_rate:
        found.append(Breach("error_rate", HealthStatus.DEGRADED, f"error rate {figure(rate * 100)}% > "
                            f"{figure(limits.error_rate * 100)}% ({latency.errors} of {latency.calls} "
                            "calls)", rate, limits.error_rate))
    return found


def _answers(obs: Observation) -> list[Breach]:
    found = []
    ping = obs.ping
    if ping is not None and ping.outcome in ("failed", "error"):
        kind = "ping_failed" if ping.outcome == "failed" else "ping_error"
        text = "health ping answered not ok" if kind == "ping_failed" else "health ping error"
        suffix = f": {ping.message}" if ping.message else ""
        found.append(Breach(kind, HealthStatus.DEGRADED, text + suffix))
    if obs.self_test_passed is False:
        found.append(Breach("self_test", HealthStatus.DEGRADED, "self test failed"))
    if obs.metrics_problem is not None:
        found.append(Breach("metrics", HealthStatus.DEGRADED, obs.metrics_problem))
    return found


def resource_breaches(sample: ResourceSample, limits: Thresholds) -> list[Breach]:
    """Memory and CPU breaches of a sample. A ``host`` sample is judged too,
    but the caller must not pin it on one in-process plugin (``judge`` only
    applies attributable samples)."""
    found = []
    if sample.rss_bytes is not None and sample.rss_bytes > limits.memory_mb * MB:
        rss = sample.rss_bytes / MB
        found.append(Breach("memory", HealthStatus.DEGRADED, f"RSS {figure(rss)} MB > "
                            f"{figure(limits.memory_mb)} MB ({sample.scope})", rss, limits.memory_mb))
    cpu = sample.cpu_percent
    if cpu is not None and cpu > limits.cpu_percent:
        found.append(Breach("cpu", HealthStatus.DEGRADED, f"CPU {figure(cpu)} % > "
                            f"{figure(limits.cpu_percent)} % ({sample.scope})", cpu,
                            limits.cpu_percent))
    return found
