"""``[host] dispatch = "inline"``: hooks on the bot's own thread, the same intents and
fills as the guarded dispatch thread, and a hung pure-Python hook still bounded."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pluggy
import pytest

import zepix_core
from tests.distfactory import DistFactory
from tests.unit.app.test_embedding import bars, config, trader
from zepix_core import Bar, ConfigError, Fill, hookimpl
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.execution.dispatch import Dispatcher
from zepix_core.execution.runner import CallResult, InProcessRunner
from zepix_core.loading.config import load_config
from zepix_core.testing import make_bar


def runner(plugin_id: str, plugin: object) -> InProcessRunner:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(plugin, name=plugin_id)
    return InProcessRunner(plugin_id, pm)


class Momentum:
    def __init__(self) -> None:
        self.threads: set[int] = set()

    @hookimpl
    def on_bar(self, bar: Bar) -> list[dict[str, object]] | None:
        self.threads.add(threading.get_ident())
        if bar.close == bar.open:
            return None
        return [{"symbol": bar.symbol, "side": "buy" if bar.close > bar.open else "sell",
                 "quantity": 1, "price": bar.close}]


class Flaky:
    @hookimpl
    def on_bar(self, bar: Bar) -> object:
        if int(bar.ts) % 180 == 0:
            raise ValueError(f"bad bar {bar.ts}")
        if int(bar.ts) % 300 == 0:
            return {"not": "a list"}
        return None


class Spins:
    """Hangs in pure Python on its third bar until released."""

    def __init__(self) -> None:
        self.seen = 0
        self.release = threading.Event()

    @hookimpl
    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 3:
            while not self.release.is_set():
                pass


def _feed(mode: str, closes: list[float]) -> tuple[list[Any], list[Any]]:
    seen: list[tuple[str, str, bool, str | None, bool, str | None]] = []

    def on_result(result: CallResult, problem: str | None) -> None:
        seen.append((result.plugin_id, result.hook, result.ok, result.error,
                     result.timed_out, problem))

    answers: list[tuple[str, int]] = []
    dispatcher = Dispatcher(on_result, deadline=5.0,
                            on_answers=lambda pid, took: answers.append((pid, len(took))))
    dispatcher.mode = mode
    runners = [runner("mom", Momentum()), runner("flaky", Flaky())]
    intents = []
    feed = bars(closes)
    intents += dispatcher.feed(runners, feed[:4])  # a batch, then bar by bar
    for bar in feed[4:]:
        intents += dispatcher.feed(runners, [bar])
    dispatcher.close()
    return ([(i.id, i.plugin_id, i.symbol, i.side, i.quantity, i.price, i.bar_time)
             for i in intents], [*seen, *answers])


def test_inline_gives_the_same_intents_and_results_as_the_dispatch_thread() -> None:
    closes = [100.0, 101, 101, 99, 98, 100, 103, 103, 102, 104, 105, 101, 100, 102, 102]
    assert _feed("inline", closes) == _feed("thread", closes)
    intents, results = _feed("inline", closes)
    assert intents and any(r[3] and "bad bar" in r[3] for r in results if len(r) > 2)


def test_inline_runs_on_the_callers_thread() -> None:
    mom = Momentum()
    dispatcher = Dispatcher(lambda r, p: None, deadline=5.0)
    dispatcher.mode = "inline"
    dispatcher.feed([runner("mom", mom)], bars([1.0, 2.0, 3.0]))
    assert mom.threads == {threading.get_ident()}
    dispatcher.mode = "thread"
    dispatcher.feed([runner("mom", mom)], bars([1.0, 2.0]))
    assert len(mom.threads) == 2  # the dispatch thread's
    dispatcher.close()


def test_a_hung_pure_python_hook_is_interrupted_and_fed_no_more() -> None:
    spins, mom = Spins(), Momentum()
    seen: list[CallResult] = []
    stuck: list[str] = []
    dispatcher = Dispatcher(lambda r, p: seen.append(r), deadline=0.3,
                            on_stuck=lambda pid, call, held: stuck.append(pid))
    dispatcher.mode = "inline"
    hung, good = runner("spins", spins), runner("mom", mom)
    try:
        intents = dispatcher.feed([hung, good], bars([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
        # The feed came back although the hook never returned by itself.
        assert not spins.release.is_set()
        assert [i.plugin_id for i in intents] == ["mom"] * 5  # every bar reached mom
        assert spins.seen == 3  # nothing after the hung call
        [missed] = [r for r in seen if r.plugin_id == "spins" and not r.ok]
        assert missed.timed_out and "no answer within 0.30s" in (missed.error or "")
        assert stuck == ["spins"]
        # It stays out: the next feed does not call it (until the host restarts it).
        assert dispatcher.feed([hung, good], bars([7.0, 8.0])) != []
        assert spins.seen == 3 and dispatcher.stuck(hung)
    finally:
        spins.release.set()
        dispatcher.close()


def test_host_dispatch_is_read_from_config(tmp_path: Path) -> None:
    path = tmp_path / "zepix.toml"
    assert load_config(path).host["dispatch"] == "thread"
    path.write_text('[host]\ndispatch = "inline"\n', encoding="utf-8")
    assert load_config(path).host["dispatch"] == "inline"
    path.write_text('[host]\ndispatch = "fast"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="host.dispatch: got 'fast'; expected one of 'thread', 'inline'"):
        load_config(path)


def _trade(tmp_path: Path, paths: list[str], mode: str) -> tuple[list[Any], dict[str, Any]]:
    home = tmp_path / mode
    home.mkdir()
    prices = [100.0, 101, 102, 101, 100, 101, 103, 102, 101, 102, 104, 105]
    handed = []
    with zepix_core.open_host(config(home, f'dispatch = "{mode}"\n'), home / "z.db",
                              paths=paths) as host:
        assert host.host.dispatcher.mode == mode
        pending = None
        for bar in bars(prices):
            if pending is not None:
                host.report_fill(Fill(pending.id, pending.quantity, bar.open, bar.ts))
            intents = host.on_bar(bar)
            handed += [(i.plugin_id, i.symbol, i.side, i.quantity, i.price, i.bar_time)
                       for i in intents]
            pending = intents[0] if intents else None
        plugin = host.host.slots["trader"].runner.pm.get_plugin("trader")  # type: ignore[union-attr]
        measured = host.host.trades.fields("trader")
    fills = [(f.quantity, f.price, f.time, f.fee) for f in plugin.fills]
    return handed, {"fills": fills, "measured": measured, "threads": plugin.threads}


def test_an_embedded_host_trades_the_same_inline(dists: DistFactory, tmp_path: Path) -> None:
    paths = trader(dists)
    threaded = _trade(tmp_path, paths, "thread")
    inline = _trade(tmp_path, paths, "inline")
    assert inline[0] == threaded[0] and len(inline[0]) == 11
    assert inline[1]["fills"] == threaded[1]["fills"] and len(inline[1]["fills"]) == 10
    assert inline[1]["measured"] == threaded[1]["measured"]
    assert threaded[1]["threads"] == {"zepix-dispatch"}
    assert inline[1]["threads"] == {threading.current_thread().name}
    assert make_bar  # the bars come from zepix_core.testing, as in test_embedding
