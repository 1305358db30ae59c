"""``on_fill`` on the caller's thread in ``dispatch = "inline"`` (issue 26).

Defect covered (cost): a backtest runs its bars on the caller's thread, but each
fill still went through the plugin's runner thread (two wake-ups and a GIL
handoff per fill: 3-5 s of a 20,000-bar run under load). These tests pin that
the inline call answers as the runner did and that a hung ``on_fill`` is still
bounded.
"""

from __future__ import annotations

import threading
import time

import pluggy

from zepix_core import hookimpl
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.contract.model import Fill
from zepix_core.execution.dispatch import Dispatcher
from zepix_core.execution.runner import CallResult, InProcessRunner, call


class Filled:
    def __init__(self) -> None:
        self.fills: list[Fill] = []
        self.threads: list[int] = []

    @hookimpl
    def on_fill(self, fill: Fill) -> dict[str, object]:
        self.fills.append(fill)
        self.threads.append(threading.get_ident())
        if fill.quantity < 0:
            raise ValueError("a negative fill, on purpose")
        return {"seen": len(self.fills), "price": fill.price}


class Spins:
    """Loops in pure Python on a fill: the watchdog's exception reaches it."""

    def __init__(self) -> None:
        self.finished = False

    @hookimpl
    def on_fill(self, fill: Fill) -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pass
        self.finished = True


def _runner(plugin_id: str, plugin: object) -> InProcessRunner:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(plugin, name=plugin_id)
    return InProcessRunner(plugin_id, pm)


def _fill(quantity: float) -> Fill:
    return Fill(intent_id="1", quantity=quantity, price=101.5, time=60.0)


def test_an_inline_fill_answers_as_the_runner_did() -> None:
    plugin = Filled()
    runner = _runner("filled", plugin)
    dispatcher = Dispatcher(lambda r, p: None, deadline=5.0)
    dispatcher.mode = "inline"
    try:
        here = dispatcher.call_here(runner, "on_fill", {"fill": _fill(2.0)})
        there = call(runner, "on_fill", 5.0, {"fill": _fill(2.0)})
        assert (here.ok, here.value) == (True, {"seen": 1, "price": 101.5})
        assert (there.ok, there.value) == (True, {"seen": 2, "price": 101.5})
        assert plugin.threads[0] == threading.get_ident() != plugin.threads[1]
        bad_here = dispatcher.call_here(runner, "on_fill", {"fill": _fill(-1.0)})
        bad_there = call(runner, "on_fill", 5.0, {"fill": _fill(-1.0)})
        assert not bad_here.ok and not bad_here.timed_out
        assert bad_here.error == bad_there.error  # the plugin's file, line and function
        assert bad_here.error is not None and "a negative fill" in bad_here.error
    finally:
        dispatcher.close()
        runner.close(1.0)


def test_a_hung_inline_fill_is_interrupted_and_the_plugin_gets_no_more_work() -> None:
    spins = Spins()
    runner = _runner("spins", spins)
    stuck: list[str] = []
    dispatcher = Dispatcher(lambda r, p: None, deadline=0.3,
                            on_stuck=lambda pid, never, held: stuck.append(pid))
    dispatcher.mode = "inline"
    try:
        result: CallResult = dispatcher.call_here(runner, "on_fill", {"fill": _fill(1.0)})
        assert result.timed_out and not result.ok and not spins.finished
        assert stuck == ["spins"] and dispatcher.stuck(runner)
    finally:
        dispatcher.close()
        runner.close(1.0)
