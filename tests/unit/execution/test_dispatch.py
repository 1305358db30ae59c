"""Work dispatch: intents are shape-checked, and a hung plugin does not hold the others."""

from __future__ import annotations

import threading
import time

import pluggy
import pytest

from zepix_core import Bar, PluginError, hookimpl
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.execution.dispatch import LIMIT, Dispatcher, IntentLimits, parse_intents
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
    dispatcher = Dispatcher(lambda r, p: seen.append((r, p)), deadline=1.0)
    start = time.monotonic()
    intents = dispatcher.feed([good, hung, bad], [BAR] * 5)
    took = time.monotonic() - start
    hangs.release.set()
    # One deadline (1 s), not one per bar (5 x 1 s); the rest is slack for a busy CI.
    assert took < 1.0 * 4, f"a hung plugin held the feed for {took:.2f}s"
    assert [i.plugin_id for i in intents] == ["good"] * 5
    by_plugin: dict[str, list[tuple[CallResult, str | None]]] = {}
    for result, problem in seen:
        by_plugin.setdefault(result.plugin_id, []).append((result, problem))
    assert len(by_plugin["hung"]) == 1 and by_plugin["hung"][0][0].timed_out
    assert all(p is not None and "on_bar returned dict" in p for _, p in by_plugin["bad"])
    assert len(by_plugin["good"]) == 5 and all(r.ok for r, _ in by_plugin["good"])
    for r in (good, hung, bad):
        r.close(0.1)


class Stamps:
    def __init__(self) -> None:
        self.at: list[float] = []

    @hookimpl
    def on_bar(self, bar: Bar) -> list[dict[str, object]]:
        self.at.append(time.monotonic())
        return [{"symbol": bar.symbol, "side": "sell", "quantity": 1}]


def test_a_hung_plugin_delays_the_next_one_by_its_deadline_then_sits_out() -> None:
    hangs, stamps = Hangs(), Stamps()
    hung, after = runner("hung", hangs), runner("after", stamps)
    stuck: list[str] = []
    dispatcher = Dispatcher(lambda r, p: None, deadline=0.3,
                            on_stuck=lambda pid, running, held: stuck.append(pid))
    start = time.monotonic()
    [intent] = dispatcher.feed([hung, after], [BAR])
    # The watchdog gave "hung" up after 0.3 s and a fresh dispatch thread called "after";
    # without it "after" would wait for ever (30 s). The bound is loose for a busy CI.
    assert 0.3 <= stamps.at[0] - start < 0.3 + 10.0
    assert stuck == ["hung"] and intent.plugin_id == "after" and intent.id
    assert dispatcher.stuck(hung)
    dispatcher.feed([hung, after], [BAR])  # still stuck: no bar for it, none waited for
    assert len(stamps.at) == 2 and stamps.at[1] - stamps.at[0] < 0.3 + 10.0
    hangs.release.set()
    deadline = time.monotonic() + 10
    while dispatcher.stuck(hung) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not dispatcher.stuck(hung)  # its call returned: it gets bars again
    dispatcher.close()
    for r in (hung, after):
        r.close(0.1)


def test_intent_ids_are_unique_and_limits_drop_a_batch() -> None:
    seen: list[str | None] = []
    dispatcher = Dispatcher(lambda r, p: seen.append(p), deadline=1.0, id_prefix="h-")
    dispatcher.limits["good"] = IntentLimits(max_quantity=0.5)
    dispatcher.limits["other"] = IntentLimits(symbols=frozenset({"ETHUSD"}))
    good, other = runner("good", Good()), runner("other", Stamps())
    intents = dispatcher.feed([good, other], [BAR, BAR])
    assert intents == [] and len(seen) == 4
    assert seen[0] is not None and seen[0].startswith(LIMIT) and "max_quantity 0.5" in seen[0]
    assert seen[2] is not None and "BTCUSD, which is not in symbols (ETHUSD)" in seen[2]
    dispatcher.limits.clear()
    ids = [i.id for i in dispatcher.feed([good, other], [BAR, BAR])]
    assert len(set(ids)) == 4 and all(i.startswith("h-") for i in ids)
    dispatcher.close()
