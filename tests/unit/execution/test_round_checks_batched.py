"""An in-process plugin's round checks are handed over together (issue 26).

Defect covered (cost): a monitoring round sent a plugin's checks one at a time,
two thread wake-ups per check; now an in-process plugin's thread gets all of
them at once. These tests pin that nothing else changed: the same results in
the same order, a hung check still ends that plugin's checks at its deadline
with the rest never run, and each check's deadline counts from when the one
before it answered (not from when all were handed over).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pluggy
import pytest

from zepix_core import hookimpl
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.execution.calls import HookCall, run_calls
from zepix_core.execution.runner import InProcessRunner


class Plugin:
    """health_ping waits for ``release`` (at most ``hold`` seconds); calls are logged
    with how many calls the runner had queued when each began."""

    def __init__(self, hold: float = 0.0, metrics_take: float = 0.0) -> None:
        self.release = threading.Event()
        self.hold, self.metrics_take = hold, metrics_take
        self.calls: list[str] = []
        self.runner: InProcessRunner | None = None

    @hookimpl
    def health_ping(self, now: float) -> dict[str, object]:
        self.calls.append("ping")
        if self.hold:
            self.release.wait(self.hold)
        return {"status": "ok", "now": now}

    @hookimpl
    def get_metrics(self) -> dict[str, int]:
        self.calls.append("metrics")
        if self.metrics_take:
            threading.Event().wait(self.metrics_take)
        return {"signals_processed": 7}

    @hookimpl
    def self_test(self) -> dict[str, object]:
        self.calls.append("self_test")
        raise ValueError("self test failed on purpose")


def _runner(plugin: Plugin, name: str) -> InProcessRunner:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(plugin, name=name)
    return InProcessRunner(name, pm)


@pytest.fixture
def made() -> Iterator[list[tuple[Plugin, InProcessRunner]]]:
    made: list[tuple[Plugin, InProcessRunner]] = []
    yield made
    for plugin, runner in made:
        plugin.release.set()
        runner.close(1.0)


def _make(made: list[tuple[Plugin, InProcessRunner]], name: str, hold: float = 0.0,
          metrics_take: float = 0.0) -> tuple[Plugin, InProcessRunner]:
    plugin = Plugin(hold, metrics_take)
    pair = (plugin, _runner(plugin, name))
    made.append(pair)
    return pair


CHECKS = [HookCall("health_ping", 30.0, {"now": 5.0}), HookCall("get_metrics", 30.0),
          HookCall("self_test", 30.0)]


def test_the_same_results_in_the_same_order(
        made: list[tuple[Plugin, InProcessRunner]]) -> None:
    pairs = [_make(made, f"p{i}") for i in range(3)]
    outcomes = run_calls([(runner, CHECKS) for _, runner in pairs], time.monotonic)
    for (plugin, _), outcome in zip(pairs, outcomes, strict=True):
        assert plugin.calls == ["ping", "metrics", "self_test"]
        assert [r.hook for r in outcome.results] == ["health_ping", "get_metrics", "self_test"]
        assert outcome.results[0].value == {"status": "ok", "now": 5.0}
        assert outcome.results[1].value == {"signals_processed": 7}
        assert outcome.results[2].error is not None
        assert "self test failed on purpose" in outcome.results[2].error
        assert outcome.skipped == [] and outcome.stuck is None


def test_a_hung_check_ends_that_plugins_checks_and_the_rest_never_run(
        made: list[tuple[Plugin, InProcessRunner]]) -> None:
    hung, hung_runner = _make(made, "hung", hold=60.0)
    _, calm_runner = _make(made, "calm")
    # 2 s: time for a busy machine to start the ping (it then hangs far past it); the
    # calm plugin keeps the roomy deadlines, so only the hung one can time out.
    checks = [HookCall("health_ping", 2.0, {"now": 1.0}), *CHECKS[1:]]
    late, fine = run_calls([(hung_runner, checks), (calm_runner, CHECKS)], time.monotonic)
    assert late.results[0].timed_out and late.skipped == ["get_metrics", "self_test"]
    assert late.stuck is not None and not late.stuck.done()
    assert [r.hook for r in fine.results] == ["health_ping", "get_metrics", "self_test"]
    hung.release.set()
    late.stuck.result(timeout=30)
    # The checks queued behind the hung ping were cancelled: they never ran.
    assert hung_runner.submit("get_metrics", {}).result(timeout=30) == {"signals_processed": 7}
    assert hung.calls == ["ping", "metrics"]


def test_each_deadline_counts_from_the_answer_before_it(
        made: list[tuple[Plugin, InProcessRunner]]) -> None:
    # The ping answers after ~3 s (well within its 60 s); metrics then takes ~1 s of
    # its 2.5 s, which would have run out before it began, counted from the handover.
    slow, runner = _make(made, "slow", hold=3.0, metrics_take=1.0)
    checks = [HookCall("health_ping", 60.0, {"now": 1.0}), HookCall("get_metrics", 2.5)]
    [outcome] = run_calls([(runner, checks)], time.monotonic)
    assert [r.ok for r in outcome.results] == [True, True], outcome.results
    assert slow.calls == ["ping", "metrics"]
