"""``zepix backtest`` fills at the open of the symbol's next 1m bar, also when 5m, 15m
and 1h bars close at the same time (their opens are older), checked against the
trades computed by hand from the same file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.paths import ROOT
from zepix_core.app.backtest import backtest_source, run_backtest
from zepix_core.app.book import Costs
from zepix_core.loading.config import Config

BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
import bench_engines


def test_fills_at_the_next_1m_open_match_a_hand_computation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.setenv("ZEPIX_DB", str(tmp_path / "zepix.db"))
    path = tmp_path / "bars.csv"
    bench_engines._write(path, 3000)  # 1m bars with the 5m/15m/1h bars closing with them
    site = tmp_path / "site"
    bench_engines._install(site)
    monkeypatch.syspath_prepend(str(site))
    source = backtest_source(Config(), "csv", {"path": str(path)})
    result = run_backtest(["bench_sma"], source, config=Config(), costs=Costs(capital=1e9))
    got = [(t.entry_price, t.exit_price) for t in result.books["bench_sma"].trips.closed]

    rows = [r for r in path.read_text(encoding="utf-8").splitlines()[1:]
            if r.split(",")[2] == "1m"]
    opens = [float(r.split(",")[3]) for r in rows]
    closes = [float(r.split(",")[6]) for r in rows]
    expected, entry = [], None
    for i in range(len(closes) - 1):  # a signal at the last bar is never filled
        enter, leave = bench_engines.indicators(closes, "sma", i)
        if entry is None and enter:
            entry = opens[i + 1]
        elif entry is not None and leave:
            expected.append((entry, opens[i + 1]))
            entry = None
    assert len(expected) > 10
    assert got == expected
