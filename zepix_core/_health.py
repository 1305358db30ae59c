"""Health status rules: a pure judge over what one monitoring round saw.

``judge`` turns an ``Observation`` of one plugin into a ``Verdict``: the
status and every breach that led to it. ``PluginHealth`` is the per-plugin
state between rounds (consecutive ping misses, last activity, errors per
hook, the latency window) and feeds the judge. docs/health.md has the rules
as a table; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import ConfigError, PluginBusy
from ._model import AlertLevel, HealthStatus
from ._resources import ResourceSample
from ._runner import CallResult
from ._sketch import LatencySnapshot, WindowStats

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

#: Metric names the contract gives a meaning to; others are custom metrics.
RECOGNISED_METRICS = ("signals_processed", "orders_placed", "wins", "losses", "errors", "warnings")

ErrorKind = Literal["exception", "timeout", "wrong_shape"]
PingOutcome = Literal["ok", "failed", "error", "missed"]


@dataclass(frozen=True)
class Thresholds:
    """Limits past which a plugin is DEGRADED (or STALE, or HUNG).

    ``hung_after`` is 2: one missed ping can be a GC pause or a busy machine,
    so it only makes the plugin DEGRADED; a second miss in a row means no
    answer for a whole interval (30 s by default) on top of the deadline,
    which is a real freeze. ``min_calls`` keeps the error rate from judging a
    handful of calls, where one error is already a large share.
    """

    p95_latency_ms: float = 5000.0
    error_rate: float = 0.05
    min_calls: int = 20
    memory_mb: float = 500.0
    cpu_percent: float = 80.0
    heartbeat_s: float = 300.0
    hung_after: int = 2

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))

    def merged(self, overrides: Mapping[str, Any], plugin_id: str | None = None) -> Thresholds:
        """These thresholds with ``overrides`` (a config table) applied; raises
        ``ConfigError`` naming the key for an unknown key or a bad value."""
        changes: dict[str, Any] = {k: _checked(k, v, plugin_id) for k, v in overrides.items()}
        return dataclasses.replace(self, **changes)


def _checked(key: str, value: Any, plugin_id: str | None) -> float:
    def fail(why: str) -> ConfigError:
        where = f"plugin {plugin_id}: " if plugin_id else ""
        return ConfigError(f"{where}threshold {key!r} {why}", plugin_id=plugin_id)

    if key not in Thresholds.names():
        known = ", ".join(sorted(Thresholds.names()))
        raise fail(f"is unknown; known thresholds: {known}")
    integral = key in ("min_calls", "hung_after")
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (integral and not isinstance(value, int))):
        raise fail(f"must be {'an integer' if integral else 'a number'}, got {value!r}")
    if not math.isfinite(value) or value <= 0 or (key == "error_rate" and value > 1):
        raise fail(f"must be {'in (0, 1]' if key == 'error_rate' else 'positive'}, got {value!r}")
    return value


# -- the shapes of health hook answers -------------------------------------

@dataclass(frozen=True)
class PingReply:
    ok: bool
    last_activity: float | None = None
    detail: str | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricsReply:
    values: Mapping[str, int | float]
    problems: tuple[str, ...] = ()

    @property
    def win_rate(self) -> float | None:
        """wins / (wins + losses), or None before the first closed trade."""
        wins, losses = self.values.get("wins", 0), self.values.get("losses", 0)
        return wins / (wins + losses) if wins + losses > 0 else None

    @property
    def custom(self) -> Mapping[str, int | float]:
        return {k: v for k, v in self.values.items() if k not in RECOGNISED_METRICS}


@dataclass(frozen=True)
class SelfTestReply:
    passed: bool
    checks: tuple[Mapping[str, Any], ...] = ()
    problems: tuple[str, ...] = ()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_ping(value: Any) -> PingReply:
    """Check a ``health_ping`` answer: a bool, or a mapping with ``ok`` (bool)
    and optional ``last_activity`` (number) and ``detail`` (str). A wrong
    shape reads as not ok, with the problems listed."""
    if isinstance(value, bool):
        return PingReply(ok=value)
    if not isinstance(value, Mapping):
        why = f"health_ping returned {type(value).__name__}, expected a bool or a mapping"
        return PingReply(False, problems=(why,))
    problems = []
    ok, activity, detail = value.get("ok"), value.get("last_activity"), value.get("detail")
    if not isinstance(ok, bool):
        problems.append(f"health_ping 'ok' must be a bool, got {ok!r:.40}")
    if activity is not None and not _is_number(activity):
        problems.append(f"health_ping 'last_activity' must be epoch seconds, got {activity!r:.40}")
        activity = None
    if detail is not None and not isinstance(detail, str):
        problems.append(f"health_ping 'detail' must be a str, got {type(detail).__name__}")
        detail = None
    return PingReply(ok is True, activity, detail, tuple(problems))


def parse_metrics(value: Any) -> MetricsReply:
    """Check a ``get_metrics`` answer: keep the numeric entries, list the rest."""
    if not isinstance(value, Mapping):
        why = f"get_metrics returned {type(value).__name__}, expected a mapping of name -> number"
        return MetricsReply({}, (why,))
    kept: dict[str, int | float] = {}
    problems = []
    for name, number in value.items():
        if not isinstance(name, str):
            problems.append(f"get_metrics key {name!r:.40} is not a str")
        elif not _is_number(number):
            problems.append(f"get_metrics {name!r} is not a finite number: {number!r:.40}")
        else:
            kept[name] = number
    return MetricsReply(kept, tuple(problems))


def parse_self_test(value: Any) -> SelfTestReply:
    """Check a ``self_test`` answer; a wrong shape counts as a failed test."""
    if isinstance(value, bool):
        return SelfTestReply(passed=value)
    if not isinstance(value, Mapping) or not isinstance(value.get("passed"), bool):
        why = f"self_test returned {value!r:.60}, expected a bool or a mapping with 'passed'"
        return SelfTestReply(False, problems=(why,))
    checks = value.get("checks", [])
    if not isinstance(checks, list) or not all(
            isinstance(c, Mapping) and isinstance(c.get("name"), str)
            and isinstance(c.get("passed"), bool) for c in checks):
        why = "self_test 'checks' must be a list of {name: str, passed: bool, detail}"
        return SelfTestReply(False, problems=(why,))
    passed = value["passed"] and all(c["passed"] for c in checks)
    return SelfTestReply(passed, tuple(checks))


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


@dataclass(frozen=True)
class Breach:
    """One rule that applied: the condition ``kind``, the status it implies,
    a message for people, and the measured value against its limit."""

    kind: str
    status: HealthStatus
    message: str
    value: float | None = None
    limit: float | None = None

    @property
    def level(self) -> AlertLevel:
        return ALERT_LEVELS[self.status]


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
        return Breach("dead", HealthStatus.DEAD, "not running")
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


def _activity(obs: Observation, limits: Thresholds) -> list[Breach]:
    if obs.last_activity is None:
        return []
    idle = obs.now - obs.last_activity
    if idle <= limits.heartbeat_s:
        return []
    return [Breach("stale", HealthStatus.STALE, f"no activity for {idle:.0f} s "
                   f"(limit {limits.heartbeat_s:.0f} s)", idle, limits.heartbeat_s)]


def _performance(latency: LatencySnapshot | None, limits: Thresholds) -> list[Breach]:
    if latency is None:
        return []
    found = []
    p95 = latency.p95_ms
    if p95 is not None and p95 > limits.p95_latency_ms:
        found.append(Breach("latency", HealthStatus.DEGRADED, f"p95 latency {p95:.0f} ms > "
                            f"{limits.p95_latency_ms:.0f} ms", p95, limits.p95_latency_ms))
    rate = latency.error_rate
    if latency.calls >= limits.min_calls and rate > limits.error_rate:
        found.append(Breach("error_rate", HealthStatus.DEGRADED, f"error rate {rate:.1%} > "
                            f"{limits.error_rate:.1%} ({latency.errors} of {latency.calls} "
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
        found.append(Breach("memory", HealthStatus.DEGRADED, f"RSS {rss:.0f} MB > "
                            f"{limits.memory_mb:.0f} MB ({sample.scope})", rss, limits.memory_mb))
    cpu = sample.cpu_percent
    if cpu is not None and cpu > limits.cpu_percent:
        found.append(Breach("cpu", HealthStatus.DEGRADED, f"CPU {cpu:.0f} % > "
                            f"{limits.cpu_percent:.0f} % ({sample.scope})", cpu,
                            limits.cpu_percent))
    return found


# -- per-plugin state between rounds -------------------------------------

@dataclass(frozen=True)
class HookErrors:
    """Errors the host saw from one hook: counts by kind and the last one
    (``last_time`` in wall-clock epoch seconds)."""

    hook: str
    exceptions: int = 0
    timeouts: int = 0
    wrong_shape: int = 0
    last_message: str = ""
    last_time: float | None = None

    @property
    def count(self) -> int:
        return self.exceptions + self.timeouts + self.wrong_shape


_ERROR_FIELDS: Mapping[ErrorKind, str] = {
    "exception": "exceptions", "timeout": "timeouts", "wrong_shape": "wrong_shape",
}


def _missed(result: CallResult) -> bool:
    """No answer within the deadline: the call timed out, or could not start
    because the plugin's previous call is still running."""
    return result.timed_out or (result.error or "").startswith(PluginBusy.__name__)


