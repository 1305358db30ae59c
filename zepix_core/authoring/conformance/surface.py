"""Checks of the health surface the host calls every round: ping, metrics, self test."""

from __future__ import annotations

import time
from collections.abc import Mapping

from zepix_core.authoring.conformance.subject import Finding, Subject, call_problem, show
from zepix_core.execution.runner import CallResult
from zepix_core.health.rules import Thresholds
from zepix_core.health.shapes import RECOGNISED_METRICS, parse_metrics, parse_ping, parse_self_test


def check_health_ping(subject: Subject) -> list[Finding]:
    handle = subject.activated()
    now = time.time()
    result = handle.call("health_ping", now=now)
    problem = call_problem(result, "an answer", "answer from memory: never wait on the "
                           "network, the disk or a lock that long work holds")
    if problem is not None:
        return [problem]
    reply = parse_ping(result.value)
    if reply.problems:
        return [Finding("health_ping", "True/False, or a mapping with 'ok' (bool) and optional "
                        "'last_activity' (epoch seconds) and 'detail' (str)", show(result.value),
                        "return a bool, or a dict such as {'ok': True, 'last_activity': "
                        "time.time()}")]
    if not reply.ok:
        return [Finding("health_ping", "ok from a freshly activated plugin", show(result.value),
                        "answer ok while the plugin can do its work; put what is wrong in "
                        "'detail' only when it cannot")]
    return _activity_problems(reply.last_activity, now)


def _activity_problems(last: float | None, now: float) -> list[Finding]:
    limit = Thresholds().heartbeat_s
    if last is None or now - limit <= last <= now + 60:
        return []
    when = f"{now - last:.0f} s before now" if last < now else f"{last - now:.0f} s in the future"
    return [Finding("health_ping", f"last_activity within the heartbeat limit ({limit:g} s) of "
                    "now from a freshly activated plugin", f"{last} ({when})",
                    "report epoch seconds from time.time() (not time.monotonic()) of the last "
                    "real work, or the activation time before any work")]


def check_get_metrics(subject: Subject) -> list[Finding]:
    handle = subject.activated()
    result = handle.call("get_metrics")
    problem = call_problem(result, "a mapping of name -> number", "return counters kept in "
                           "memory; never compute them from the network or the disk")
    if problem is not None:
        return [problem]
    value = result.value
    if not isinstance(value, Mapping):
        return [Finding("get_metrics", "a mapping of name -> number", show(value),
                        "return a dict such as {'signals_processed': 3}")]
    kept = parse_metrics(value).values
    bad = [f"{k!r}: {show(v)}" for k, v in value.items() if k not in kept]
    if bad:
        return [Finding("get_metrics", "a mapping of name (str) -> number (int or float)",
                        ", ".join(bad), "return finite int or float values under str names; "
                        "convert or drop the others (bool, None and str are not numbers)")]
    negative = [f"{k} = {v}" for k, v in kept.items() if k in RECOGNISED_METRICS and v < 0]
    if negative:
        return [Finding("get_metrics", "counts >= 0 under the recognised names "
                        f"({', '.join(RECOGNISED_METRICS)})", ", ".join(negative),
                        "report cumulative counts since activation under these names; use "
                        "another name for values that can go negative")]
    return []


_SELF_TEST_SHAPE = ("True/False, or a mapping with 'passed' (bool) and optional 'checks', a "
                    "list of {'name', 'passed', 'detail'}")


def check_self_test(subject: Subject) -> list[Finding]:
    handle = subject.load()  # as 'zepix self-test' runs it: loaded, not activated
    result = handle.call("self_test")
    problem = call_problem(result, "a verdict", "test a small fixed input, so it stays fast")
    if problem is not None:
        return [problem]
    reply = parse_self_test(result.value)
    if reply.problems:
        return [Finding("self_test", _SELF_TEST_SHAPE, show(result.value),
                        "return {'passed': True, 'checks': [{'name': 'signals', 'passed': "
                        "True, 'detail': '...'}]}")]
    if not reply.passed:
        failing = [f"{c['name']}: {c.get('detail', '')}" for c in reply.checks if not c["passed"]]
        got = "passed False" + (f" (failing: {'; '.join(failing)})" if failing else "")
        return [Finding("self_test", "a passing self test", got, "fix what the failing checks "
                        "report; the host marks a plugin whose self test fails DEGRADED")]
    return []


Verdict = tuple[bool, tuple[tuple[str, bool], ...], tuple[str, ...]]


def _verdict(result: CallResult) -> Verdict:
    if not result.ok:
        return False, (), (result.error or "no answer",)
    reply = parse_self_test(result.value)
    checks = tuple((str(c["name"]), bool(c["passed"])) for c in reply.checks)
    return reply.passed, checks, reply.problems


def _describe(verdict: Verdict) -> str:
    passed, checks, problems = verdict
    failing = [name for name, ok in checks if not ok]
    extra = f", failing {', '.join(failing)}" if failing else ""
    return f"passed {passed}{extra}" + (f" ({'; '.join(problems)})" if problems else "")


def check_self_test_idempotent(subject: Subject) -> list[Finding]:
    handle = subject.activated()
    before = handle.call("get_metrics").value
    first, second = _verdict(handle.call("self_test")), _verdict(handle.call("self_test"))
    after = handle.call("get_metrics").value
    found = []
    if first != second:
        found.append(Finding("self_test", "the same verdict from two calls in a row",
                             f"{_describe(first)}, then {_describe(second)}",
                             "keep no state between calls: build what the test needs inside "
                             "self_test (for example a fresh instance of the strategy)"))
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changed = [f"{k} {before.get(k)} -> {after.get(k)}" for k in RECOGNISED_METRICS
                   if before.get(k) != after.get(k)]
        if changed:
            found.append(Finding("self_test", "no change to the active plugin's counters",
                                 ", ".join(changed), "run the test on a fresh instance, never "
                                 "on the active plugin"))
    return found
