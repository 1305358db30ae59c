"""``zepix backtest``: the metrics, the engine through the host's dispatch, and the command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from zepix_core.app import plot
from zepix_core.app.backtest import backtest_source, run_backtest
from zepix_core.app.book import Costs
from zepix_core.loading.config import Config
from zepix_core.market.csvfile import write_csv
from zepix_core.market.replay import MarketReplay
from zepix_core.trading import metrics


def test_metrics_of_a_hand_built_curve() -> None:
    equity = [100.0, 110.0, 99.0, 121.0, 108.9]
    assert metrics.total_return(equity) == pytest.approx(0.089)
    assert metrics.drawdowns(equity) == pytest.approx([0, 0, -0.1, 0, -0.1])
    assert metrics.max_drawdown(equity) == pytest.approx(0.1)
    returns = metrics.period_returns(equity)
    assert returns == pytest.approx([0.1, -0.1, 22 / 99, -0.1])
    mean = sum(returns) / 4
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    assert metrics.sharpe(returns, 252) == pytest.approx(mean / std * math.sqrt(252))
    # 8.9 % over half a year compounds to 1.089 ** 2 - 1 over a year
    assert metrics.annualised(0.089, metrics.YEAR / 2) == pytest.approx(1.089 ** 2 - 1)
    assert metrics.exposure([True, False, False, True]) == 0.5


def test_metrics_say_none_rather_than_invent_a_number() -> None:
    assert metrics.total_return([100.0]) is None
    assert metrics.sharpe([0.01, 0.01, 0.01], 252) is None  # no variation
    assert metrics.annualised(None, 100.0) is None
    assert metrics.annualised(-1.0, 100.0) is None
    assert metrics.exposure([]) is None
    assert metrics.max_drawdown([]) == 0.0


def _replay_run(steps: int, costs: Costs) -> dict[str, dict[str, object]]:
    source = backtest_source(Config(), None, {"steps": steps, "symbols": "BTCUSD"})
    result = run_backtest(["combined_v3", "price_action_5m"], source, config=Config(),
                          costs=costs)
    assert result.bars > steps and result.bars_per_second > 0
    return result.figures


def test_the_same_source_and_seed_give_the_same_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.setenv("ZEPIX_DB", str(tmp_path / "zepix.db"))
    costs = Costs(fee=0.001, slippage=0.0005)
    first, second = _replay_run(600, costs), _replay_run(600, costs)
    assert first == second
    trades = first["price_action_5m"]
    assert isinstance(trades["fills"], int) and trades["fills"] > 0
    assert isinstance(trades["fees"], float) and trades["fees"] > 0
    free = _replay_run(600, Costs())["price_action_5m"]
    assert free["fees"] == 0 and free["fills"] == trades["fills"]
    assert free["end_equity"] > trades["end_equity"]  # type: ignore[operator]
    # a backtest leaves nothing in the live data directory
    assert not (tmp_path / "plugins").exists() and not (tmp_path / "zepix.db").exists()


def zepix(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"), "PATH": "/usr/bin"}
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.slow
def test_backtest_a_csv_range_as_json_with_a_picture(tmp_path: Path) -> None:
    replay = MarketReplay(symbols=["ETHUSD"])
    bars = [b for _ in range(900) for b in replay.next_bars()]
    write_csv(tmp_path / "bars.csv", bars)
    start, end = bars[100].ts, bars[-100].ts
    inside = sum(1 for b in bars if start <= b.ts <= end)
    picture = tmp_path / "equity.png"
    args = ("backtest", "price_action_1m", "combined_v3", "--source", "csv",
            "--source-option", f"path={tmp_path / 'bars.csv'}", "--from", _iso(start),
            "--to", _iso(end), "--plot", str(picture))
    done = zepix(*args, "--json", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["bars"] == inside and report["bars_per_second"] > 0
    assert report["from"].startswith(_iso(start)[:19])
    row = {p["plugin_id"]: p for p in report["plugins"]}["price_action_1m"]
    assert row["trades"] > 0 and 0 <= row["win_rate"] <= 1 and row["max_drawdown"] >= 0
    assert set(row) >= {"total_return", "annualised_return", "sharpe", "exposure",
                        "signal_accuracy"}
    head = picture.read_bytes()
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) > 20_000
    table = zepix(*args, home=tmp_path / "home")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["PLUGIN", "TRADES", "WIN%"]
    assert f"{inside} bars in" in table.stdout and "bars/s" in table.stdout


def test_an_unknown_plugin_or_empty_range_is_one_line(tmp_path: Path) -> None:
    done = zepix("backtest", "nope_plugin", home=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no installed plugin named nope_plugin; installed: " in lines[0]
    empty = zepix("backtest", "price_action_1m", "--source-option", "steps=5",
                  "--from", "2030-01-01", home=tmp_path)
    assert empty.returncode == 2 and "no bars in that time range" in empty.stderr


def test_without_matplotlib_plot_says_so_in_one_line_and_the_table_still_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from zepix_core.cli.main import main

    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.setenv("ZEPIX_DB", str(tmp_path / "zepix.db"))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    picture = tmp_path / "equity.png"
    code = main(["backtest", "price_action_5m", "--source-option", "steps=120",
                 "--plot", str(picture)])
    out, err = capsys.readouterr()
    assert code == 0 and not picture.exists()
    assert err.strip().splitlines() == [plot.MISSING]
    assert "pip install 'zepix-core[backtest]'" in plot.MISSING
    assert out.splitlines()[1].startswith("price_action_5m")
