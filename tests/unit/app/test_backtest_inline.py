"""The backtest engine on the caller's thread: the same report, bit for bit, as the
live dispatch thread on the bundled plugins, and a hung hook still bounded."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pluggy
import pytest

from zepix_core import Bar, hookimpl
from zepix_core.app.backtest import backtest_source, run_backtest
from zepix_core.app.book import Costs
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.execution.dispatch import Dispatcher
from zepix_core.execution.runner import CallResult, InProcessRunner
from zepix_core.loading.config import Config
from zepix_core.market.csvfile import write_csv
from zepix_core.market.replay import MarketReplay
from zepix_core.testing import make_bar

BUNDLED = ["combined_v3", "price_action_1m", "price_action_5m", "price_action_15m",
           "price_action_1h"]


def _book(book: Any) -> tuple[Any, ...]:
    return (book.cash, dict(book.positions), list(book.times), list(book.equity),
            list(book.in_market), list(book.marks), book.ruined, book.errors,
            book.first_error, repr(book.trips))


def _run(path: Path, dispatch: str) -> tuple[Any, ...]:
    source = backtest_source(Config(), "csv", {"path": str(path)})
    result = run_backtest(BUNDLED, source, config=Config(), dispatch=dispatch,
                          costs=Costs(fee=0.001, slippage=0.0005))
    return (result.bars, result.figures, {p: _book(b) for p, b in result.books.items()},
            result.benchmark and _book(result.benchmark), result.warnings)


def test_the_engine_on_the_callers_thread_gives_the_same_report_bit_for_bit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.setenv("ZEPIX_DB", str(tmp_path / "zepix.db"))
    path = tmp_path / "bars.csv"
    replay = MarketReplay(symbols=["BTCUSD", "ETHUSD"], seed=11)
    write_csv(path, (b for _ in range(1500) for b in replay.next_bars()))
    inline, threaded = _run(path, "inline"), _run(path, "thread")
    assert inline == threaded
    fills = sum(f["fills"] for f in inline[1].values())
    assert inline[0] > 3000 and fills > 0


class Sleeps:
    """Blocks in C (``time.sleep``) on its second bar: the watchdog's asynchronous
    exception cannot reach it there, SIGALRM does."""

    def __init__(self) -> None:
        self.seen = 0
        self.woke = False

    @hookimpl
    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 2:
            time.sleep(60)
            self.woke = True


class Buys:
    @hookimpl
    def on_bar(self, bar: Bar) -> list[dict[str, object]]:
        return [{"symbol": bar.symbol, "side": "buy", "quantity": 1}]


def _runner(plugin_id: str, plugin: object) -> InProcessRunner:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(plugin, name=plugin_id)
    return InProcessRunner(plugin_id, pm)


def test_a_hook_asleep_in_c_on_the_main_thread_is_interrupted_by_the_alarm() -> None:
    assert threading.current_thread() is threading.main_thread()
    sleeps = Sleeps()
    seen: list[CallResult] = []
    dispatcher = Dispatcher(lambda r, p: seen.append(r), deadline=0.3)
    dispatcher.mode = "inline"
    feed = [make_bar(1.0 + i, ts=60.0 * (i + 1)) for i in range(4)]
    with dispatcher.alarm():
        intents = dispatcher.feed([_runner("sleeps", sleeps), _runner("buys", Buys())], feed)
    dispatcher.close()
    assert not sleeps.woke and sleeps.seen == 2
    assert [i.plugin_id for i in intents] == ["buys"] * 4
    [missed] = [r for r in seen if r.plugin_id == "sleeps" and not r.ok]
    assert missed.timed_out
