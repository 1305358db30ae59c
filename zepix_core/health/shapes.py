"""What the host reads from a plugin's health hooks, and remembers between rounds.

The parsers check each health hook's answer against the contract and say
what is wrong with a wrong-shaped one. ``PluginHealth`` is the per-plugin
state between rounds (consecutive ping misses, last activity, errors per
hook, the latency window of the work the host gives the plugin); it records
each round's answers and asks the judge in ``_health`` for the verdict.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from zepix_core.contract.errors import PluginBusy, WrongShape
from zepix_core.contract.model import HealthStatus
from zepix_core.execution.runner import CallResult
from zepix_core.health.resources import ResourceSample
from zepix_core.health.rules import Breach, Observation, PingReading, Thresholds, Verdict, judge
from zepix_core.health.sketch import LatencySnapshot, WindowStats

#: Metric names the contract gives a meaning to; others are custom metrics.
RECOGNISED_METRICS = ("signals_processed", "orders_placed", "wins", "losses", "errors", "warnings")

ErrorKind = Literal["exception", "timeout", "wrong_shape"]
Severity = Literal["critical", "error"]

#: Hooks of the plugin's trading work: an error there cost a bar's intents or a fill the
#: plugin did not learn of, so it is ``critical``; an error of any other hook (the health
#: hooks, ``plugin_version``, ``config_changed``) costs only a reading: ``error``.
CRITICAL_HOOKS = frozenset({"on_bar", "on_fill"})


def severity(hook: str) -> Severity:
    """The severity of an error of ``hook`` (see ``CRITICAL_HOOKS``)."""
    return "critical" if hook in CRITICAL_HOOKS else "error"


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
class SelfTestResult:
    passed: bool
    checks: tuple[Mapping[str, object], ...] = ()
    problems: tuple[str, ...] = ()


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: 2000-01-01T00:00:00Z: an epoch time before this is no plugin's last activity.
EARLIEST = 946684800.0
#: Seconds a reported time may lie ahead of the host's clock (clock skew).
FUTURE_SLACK = 60.0


def implausible_time(when: float, now: float) -> str | None:
    """Why ``when`` (epoch seconds) cannot be a time a plugin saw, or None."""
    if when < EARLIEST:
        return f"{when:.0f} is before 2000 (epoch seconds expected)"
    if when > now + FUTURE_SLACK:
        return (f"{when:.0f} is {when - now:.0f}s in the future "
                "(epoch seconds expected, not milliseconds)")
    return None


def parse_ping(value: object, now: float | None = None) -> PingReply:
    """Check a ``health_ping`` answer: a bool, or a mapping with ``ok`` (bool)
    and optional ``last_activity`` (epoch seconds, not before 2000 nor more than
    a minute after ``now``) and ``detail`` (str). A wrong shape reads as not ok,
    with the problems listed."""
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
    late = None if activity is None or now is None else implausible_time(activity, now)
    if late is not None:
        problems.append(f"health_ping 'last_activity' {late}")
        activity = None
    if detail is not None and not isinstance(detail, str):
        problems.append(f"health_ping 'detail' must be a str, got {type(detail).__name__}")
        detail = None
    return PingReply(ok is True, activity, detail, tuple(problems))


def parse_metrics(value: object) -> MetricsReply:
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


def parse_self_test(value: object) -> SelfTestResult:
    """Check a ``self_test`` answer; a wrong shape counts as a failed test."""
    if isinstance(value, bool):
        return SelfTestResult(passed=value)
    if not isinstance(value, Mapping) or not isinstance(value.get("passed"), bool):
        why = f"self_test returned {value!r:.60}, expected a bool or a mapping with 'passed'"
        return SelfTestResult(False, problems=(why,))
    checks = value.get("checks", [])
    if not isinstance(checks, list) or not all(
            isinstance(c, Mapping) and isinstance(c.get("name"), str)
            and isinstance(c.get("passed"), bool) for c in checks):
        why = "self_test 'checks' must be a list of {name: str, passed: bool, detail}"
        return SelfTestResult(False, problems=(why,))
    passed = value["passed"] and all(c["passed"] for c in checks)
    return SelfTestResult(passed, tuple(checks))




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

    @property
    def severity(self) -> Severity:
        return severity(self.hook)


_ERROR_FIELDS: Mapping[ErrorKind, str] = {
    "exception": "exceptions", "timeout": "timeouts", "wrong_shape": "wrong_shape",
}


def _missed(result: CallResult) -> bool:
    """No answer within the deadline: the call timed out, or could not start
    because the plugin's previous call is still running."""
    return result.timed_out or (result.error or "").startswith(PluginBusy.__name__)


def _wrong_shape(result: CallResult) -> bool:
    """The reply did not pass the boundary (``execution.boundary``)."""
    return (result.error or "").startswith(f"{WrongShape.__name__}:")


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
        self.latency: LatencySnapshot | None = None  # as of the last assessment
        self._wall = wall
        self._errors: dict[str, HookErrors] = {}
        self._errors_lock = threading.Lock()
        self._ping: PingReading | None = None
        self._metrics_problem: str | None = None

    @property
    def errors(self) -> Mapping[str, HookErrors]:
        with self._errors_lock:
            return dict(self._errors)

    @property
    def critical_errors(self) -> int:
        """Errors of critical severity since activation (``CRITICAL_HOOKS``)."""
        return sum(e.count for e in self.errors.values() if e.severity == "critical")

    def error_records(self) -> dict[str, dict[str, object]]:
        """``hook_errors`` of a snapshot: per hook its counts, severity and last error."""
        return {h: {"count": e.count, "exceptions": e.exceptions, "timeouts": e.timeouts,
                    "wrong_shape": e.wrong_shape, "severity": e.severity,
                    "last_message": e.last_message, "last_error_at": e.last_time}
                for h, e in self.errors.items()}

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
        kind: ErrorKind = ("timeout" if _missed(result) else
                           "wrong_shape" if _wrong_shape(result) else "exception")
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

    def record_answers(self, durations: Sequence[float]) -> None:
        """Several ``on_bar`` calls that answered in shape (one feed): their latencies."""
        self.work.record_many(durations)

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
        reply = parse_ping(result.value, self._wall())
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

    def record_self_test(self, result: CallResult) -> SelfTestResult:
        if not self.record_call(result):
            reply = SelfTestResult(False, problems=(result.error or "no answer",))
        else:
            reply = parse_self_test(result.value)
            if reply.problems:
                self.record_error(result.hook, "wrong_shape", "; ".join(reply.problems))
        self.self_test_passed = reply.passed
        return reply

    def assess(self, *, alive: bool, now: float, limits: Thresholds,
               resources: ResourceSample | None = None,
               exit_detail: str | None = None) -> Verdict:
        """Judge this round from what was recorded since the last one."""
        self.latency = self.work.snapshot()
        verdict = judge(Observation(
            alive=alive, now=now, ping=self._ping, misses=self.misses,
            last_activity=self.last_activity, latency=self.latency,
            resources=resources, self_test_passed=self.self_test_passed,
            metrics_problem=self._metrics_problem, exit_detail=exit_detail), limits)
        self.status, self.reasons = verdict.status, verdict.reasons
        self._ping = self._metrics_problem = None
        return verdict
