"""Market sources: the bundled replay and csv, chosen by name from the zepix.sources group."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.paths import ROOT
from zepix_core import ConfigError, ZepixError
from zepix_core.app import load_source, source_names
from zepix_core.market.csvfile import CsvSource, write_csv
from zepix_core.market.replay import MarketReplay

HEADER = "time,open,high,low,close,volume\n"


def bars_of(source: object) -> list[tuple[str, str, float, float]]:
    stop = threading.Event()
    return [(b.symbol, b.timeframe, b.ts, b.close)
            for batch in source.batches(stop) for b in batch]  # type: ignore[attr-defined]


def test_both_bundled_sources_are_entry_points() -> None:
    assert {"replay", "csv"} <= set(source_names())
    replay = load_source("replay", {"symbols": "BTCUSD", "steps": "3", "warmup": "2"})
    start = 1_704_067_200.0
    # two warm-up steps, three more; minute 5 closes a 5m bar too
    assert [(b[1], b[2] - start) for b in bars_of(replay)] == [
        ("1m", 60.0), ("1m", 120.0), ("1m", 180.0), ("1m", 240.0), ("1m", 300.0),
        ("5m", 300.0)]


def test_an_unknown_source_or_option_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="no market source named 'feed'; installed: .*csv"):
        load_source("feed", {})
    with pytest.raises(ConfigError, match="source replay: unknown option.* symbls"):
        load_source("replay", {"symbls": "X"})
    with pytest.raises(ConfigError, match="source csv: needs the option path=FILE"):
        load_source("csv", {})


def test_csv_reads_documented_columns_iso_or_epoch_times(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD.csv"
    path.write_text("volume,close,low,high,open,time,note\n"
                    "5,1.1,1.0,1.2,1.05,2024-01-01T00:01:00Z,x\n"
                    "6,1.2,1.0,1.3,1.1,1704067320,y\n", encoding="utf-8")
    assert bars_of(CsvSource({"path": str(path)})) == [
        ("EURUSD", "1m", 1704067260.0, 1.1), ("EURUSD", "1m", 1704067320.0, 1.2)]


def test_bad_rows_gaps_and_disorder_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "X.csv"
    path.write_text(HEADER + "60,1,2,0.5,1.5,1\n"
                    "120,1,2,0.5,oops,1\n"      # line 3: not a number
                    "120,1,2,0.5,1.5,1\n"
                    "60,1,2,0.5,1.5,1\n"        # line 5: out of order
                    "300,1,2,0.5,1.5,1\n"       # line 6: two 1m bars missing
                    "360,1,0.9,0.5,1.5,1\n",    # line 7: high below open and close
                    encoding="utf-8")
    source = CsvSource({"path": str(path)})
    assert [b[2] for b in bars_of(source)] == [60.0, 120.0, 300.0]
    assert [p.split(": ", 1)[0] for p in source.problems] == [
        f"{path}:3", f"{path}:5", f"{path}:6", f"{path}:7"]
    assert "out-of-order bar" in source.problems[1] and "gap: 2 1m bar(s)" in source.problems[2]
    with pytest.raises(ZepixError, match=rf"^{path}:3: bad row .*\(on_error = stop\)$"):
        bars_of(CsvSource({"path": str(path), "on_error": "stop"}))


def test_a_directory_is_merged_by_time_and_a_missing_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "B.csv").write_text(HEADER + "120,1,2,0.5,1,1\n")
    (tmp_path / "A.csv").write_text(HEADER + "60,1,2,0.5,1,1\n120,1,2,0.5,1,1\n")
    assert [(b[0], b[2]) for b in bars_of(CsvSource({"path": str(tmp_path)}))] == [
        ("A", 60.0), ("A", 120.0), ("B", 120.0)]
    with pytest.raises(ConfigError, match=r"^source csv: .*nope.csv: no such file or directory$"):
        CsvSource({"path": str(tmp_path / "nope.csv")})
    (tmp_path / "bad.csv").write_text("when,price\n1,2\n")
    with pytest.raises(ZepixError, match=r"bad.csv:1: header lacks column\(s\) time, open"):
        bars_of(CsvSource({"path": str(tmp_path / "bad.csv")}))


def zepix(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"), "PATH": "/usr/bin",
           "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}  # a free port: never the default 8787
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_zepix_run_with_a_csv_source_feeds_the_bundled_plugins(tmp_path: Path) -> None:
    replay = MarketReplay(symbols=["BTCUSD"])
    count = write_csv(tmp_path / "bars.csv", (b for _ in range(400) for b in replay.next_bars()))
    home = tmp_path / "home"
    done = zepix("run", "--source", "csv", "--source-option", f"path={tmp_path / 'bars.csv'}",
                 home=home)
    assert done.returncode == 0, done.stderr
    fed = sum(int(line.split("; ")[1].split()[0]) for line in done.stdout.splitlines()
              if line.startswith("round "))
    assert fed == count and "shut down cleanly" in done.stdout
    health = json.loads(zepix("health", "--json", home=home).stdout)
    assert {s["plugin_id"]: s["signals_processed"] for s in health}["price_action_1m"] == 400
    missing = zepix("run", "--source", "csv", "--source-option", "path=nope.csv", home=home)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "zepix: error: source csv: nope.csv: no such file or directory"]
    home.mkdir(exist_ok=True)
    (home / "zepix.toml").write_text(f'[market]\nsource = "csv"\npath = "{tmp_path / "bars.csv"}"'
                                     '\non_error = "stop"\n')
    again = zepix("run", home=home)
    assert again.returncode == 0 and "shut down cleanly" in again.stdout


def test_a_third_party_source_from_the_guide_installs_like_a_plugin(
        dists: object, tmp_path: Path) -> None:
    guide = (ROOT / "docs" / "sources.md").read_text()
    code = guide.split("## Writing a source", 1)[1].split("```python\n", 1)[1].split("```")[0]
    dists.add("zepix-ticks", "1.0.0", {"ticks": "zepix_ticks:Ticks"},  # type: ignore[attr-defined]
              {"zepix_ticks": code}, group="zepix.sources")
    source = load_source("ticks", {"symbols": "BTCUSD,ETHUSD", "every": "0", "count": "2"})
    assert [(b[0], b[2]) for b in bars_of(source)] == [
        ("BTCUSD", 60.0), ("ETHUSD", 60.0), ("BTCUSD", 120.0), ("ETHUSD", 120.0)]
    with pytest.raises(ConfigError, match="source ticks: unknown option.*evry"):
        load_source("ticks", {"evry": "1"})