class PluginHealth:
    """What the host remembers about one plugin's health between rounds.

    Record each round's calls with ``record_ping``, ``record_metrics``,
    ``record_self_test`` and ``record_work``, then ``assess`` the round.
    ``status`` is UNKNOWN until the first assessment. ``record_work`` may
    run on the threads that dispatch work while the round records the rest.
    """

    def __init__(self, plugin_id: str, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, window: float = 3600.0) -> None:
        self.plugin_id = plugin_id
        self.work = WindowStats(window=window, clock=clock)
        self.status = HealthStatus.UNKNOWN
        self.reasons: tuple[Breach, ...] = ()
        self.misses = 0
        self.last_activity: float | None = None
        self.self_test_passed: bool | None = None
        self.metrics: MetricsReply | None = None
        self._wall = wall
        self._errors: dict[str, HookErrors] = {}
        self._errors_lock = threading.Lock()
        self._ping: PingReading | None = None
        self._metrics_problem: str | None = None

    @property
    def errors(self) -> Mapping[str, HookErrors]:
        with self._errors_lock:
            return dict(self._errors)

    def record_error(self, hook: str, kind: ErrorKind, message: str) -> None:
        name, now = _ERROR_FIELDS[kind], self._wall()
        with self._errors_lock:
            old = self._errors.get(hook, HookErrors(hook))
            self._errors[hook] = dataclasses.replace(
                old, **{name: getattr(old, name) + 1}, last_message=message, last_time=now)

    def record_call(self, result: CallResult) -> bool:
        """Record the error of a call that gave no value; True when it answered."""
        if result.ok:
            return True
        kind: ErrorKind = "timeout" if _missed(result) else "exception"
        self.record_error(result.hook, kind, result.error or "no answer")
        return False

    def record_work(self, result: CallResult, problem: str | None = None) -> None:
        """One call of the work the host gives the plugin (``on_bar``): its
        latency and outcome go into the window; ``problem`` names a
        wrong-shaped return."""
        answered = self.record_call(result)
        if answered and problem is not None:
            self.record_error(result.hook, "wrong_shape", problem)
        self.work.record(result.duration, error=not answered or problem is not None)

    def note_activity(self, when: float) -> None:
        """The plugin did real work at ``when`` (epoch seconds)."""
        if self.last_activity is None or when > self.last_activity:
            self.last_activity = when

    def record_ping(self, result: CallResult) -> PingReading:
        """A missed deadline extends the run of misses; any answer ends it."""
        if _missed(result):
            self.misses += 1
            self.record_call(result)
            self._ping = PingReading("missed", result.error or "no answer")
            return self._ping
        self.misses = 0
        if not self.record_call(result):
            self._ping = PingReading("error", result.error or "")
            return self._ping
        reply = parse_ping(result.value)
        if reply.last_activity is not None:
            self.note_activity(reply.last_activity)
        if reply.problems:
            self.record_error(result.hook, "wrong_shape", "; ".join(reply.problems))
            self._ping = PingReading("error", "; ".join(reply.problems))
        else:
            self._ping = PingReading("ok" if reply.ok else "failed", reply.detail or "")
        return self._ping

    def record_metrics(self, result: CallResult) -> MetricsReply | None:
        """The validated metrics, or None when the call gave no value."""
        if not self.record_call(result):
            self._metrics_problem = f"get_metrics: {result.error}"
            return None
        self.metrics = parse_metrics(result.value)
        if self.metrics.problems:
            self._metrics_problem = "; ".join(self.metrics.problems)
            self.record_error(result.hook, "wrong_shape", self._metrics_problem)
        return self.metrics

    def record_self_test(self, result: CallResult) -> SelfTestReply:
        if not self.record_call(result):
            reply = SelfTestReply(False, problems=(result.error or "no answer",))
        else:
            reply = parse_self_test(result.value)
            if reply.problems:
                self.record_error(result.hook, "wrong_shape", "; ".join(reply.problems))
        self.self_test_passed = reply.passed
        return reply

    def assess(self, *, alive: bool, now: float, limits: Thresholds,
               resources: ResourceSample | None = None) -> Verdict:
        """Judge this round from what was recorded since the last one."""
        verdict = judge(Observation(
            alive=alive, now=now, ping=self._ping, misses=self.misses,
            last_activity=self.last_activity, latency=self.work.snapshot(),
            resources=resources, self_test_passed=self.self_test_passed,
            metrics_problem=self._metrics_problem), limits)
        self.status, self.reasons = verdict.status, verdict.reasons
        self._ping = self._metrics_problem = None
        return verdict
