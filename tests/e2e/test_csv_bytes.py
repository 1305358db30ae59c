"""A CSV file with bad bytes, impossible numbers or no text at all: bad rows are
skipped with file and line, a file that is no CSV is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from zepix_core import ZepixError
from zepix_core.market.csvfile import CsvSource

HEADER = b"time,open,high,low,close,volume\n"
GOOD = [b"%d,100,101,99,100.5,3\n" % (1704067260 + 60 * i) for i in range(6)]


def read(path: Path) -> tuple[list[float], list[str]]:
    source = CsvSource({"path": str(path)})
    times = [b.ts for batch in source.batches(threading.Event()) for b in batch]
    return times, source.problems


def test_bad_bytes_impossible_prices_and_times_are_bad_rows_with_file_and_line(
        tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    rows = [
        b"\xef\xbb\xbf" + HEADER,                              # 1: a UTF-8 BOM is read
        GOOD[0],                                               # 2
        b"1704067320,10\xff0,101,99,100.5,3\n",                # 3: a byte that is not UTF-8
        b"1704067320,nan,101,99,100.5,3\n",                    # 4: not finite
        b"1704067320,0,0,0,0,3\n",                             # 5: not positive
        b"1704067320,100,99,101,100,3\n",                      # 6: high < low
        b"99999999999,100,101,99,100.5,3\n",                   # 7: after 2100
        b"-60,100,101,99,100.5,3\n",                           # 8: before 1970
        b"1704067320,100,inf,99,100.5,3\n",                    # 9: not finite
        b"1704067320,100,101,99,100.5,-1\n",                   # 10: negative volume
        b"1704067320,100," + b"1" * (200 * 1024) + b",99,100,3\n",  # 11: a 200 KiB field
        GOOD[1],                                               # 12
    ]
    path.write_bytes(b"".join(rows))
    times, problems = read(path)
    assert times == [1704067260.0, 1704067320.0]
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:{n}" for n in range(3, 12)]
    assert "finite and > 0" in problems[1] and "finite and > 0" in problems[2]
    assert "high < low" in problems[3] and "outside 1970-2100" in problems[4]
    assert "outside 1970-2100" in problems[5] and "volume" in problems[7]
    assert "field larger than field limit" in problems[8] and len(problems[8]) < 300


def test_bad_bytes_in_a_symbol_are_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(b"time,symbol,open,high,low,close,volume\n"
                     b"1704067260,BTC\xfe,100,101,99,100,1\n1704067320,BTC,100,101,99,100,1\n")
    times, problems = read(path)
    assert times == [1704067320.0]
    assert problems == [f"{path}:2: bad row (bytes that are not UTF-8)"]


def test_a_binary_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(HEADER + bytes(range(256)) * 8)
    with pytest.raises(ZepixError, match="not a text file"):
        read(path)


def zepix(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"), "PATH": "/usr/bin",
           "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_run_and_backtest_skip_bad_bytes_and_refuse_a_binary_file(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_bytes(HEADER + b"".join(GOOD[:3]) + b"1704067440,1\xc300,101,99,100,3\n"
                     + b"".join(GOOD[4:]))
    home = tmp_path / "home"
    ran = zepix(home, "run", "--source", "csv", "--source-option", f"path={bars}")
    assert ran.returncode == 0, ran.stderr
    assert "shut down cleanly" in ran.stdout and f"file={bars} line=5 " in ran.stderr
    binary = tmp_path / "blob.csv"
    binary.write_bytes(b"\x00\x01\x02" * 5000)
    for command in (["run"], ["backtest", "price_action_1m"]):
        done = zepix(home, *command, "--source", "csv", "--source-option", f"path={binary}")
        assert done.returncode == 2, (command, done.stderr)
        expected = (f"zepix: error: {binary}: not a text file (it holds NUL bytes); give a "
                    "CSV file with the columns time,open,high,low,close,volume")
        assert done.stderr.strip().splitlines() == [expected], command
    huge = tmp_path / "huge.csv"
    huge.write_bytes(HEADER + b"".join(GOOD[:3]) + b"1704067440," + b"7" * 140_000
                     + b",101,99,100,3\n" + b"".join(GOOD[4:]))
    tested = zepix(home, "backtest", "price_action_1m", "--source", "csv",
                   "--source-option", f"path={huge}")
    assert tested.returncode == 0, tested.stderr
    assert "Traceback" not in tested.stderr and f"file={huge} line=5 " in tested.stderr
