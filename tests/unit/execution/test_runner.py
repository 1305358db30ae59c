"""The in-process runner: calls in order, a bounded queue behind a hung call,
cancellation of calls nobody waits for, and missed deadlines recorded as such."""

from __future__ import annotations

import threading
from pathlib import Path

import pluggy
import pytest

from tests.waiting import wait_until
from zepix_core import hookimpl
from zepix_core.contract.errors import PluginBusy, PluginDead
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.execution.calls import call_many
from zepix_core.execution.runner import InProcessRunner, call

#: How long a ping blocks at most: far beyond any deadline here, so a "hung" call is
#: hung however slow a busy machine is (the test releases it long before).
HOLD = 120.0
#: A deadline meant to run out (behind a hung call): its length changes nothing.
SHORT = 0.05
#: A deadline for a call that must start in time: a busy 2-core machine may take a
#: while to wake the runner's thread, and the call waits for nothing else.
ROOMY = 2.0


class Gate:
    """health_ping blocks until ``release`` is set; every call is logged."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []

    @hookimpl
    def health_ping(self, now: float) -> bool:
        self.calls.append(f"ping {now}")
        self.release.wait(HOLD)
        return True

    @hookimpl
    def get_metrics(self) -> dict[str, int]:
        self.calls.append("metrics")
        return {"signals_processed": len(self.calls)}

    @hookimpl
    def self_test(self) -> bool:
        raise SystemExit("a plugin may raise anything")


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def runner(gate: Gate):  # type: ignore[no-untyped-def]
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(gate, name="gate")
    runner = InProcessRunner("gate", pm, max_pending=3)
    yield runner
    gate.release.set()
    runner.close(1.0)


def test_calls_run_in_order_and_return_values(runner: InProcessRunner, gate: Gate) -> None:
    gate.release.set()
    results = call_many([(runner, "health_ping", {"now": 1.0}, 1.0),
                         (runner, "get_metrics", {}, 1.0)])
    assert [r.value for r in results] == [True, {"signals_processed": 2}]
    assert gate.calls == ["ping 1.0", "metrics"]


def test_a_missed_deadline_is_recorded_and_the_queued_call_never_runs(
        runner: InProcessRunner, gate: Gate) -> None:
    assert call(runner, "get_metrics", 30.0).ok  # the runner's thread is up and idle
    # The ping starts well within its deadline and hangs far past it.
    missed = call(runner, "health_ping", ROOMY, {"now": 1.0})
    assert missed.timed_out and not missed.ok
    assert missed.error == f"HookTimeout: no answer within {ROOMY:.2f}s"
    behind = call(runner, "get_metrics", SHORT)  # waits behind the hung ping, then gives up
    assert behind.timed_out
    gate.release.set()
    assert call(runner, "get_metrics", 30.0).ok
    # the cancelled metrics call never started
    assert gate.calls == ["metrics", "ping 1.0", "metrics"]


def test_a_full_queue_refuses_at_once(runner: InProcessRunner) -> None:
    hung = runner.submit("health_ping", {"now": 1.0})
    wait_until(runner.busy, timeout=30, waiting_for="the ping to run, not just be queued")
    waiting = [runner.submit("get_metrics", {}) for _ in range(2)]
    refused = runner.submit("get_metrics", {})
    with pytest.raises(PluginBusy, match="health_ping still running after"):
        refused.result(0)
    assert not hung.done() and not any(f.done() for f in waiting)


def test_any_exception_is_carried_back(runner: InProcessRunner) -> None:
    result = call(runner, "self_test", 1.0)
    # the plugin's file, line and function come with the message
    assert result.error == (f"SystemExit: a plugin may raise anything (at {__file__}:"
                            f"{_line('raise SystemExit')} in self_test)")


def _line(text: str) -> int:
    return next(i for i, line in enumerate(Path(__file__).read_text().splitlines(), 1)
                if text in line)


def test_a_closed_runner_refuses_calls(runner: InProcessRunner, gate: Gate) -> None:
    gate.release.set()
    runner.close(1.0)
    assert not runner.alive()
    with pytest.raises(PluginDead, match="plugin gate is stopped"):
        runner.submit("get_metrics", {}).result(0)


def test_a_batch_reports_each_call_its_own_duration_not_the_wait_behind_another(
        runner: InProcessRunner, gate: Gate) -> None:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    quick = Gate()
    pm.register(quick, name="quick")
    other = InProcessRunner("quick", pm)
    try:
        threading.Timer(ROOMY, gate.release.set).start()
        slow, fast = call_many([(runner, "health_ping", {"now": 1.0}, 60.0),
                                (other, "get_metrics", {}, 60.0)])
        assert slow.ok and fast.ok
        # The quick answer was collected after the slow one, but took far less (the
        # margin is a whole second of a busy machine's scheduling).
        assert slow.duration >= ROOMY - 0.1 and fast.duration < slow.duration / 2
    finally:
        other.close(1.0)
