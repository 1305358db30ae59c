"""A round's calls, their futures and answers are let go when the round is over
(issue 26, item 4): the threads that ran them keep nothing of them while they wait
for the next round's. Kept, at 1,000 plugins ~28 objects a plugin went to the
garbage collector's oldest generation every round (a full collection every other
round, ~30 % of a round's CPU).
"""

from __future__ import annotations

import threading
import weakref

import pluggy

from tests.waiting import wait_until
from zepix_core import hookimpl
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.execution.runner import InProcessRunner
from zepix_core.host.turns import Turns


class Answer:
    """A value a weak reference can follow."""


class Plugin:
    @hookimpl
    def health_ping(self, now: float) -> dict[str, object]:
        return {"ok": True, "last_activity": now}


def test_the_checks_thread_keeps_nothing_of_the_last_round() -> None:
    turns = Turns(threading.RLock())
    try:
        with turns.busy:
            answer = turns.outside([], Answer)
            assert isinstance(answer, Answer)
        gone = weakref.ref(answer)
        del answer
        wait_until(lambda: gone() is None, timeout=10,
                   waiting_for="the checks thread to let the round's answer go")
        with turns.busy:  # and it still serves the next round
            assert isinstance(turns.outside([], Answer), Answer)
    finally:
        turns.close()


def test_a_plugins_thread_keeps_nothing_of_its_last_call() -> None:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(Plugin(), name="p")
    runner = InProcessRunner("p", pm)
    try:
        future = runner.submit("health_ping", {"now": 1.0})
        assert future.result(10) == {"ok": True, "last_activity": 1.0}
        gone = weakref.ref(future)
        del future
        wait_until(lambda: gone() is None, timeout=10,
                   waiting_for="the plugin's thread to let its last call go")
        assert runner.submit("health_ping", {"now": 2.0}).result(10) == {
            "ok": True, "last_activity": 2.0}
    finally:
        runner.close()
