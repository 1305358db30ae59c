"""Honest backtests: hook errors fail the run, ruin stops a plugin, Sharpe and Sortino
agree with backtesting.py on the same trades, a csv of 1m bars is aggregated, its time
column found under its usual names and its time format stated."""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from zepix_core.market.csvfile import CsvSource
from zepix_core.market.replay import MarketReplay
from zepix_core.trading import metrics

HOOKS = '''
from zepix_core import hookimpl

class Plugin:
    def __init__(self):
        self.seen = 0

    @hookimpl
    def plugin_version(self):
        return {"version": "1.0.0", "requires_api": ">=1.0"}

    @hookimpl
    def health_ping(self, now):
        return {"ok": True, "last_activity": now}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": self.seen}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def activate(self, context, config):
        pass

    @hookimpl
    def deactivate(self, reason):
        pass
'''

RAISER = HOOKS + '''
    @hookimpl
    def on_bar(self, bar):
        self.seen += 1
        if self.seen % 50 == 0:
            return self.decide(bar)
        return None

    def decide(self, bar):
        raise ValueError("boom at bar %d" % self.seen)
'''

#: Buys ten times its capital's worth on the first bar, and a unit a bar from the 30th.
GAMBLER = HOOKS + '''
    @hookimpl
    def on_bar(self, bar):
        self.seen += 1
        if self.seen == 1 or self.seen >= 30:
            return [{"symbol": bar.symbol, "side": "buy",
                     "quantity": 1000.0 if self.seen == 1 else 1.0}]
        return None
'''

#: Long 10 units from midnight to noon of every even day (UTC, by bar close time).
SCHEDULE = HOOKS + '''
    @hookimpl
    def on_bar(self, bar):
        day, hour = divmod(int(bar.ts // 3600), 24)
        if day % 2 == 0 and hour == 0:
            return [{"symbol": bar.symbol, "side": "buy", "quantity": 10.0}]
        if day % 2 == 0 and hour == 12:
            return [{"symbol": bar.symbol, "side": "sell", "quantity": 10.0}]
        return None
'''


def install(root: Path, pid: str, source: str) -> None:
    info = root / f"zepix_{pid}-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zepix-{pid}\n"
                                   "Version: 1.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[zepix.plugins]\n{pid} = {pid}_mod:Plugin\n",
                                           encoding="utf-8")
    (root / f"{pid}_mod.py").write_text(textwrap.dedent(source), encoding="utf-8")


