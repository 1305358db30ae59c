"""Work dispatch: intents are shape-checked, and a hung plugin does not hold the others."""

from __future__ import annotations

import threading
import time

import pluggy
import pytest

from zepix_core import Bar, PluginError, hookimpl
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.execution.dispatch import Dispatcher, parse_intents
from zepix_core.execution.runner import CallResult, InProcessRunner

BAR = Bar("BTCUSD", "1m", 60.0, 1.0, 2.0, 0.5, 1.5, 10.0)


def runner(plugin_id: str, plugin: object) -> InProcessRunner:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(plugin, name=plugin_id)
    return InProcessRunner(plugin_id, pm)


def test_valid_intents_are_parsed() -> None:
    [intent] = parse_intents("p", BAR, [{"symbol": "BTCUSD", "side": "buy", "quantity": 2,
                                         "price": 1.5, "reason": "breakout"}])
    assert (intent.side, intent.quantity, intent.price, intent.bar_time) == ("buy", 2.0, 1.5, 60.0)
    assert parse_intents("p", BAR, None) == []


@pytest.mark.parametrize("value, message", [
    ({"symbol": "X"}, "on_bar returned dict"),
    ("buy", "on_bar returned str"),
    ([1], "intent #0 is int"),
    ([{"symbol": "X", "side": "hold", "quantity": 1}], "'side' ('buy' or 'sell')"),
    ([{"symbol": "X", "side": "buy", "quantity": 0}], "quantity 0"),
    ([{"symbol": "X", "side": "buy", "quantity": float("nan")}], "quantity nan"),
    ([{"symbol": "X", "side": "sell", "quantity": 1, "price": "high"}], "price 'high'"),
])
def test_wrong_shapes_name_the_problem(value: object, message: str) -> None:
    with pytest.raises(PluginError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_intents("p", BAR, value)


class Good:
    @hookimpl
    def on_bar(self, bar: Bar) -> list[dict[str, object]]:
        return [{"symbol": bar.symbol, "side": "buy", "quantity": 1}]


class Hangs:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def on_bar(self, bar: Bar) -> None:
        self.release.wait(30)


class Garbage:
    @hookimpl
    def on_bar(self, bar: Bar) -> object:
        return {"not": "a list"}


def test_hung_plugin_costs_one_deadline_per_feed() -> None:
    hangs = Hangs()
    seen: list[tuple[CallResult, str | None]] = []
    good, hung, bad = runner("good", Good()), runner("hung", hangs), runner("bad", Garbage())
    dispatcher = Dispatcher(lambda r, p: seen.append((r, p)), deadline=0.2)
    start = time.monotonic()
    intents = dispatcher.feed([good, hung, bad], [BAR] * 5)
    took = time.monotonic() - start
    hangs.release.set()
    # One deadline (0.2 s), not one per bar (5 x 0.2 s); the rest is slack for a busy CI.
    assert took < 0.2 * 3, f"a hung plugin held the feed for {took:.2f}s"
    assert [i.plugin_id for i in intents] == ["good"] * 5
    by_plugin: dict[str, list[tuple[CallResult, str | None]]] = {}
    for result, problem in seen:
        by_plugin.setdefault(result.plugin_id, []).append((result, problem))
    assert len(by_plugin["hung"]) == 1 and by_plugin["hung"][0][0].timed_out
    assert all(p is not None and "on_bar returned dict" in p for _, p in by_plugin["bad"])
    assert len(by_plugin["good"]) == 5 and all(r.ok for r, _ in by_plugin["good"])
    for r in (good, hung, bad):
        r.close(0.1)
