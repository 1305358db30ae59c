"""``zepix backtest`` against backtesting.py and backtrader: the same rules on the same file.

Two long-only rules, one unit, filled at the next bar's open, no costs:

- SMA cross: buy when the 10-bar mean crosses above the 30-bar mean, close the
  position when it crosses back below;
- Bollinger: buy when the close falls under the 20-bar mean minus two
  (population) standard deviations, close when it rises over the mean.

The indicators come from one function (``indicators``) for all three engines,
so a disagreement can only be the engines'. Each engine runs from the CSV file
to its report (zepix: ``run_backtest`` with a fresh host, plugins installed as a
real ``*.dist-info``; backtesting.py and backtrader: ``pandas.read_csv`` and their
run). The closed trades and their P&L must agree; bars/s are the file's 1m bars
over the engine's wall time (zepix runs both rules in one backtest: half of it
each); ``cpu_s`` is the process's CPU seconds over the same span and
``cpu_ratio`` that against backtesting.py's (a busy machine's wall time is
mostly the scheduler's). backtesting.py and backtrader are a bench extra
(``pip install -e '.[bench]'``), not dependencies of zepix.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

FAST, SLOW, BAND, WIDTH = 10, 30, 20, 2.0


def indicators(closes: list[float], rule: str, i: int) -> tuple[bool, bool]:
    """``(enter, leave)`` at bar ``i`` of ``closes`` under ``rule``: the one definition
    every engine uses."""
    if rule == "sma":
        if i < SLOW:
            return False, False
        fast = sum(closes[i - FAST + 1:i + 1]) / FAST
        slow = sum(closes[i - SLOW + 1:i + 1]) / SLOW
        fast0 = sum(closes[i - FAST:i]) / FAST
        slow0 = sum(closes[i - SLOW:i]) / SLOW
        return fast0 <= slow0 and fast > slow, fast0 >= slow0 and fast < slow
    if i < BAND - 1:
        return False, False
    window = closes[i - BAND + 1:i + 1]
    mid = sum(window) / BAND
    sd = math.sqrt(sum((c - mid) ** 2 for c in window) / BAND)
    return closes[i] < mid - WIDTH * sd, closes[i] > mid


PLUGIN = '''
import sys
from zepix_core import hookimpl
sys.path.insert(0, {bench!r})
from bench_engines import indicators


class _Rule:
    rule = ""

    def __init__(self):
        self.closes, self.long = [], False

    @hookimpl
    def plugin_version(self):
        return "1.0.0"

    @hookimpl
    def health_ping(self, now):
        return True

    @hookimpl
    def get_metrics(self):
        return {{"bars": len(self.closes)}}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def on_bar(self, bar):
        if bar.timeframe != "1m":
            return None
        self.closes.append(bar.close)
        enter, leave = indicators(self.closes, self.rule, len(self.closes) - 1)
        if not self.long and enter:
            self.long = True
            return [{{"symbol": bar.symbol, "side": "buy", "quantity": 1.0}}]
        if self.long and leave:
            self.long = False
            return [{{"symbol": bar.symbol, "side": "sell", "quantity": 1.0}}]
        return None


class Sma(_Rule):
    rule = "sma"


class Bollinger(_Rule):
    rule = "bollinger"
'''


def _install(site: Path) -> None:
    info = site / "zepix_bench_rules-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zepix-bench-rules\n"
                                   "Version: 1.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[zepix.plugins]\nbench_sma = zepix_bench_rules:Sma\n"
        "bench_bollinger = zepix_bench_rules:Bollinger\n", encoding="utf-8")
    (site / "zepix_bench_rules.py").write_text(
        textwrap.dedent(PLUGIN.format(bench=str(Path(__file__).resolve().parent))),
        encoding="utf-8")


def _write(path: Path, count: int) -> int:
    from zepix_core.market.csvfile import write_csv
    from zepix_core.market.replay import MarketReplay

    replay = MarketReplay(symbols=["BTCUSD"], seed=17)
    return write_csv(path, (b for _ in range(count) for b in replay.next_bars()))


def run_zepix(path: Path, site: Path) -> dict[str, dict[str, Any]]:
    from zepix_core.app.backtest import backtest_source, run_backtest
    from zepix_core.app.book import Costs
    from zepix_core.loading.config import Config

    sys.path.insert(0, str(site))
    try:
        start, cpu = time.perf_counter(), time.process_time()
        source = backtest_source(Config(), "csv", {"path": str(path)})
        result = run_backtest(["bench_sma", "bench_bollinger"], source, config=Config(),
                              costs=Costs(capital=1e9))
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("zepix_bench_rules", None)
    found = {}
    for rule, pid in (("sma", "bench_sma"), ("bollinger", "bench_bollinger")):
        trips = result.books[pid].trips.closed
        found[rule] = {"trades": len(trips), "pnl": sum(t.pnl for t in trips),
                       "wins": sum(1 for t in trips if t.pnl > 0), "seconds": took / 2,
                       "cpu": cpu / 2}
    return found


def _frame(path: Path) -> Any:
    import pandas as pd

    frame = pd.read_csv(path)
    frame = frame[frame["timeframe"] == "1m"]
    frame.index = pd.to_datetime(frame["time"], unit="s")
    return frame.rename(columns={"open": "Open", "high": "High", "low": "Low",
                                 "close": "Close", "volume": "Volume"})


def _signals(closes: list[float], rule: str) -> tuple[list[bool], list[bool]]:
    pairs = [indicators(closes, rule, i) for i in range(len(closes))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def run_backtesting_py(path: Path, rule: str) -> dict[str, Any]:
    import numpy as np
    from backtesting import Backtest, Strategy

    start, cpu = time.perf_counter(), time.process_time()
    frame = _frame(path)
    closes = [float(c) for c in frame["Close"]]

    class Rule(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            enter, leave = _signals(closes, rule)
            self.enter = self.I(lambda: np.array(enter, dtype=float), plot=False)
            self.leave = self.I(lambda: np.array(leave, dtype=float), plot=False)

        def next(self) -> None:
            if not self.position and self.enter[-1]:
                self.buy(size=1)
            elif self.position and self.leave[-1]:
                self.position.close()

    stats = Backtest(frame, Rule, cash=1e9, commission=0.0, exclusive_orders=False).run()
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    trades = stats["_trades"]
    pnl = [float(p) for p in trades["PnL"]]
    return {"trades": len(pnl), "pnl": sum(pnl), "wins": sum(1 for p in pnl if p > 0),
            "seconds": took, "cpu": cpu}


def run_backtrader(path: Path, rule: str) -> dict[str, Any]:
    import backtrader as bt

    start, cpu = time.perf_counter(), time.process_time()
    frame = _frame(path)
    closes = [float(c) for c in frame["Close"]]
    enter, leave = _signals(closes, rule)
    pnls: list[float] = []

    class Rule(bt.Strategy):  # type: ignore[misc]
        def next(self) -> None:
            i = len(self) - 1
            if not self.position and enter[i]:
                self.buy(size=1)
            elif self.position and leave[i]:
                self.close()

        def notify_trade(self, trade: Any) -> None:
            if trade.isclosed:
                pnls.append(float(trade.pnl))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame[["Open", "High", "Low", "Close",
                                                        "Volume"]]))
    cerebro.addstrategy(Rule)
    cerebro.broker.setcash(1e9)
    cerebro.run()
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"trades": len(pnls), "pnl": sum(pnls), "wins": sum(1 for p in pnls if p > 0),
            "seconds": took, "cpu": cpu}


def run(quick: bool = False) -> list[dict[str, Any]]:
    count = 20_000 if quick else 200_000
    with tempfile.TemporaryDirectory(prefix="zepix-bench-engines-") as tmp:
        os.environ.setdefault("ZEPIX_HOME", tmp)
        folder = Path(tmp)
        path = folder / "bars.csv"
        _write(path, count)
        _install(folder / "site")
        ours = run_zepix(path, folder / "site")
        rows = []
        for rule in ("sma", "bollinger"):
            them = run_backtesting_py(path, rule)
            trader = run_backtrader(path, rule)
            zepix = ours[rule]
            agree = all(other["trades"] == zepix["trades"]
                        and math.isclose(other["pnl"], zepix["pnl"], rel_tol=1e-9,
                                         abs_tol=1e-6)
                        for other in (them, trader))
            for name, found in (("backtesting.py", them), ("backtrader", trader),
                                ("zepix backtest", zepix)):
                rows.append({
                    "bench": "engines", "what": f"{rule}: {name}, {count:,} bars",
                    "seconds": found["seconds"], "bars_per_s": round(count / found["seconds"]),
                    "ratio": found["seconds"] / them["seconds"], "trades": found["trades"],
                    "pnl": round(found["pnl"], 6), "win_rate":
                        round(found["wins"] / found["trades"], 4) if found["trades"] else None,
                    "agree": agree, "cpu_s": round(found["cpu"], 2),
                    "cpu_ratio": round(found["cpu"] / them["cpu"], 3)})
    return rows


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
