"""The research loop: --set, --grid with --jobs and its heatmap, --trades, the
buy-and-hold benchmark and the statistics of contract section 19."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zepix_core.market.csvfile import write_csv
from zepix_core.market.replay import MarketReplay


def zepix(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"),
           "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture
def bars(tmp_path: Path) -> Path:
    replay = MarketReplay(symbols=["ETHUSD"], seed=11)
    write_csv(tmp_path / "bars.csv", [b for _ in range(1500) for b in replay.next_bars()])
    return tmp_path / "bars.csv"


KEYS = {"plugin_id", "params", "trades", "win_rate", "total_return_pct", "annual_return_pct",
        "max_drawdown_pct", "sharpe", "sortino", "profit_factor", "expectancy",
        "exposure_pct", "errors", "ruined"}


def test_set_trades_and_benchmark(tmp_path: Path, bars: Path) -> None:
    trips = tmp_path / "trips.csv"
    done = zepix(tmp_path / "home", "backtest", "price_action_1m", "--source", "csv",
                 "--source-option", f"path={bars}", "--set",
                 "price_action_1m.risk_per_trade=0.02", "--trades", str(trips),
                 "--benchmark", "buy-and-hold", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    row = document["plugins"][0]
    assert set(row) >= KEYS
    assert row["params"]["risk_per_trade"] == 0.02
    with trips.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and len(rows) == row["trades"]
    assert list(rows[0]) == ["plugin_id", "symbol", "side", "entry_time", "entry_price",
                             "exit_time", "exit_price", "quantity", "pnl", "fees"]
    pnls = [float(r["pnl"]) for r in rows]
    assert row["expectancy"] == pytest.approx(sum(pnls) / len(pnls))
    assert row["profit_factor"] == pytest.approx(
        sum(p for p in pnls if p > 0) / -sum(p for p in pnls if p < 0))
    assert row["win_rate"] == pytest.approx(sum(p > 0 for p in pnls) / len(pnls))
    assert all(r["entry_time"] <= r["exit_time"] for r in rows)
    with bars.open(newline="") as handle:
        closes = [float(r["close"]) for r in csv.DictReader(handle) if r["timeframe"] == "1m"]
    hold = document["benchmark"]
    assert hold["plugin_id"] == "buy-and-hold"
    assert hold["total_return_pct"] == pytest.approx((closes[-1] / closes[0] - 1) * 100)
    table = zepix(tmp_path / "home", "backtest", "price_action_1m", "--source", "csv",
                  "--source-option", f"path={bars}", "--benchmark", "buy-and-hold")
    assert table.returncode == 0, table.stderr
    assert any(line.startswith("buy-and-hold") for line in table.stdout.splitlines())
    wrong = zepix(tmp_path / "home", "backtest", "price_action_1m", "--set", "other.x=1")
    assert wrong.returncode == 2 and "--set names other" in wrong.stderr


def test_a_grid_in_two_processes_with_its_heatmap(tmp_path: Path, bars: Path) -> None:
    heat = tmp_path / "heat.png"
    done = zepix(tmp_path / "home", "backtest", "price_action_1m", "--source", "csv",
                 "--source-option", f"path={bars}",
                 "--grid", "price_action_1m.risk_per_trade=0.01,0.03",
                 "--grid", "price_action_1m.equity=5000,20000", "--jobs", "2",
                 "--plot", str(heat), "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["params"]["risk_per_trade"], r["params"]["equity"]) for r in rows] == [
        (0.01, 5000), (0.01, 20000), (0.03, 5000), (0.03, 20000)]
    assert all(set(r) >= KEYS for r in rows)
    assert heat.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one combination run alone gives the same figures as in the grid
    alone = zepix(tmp_path / "home", "backtest", "price_action_1m", "--source", "csv",
                  "--source-option", f"path={bars}", "--set",
                  "price_action_1m.risk_per_trade=0.03", "--set",
                  "price_action_1m.equity=20000", "--json")
    assert alone.returncode == 0, alone.stderr
    single = json.loads(alone.stdout)["plugins"][0]
    for key in ("trades", "total_return_pct", "expectancy", "max_drawdown_pct"):
        assert single[key] == rows[3][key] or (
            isinstance(single[key], float) and math.isclose(single[key], rows[3][key]))


def test_walk_forward_runs_the_best_training_choice_on_unseen_days(tmp_path: Path) -> None:
    home = tmp_path / "home"
    common = ("backtest", "price_action_15m", "--source-option", "steps=4320",
              "--source-option", "symbols=BTCUSD")
    done = zepix(home, *common, "--walk-forward", "1:1", "--grid",
                 "price_action_15m.risk_per_trade=0.01,0.04", "--json")
    assert done.returncode == 0, done.stderr
    walk = json.loads(done.stdout)
    assert [w["test_from"] - w["train_from"] for w in walk["windows"]] == [86400.0] * 2
    growth = 1.0
    for window in walk["windows"]:
        growth *= 1 + window["test"]["total_return"]
        chosen = window["test"]["params"]["risk_per_trade"]
        # the choice is the one that did best on the training days
        train = {}
        for value in (0.01, 0.04):
            fit = zepix(home, *common, "--set", f"price_action_15m.risk_per_trade={value}",
                        "--from", _iso(window["train_from"]),
                        "--to", _iso(window["test_from"] - 1), "--json")
            train[value] = json.loads(fit.stdout)["plugins"][0]
        best = max(train, key=lambda v: (train[v]["sharpe"] or -math.inf,
                                         train[v]["total_return"]))
        assert chosen == best
        assert window["train"]["total_return"] == pytest.approx(train[best]["total_return"])
    assert walk["out_of_sample_return_pct"] == pytest.approx((growth - 1) * 100)


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()