def zepix(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    env = {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"),
           "PYTHONPATH": str(tmp_path / "site"), "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def write_bars(path: Path, closes: list[float], step: float = 3600.0,
               start: float = 1_704_067_200.0, time_name: str = "time",
               stamp: Any = lambda ts: f"{ts:.0f}") -> list[float]:
    """Bars opening at the previous close, one ``step`` apart; returns their times."""
    times = [start + step * (i + 1) for i in range(len(closes))]
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow([time_name, "open", "high", "low", "close", "volume"])
        previous = closes[0]
        for ts, close in zip(times, closes, strict=True):
            out.writerow([stamp(ts), previous, max(previous, close) * 1.001,
                          min(previous, close) * 0.999, close, 1000])
            previous = close
    return times


def wave(n: int) -> list[float]:
    return [100.0 + 10.0 * math.sin(i / 17.0) + 3.0 * math.sin(i / 3.1) + i * 0.01
            for i in range(n)]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    return root


def test_a_hook_error_fails_the_run_with_the_plugins_file_and_line(
        tmp_path: Path, site: Path) -> None:
    install(site, "raiser", RAISER)
    write_bars(tmp_path / "bars.csv", wave(300))
    args = ("backtest", "raiser", "--source", "csv", "--source-option",
            f"path={tmp_path / 'bars.csv'}", "--source-option", "timeframe=1h")
    done = zepix(tmp_path, *args)
    assert done.returncode == 1, done.stderr
    first = done.stderr.strip().splitlines()[0]
    line = RAISER.splitlines().index('        raise ValueError("boom at bar %d" % self.seen)')
    assert "plugin raiser: on_bar: ValueError: boom at bar 50" in first
    assert f"raiser_mod.py:{line + 1} in decide" in first
    allowed = zepix(tmp_path, *args, "--allow-errors", "--json")
    assert allowed.returncode == 0, allowed.stderr
    row = json.loads(allowed.stdout)["plugins"][0]
    assert row["errors"] >= 1 and "boom at bar 50" in row["first_error"]
    assert row["ruined"] is False


def test_equity_at_zero_stops_the_plugin(tmp_path: Path, site: Path) -> None:
    install(site, "gambler", GAMBLER)
    closes = [100.0 - i * 0.5 for i in range(100)]  # 100 down to 50.5
    write_bars(tmp_path / "bars.csv", closes)
    done = zepix(tmp_path, "backtest", "gambler", "--source", "csv", "--source-option",
                 f"path={tmp_path / 'bars.csv'}", "--source-option", "timeframe=1h",
                 "--fee", "0", "--slippage", "0", "--json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)["plugins"][0]
    assert row["ruined"] is True
    # 1000 bought at the second bar's open (100); 10000 - 1000 * (100 - close) <= 0 first
    # at close 90: the plugin ends there, with nothing, not far below nothing
    assert row["end_equity"] == pytest.approx(10_000 - 1000 * (100 - 90.0))
    assert row["total_return_pct"] == pytest.approx(-100.0)
    assert row["sharpe"] is None
    assert row["fills"] == 1  # nothing it asked for after its ruin was filled


def _backtesting_py(closes: list[float], times: list[float]) -> Any:
    import pandas as pd
    from backtesting import Backtest, Strategy

    frame = pd.DataFrame({"Open": [closes[0], *closes[:-1]], "Close": closes,
                          "Volume": 1000.0},
                         index=pd.to_datetime([int(t) for t in times], unit="s"))
    frame["High"] = frame[["Open", "Close"]].max(axis=1) * 1.001
    frame["Low"] = frame[["Open", "Close"]].min(axis=1) * 0.999

    class Schedule(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            ts = self.data.index[-1].timestamp()
            day, hour = divmod(int(ts // 3600), 24)
            if day % 2 == 0 and hour == 0:
                self.buy(size=10)
            elif day % 2 == 0 and hour == 12:
                self.position.close()

    return Backtest(frame, Schedule, cash=10_000, commission=0.0).run()


def test_sharpe_and_sortino_agree_with_backtesting_py_on_the_same_trades(
        tmp_path: Path, site: Path) -> None:
    install(site, "schedule", SCHEDULE)
    closes = wave(24 * 60)  # sixty days of hourly bars
    times = write_bars(tmp_path / "bars.csv", closes)
    done = zepix(tmp_path, "backtest", "schedule", "--source", "csv", "--source-option",
                 f"path={tmp_path / 'bars.csv'}", "--source-option", "timeframe=1h",
                 "--fee", "0", "--slippage", "0", "--json")
    assert done.returncode == 0, done.stderr
    ours = json.loads(done.stdout)["plugins"][0]
    theirs = _backtesting_py(closes, times)
    assert ours["trades"] == theirs["# Trades"] == 30
    assert ours["total_return_pct"] == pytest.approx(theirs["Return [%]"], rel=1e-9)
    assert ours["sharpe"] == pytest.approx(theirs["Sharpe Ratio"], rel=0.01)
    assert ours["sortino"] == pytest.approx(theirs["Sortino Ratio"], rel=0.01)
    assert ours["win_rate"] * 100 == pytest.approx(theirs["Win Rate [%]"])


def test_sharpe_and_sortino_of_a_known_daily_series() -> None:
    day = metrics.DAY
    equity = [100.0, 101.0, 100.0, 102.0, 103.0, 101.0, 104.0, 105.0, 103.0, 106.0]
    # a Wednesday start, one mark at noon of ten days: weekends are there -> 365 days
    times = [1_704_196_800.0 + i * day for i in range(len(equity))]
    returns = [b / a - 1 for a, b in itertools.pairwise(equity)]
    assert metrics.daily_returns(times, equity) == pytest.approx(returns)
    n = len(returns)
    gmean = (equity[-1] / equity[0]) ** (1 / n) - 1
    annual = (1 + gmean) ** 365 - 1
    mean = sum(returns) / n
    var = sum((r - mean) ** 2 for r in returns) / (n - 1)
    vol = math.sqrt((var + (1 + gmean) ** 2) ** 365 - (1 + gmean) ** 730)
    down = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / n) * math.sqrt(365)
    risk = metrics.risk(metrics.daily_returns(times, equity), metrics.trading_days(times))
    assert risk.sharpe == pytest.approx(annual / vol)
    assert risk.sortino == pytest.approx(annual / down)
    # several marks a day: only each day's last counts
    dense = [t - 3600 * k for t in times for k in (2, 1, 0)]
    assert metrics.daily_returns(sorted(dense), [e for e in equity for _ in range(3)]) == \
        pytest.approx(returns)
    # a curve that reached zero has no Sharpe; a week is the least annualised
    assert metrics.daily_returns(times, [*equity[:-1], 0.0]) == []
    assert metrics.risk(returns[:5], 365).sharpe is None
    assert metrics.trading_days([1_704_067_200.0 + i * day for i in range(5)]) == 252


def test_a_csv_of_1m_bars_is_aggregated_as_the_replay_does(tmp_path: Path) -> None:
    replay = MarketReplay(symbols=["BTCUSD"], seed=5)
    steps = [replay.next_bars() for _ in range(180)]
    with (tmp_path / "BTCUSD.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        for bar in (b for s in steps for b in s if b.timeframe == "1m"):
            out.writerow([int(bar.ts * 1000), bar.open, bar.high, bar.low, bar.close,
                          bar.volume])
    source = CsvSource({"path": str(tmp_path / "BTCUSD.csv")})
    import threading

    got = [b for batch in source.batches(threading.Event()) for b in batch]
    want = [b for s in steps for b in s]
    assert [(b.timeframe, b.ts) for b in got] == [(b.timeframe, b.ts) for b in want]
    assert got == want
    assert source.time_format == "epoch milliseconds"


@pytest.mark.parametrize(("name", "stamp", "told"), [
    ("date", lambda ts: datetime.fromtimestamp(ts, UTC).isoformat(), "ISO 8601"),
    ("datetime", lambda ts: f"{ts:.0f}", "epoch seconds"),
    ("when", lambda ts: f"{ts * 1000:.0f}", "epoch milliseconds"),
])
def test_the_time_column_under_its_usual_names_and_its_format_stated(
        tmp_path: Path, site: Path, name: str, stamp: Any, told: str) -> None:
    install(site, "raiser", RAISER)
    times = write_bars(tmp_path / "bars.csv", wave(40), step=60.0, time_name=name,
                       stamp=stamp)
    options = ["--source-option", f"path={tmp_path / 'bars.csv'}"]
    if name == "when":
        refused = zepix(tmp_path, "backtest", "price_action_5m", "--source", "csv", *options)
        assert refused.returncode == 2
        assert "time may be named timestamp, date or datetime" in refused.stderr
        options += ["--source-option", "time_column=when"]
    done = zepix(tmp_path, "backtest", "price_action_5m", "--source", "csv", *options)
    assert done.returncode == 0, done.stderr
    assert f"times read as {told}" in done.stdout
    # 40 1m bars and the 8 5m, 2 15m bars that close among them
    assert f"{len(times) + 8 + 2} bars in" in done.stdout


def test_a_plugin_given_none_of_its_timeframes_is_warned(tmp_path: Path) -> None:
    write_bars(tmp_path / "bars.csv", wave(40), step=60.0)
    done = zepix(tmp_path, "backtest", "price_action_5m", "--source", "csv",
                 "--source-option", f"path={tmp_path / 'bars.csv'}",
                 "--source-option", "aggregate=")
    assert done.returncode == 0, done.stderr
    assert ("warning: price_action_5m trades 5m bars but the source gave only 1m"
            in done.stderr)
