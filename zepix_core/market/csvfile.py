"""The ``csv`` market source: OHLCV bars from one CSV file or a directory of them.

Columns (a header row names them, in any order; extra columns are ignored):

- ``time``: the bar's close time, epoch seconds or ISO 8601 (``2024-01-01T00:01:00Z``)
- ``open``, ``high``, ``low``, ``close``, ``volume``: numbers
- ``symbol``, ``timeframe``: optional; otherwise the ``symbol`` option (default:
  the file's name without ``.csv``) and the ``timeframe`` option (default ``1m``)

Options: ``path`` (a file, or a directory whose ``*.csv`` files are merged by
time), ``symbol``, ``timeframe``, ``on_error`` (``skip``: report a bad row, a
gap or an out-of-order bar with file and line and go on; ``stop``: end with
that one-line error), ``pace`` (real seconds between bars, default 0) and
``batch`` (bars per batch handed to the host, default 4096; with ``pace`` 1).
"""

from __future__ import annotations

import csv
import heapq
import logging
import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zepix_core.contract.errors import ConfigError, ZepixError
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Bar
from zepix_core.market.sources import Options

log = logging.getLogger("zepix.market.csv")

REQUIRED = ("time", "open", "high", "low", "close", "volume")
#: Seconds per bar of a timeframe, to tell a gap.
TIMEFRAMES: Mapping[str, float] = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600,
                                   "4h": 14400, "1d": 86400}


class CsvSource:
    """Bars from CSV files; see the module docstring for columns and options."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        opts = Options("csv", options)
        path = opts.text("path")
        if not path:
            raise ConfigError("source csv: needs the option path=FILE (a .csv file or a "
                              "directory of them)")
        self.path = Path(path)
        self.symbol = opts.text("symbol")
        self.timeframe = opts.text("timeframe", "1m") or "1m"
        self.on_error = opts.choice("on_error", "skip", ("skip", "stop"))
        self.pace = opts.number("pace", 0.0)
        self.batch = max(1, opts.whole("batch", 4096) or 1)
        opts.done()
        self.files = self._files()
        #: One line per problem seen (file:line: what), the latest last.
        self.problems: list[str] = []
        self.reported = 0

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            found = sorted(self.path.glob("*.csv"))
            if not found:
                raise ConfigError(f"source csv: {self.path}: no *.csv files in this directory")
            return found
        if not self.path.is_file():
            raise ConfigError(f"source csv: {self.path}: no such file or directory")
        return [self.path]

    def batches(self, stop: threading.Event) -> Iterator[Sequence[Bar]]:
        bars = (self._read(self.files[0]) if len(self.files) == 1 else
                heapq.merge(*(self._read(f) for f in self.files), key=lambda b: b.ts))
        size = 1 if self.pace else self.batch
        batch: list[Bar] = []
        for bar in bars:
            batch.append(bar)
            if len(batch) >= size:
                yield batch
                batch = []
                if stop.is_set() or (self.pace and stop.wait(self.pace)):
                    return
        if batch and not stop.is_set():
            yield batch

    def _read(self, path: Path) -> Iterator[Bar]:
        try:
            handle = path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise ZepixError(f"{path}: cannot read ({exc.strerror or exc})") from None
        with handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader, [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ZepixError(f"{path}:1: header lacks column(s) {', '.join(missing)}; "
                                 f"needs {','.join(REQUIRED)} (symbol, timeframe optional)")
            yield from self._rows(path, reader, header)

    def _rows(self, path: Path, reader: Iterator[list[str]], header: list[str]) -> Iterator[Bar]:
        """The hot path of a replay: one ``Bar`` per row, checks inline."""
        t, o, h, lo, c, v = (header.index(n) for n in REQUIRED)
        s = header.index("symbol") if "symbol" in header else None
        f = header.index("timeframe") if "timeframe" in header else None
        symbol, timeframe = self.symbol or path.stem, self.timeframe
        #: (symbol, timeframe) -> (time of its last bar, the longest step that is no gap)
        last: dict[tuple[str, str], tuple[float, float]] = {}
        for line, row in enumerate(reader, start=2):
            try:
                sym = row[s] if s is not None else symbol
                tf = row[f] if f is not None else timeframe
                try:
                    ts = float(row[t])
                except ValueError:
                    ts = _time(row[t])
                opens, high, low, close = float(row[o]), float(row[h]), float(row[lo]), float(row[c])
                bar = Bar(sym, tf, ts, opens, high, low, close, float(row[v]))
            except (ValueError, IndexError) as exc:
                self._problem(path, line, f"bad row ({exc})")
                continue
            if not (low <= opens <= high and low <= close <= high):
                self._problem(path, line, "bad row (high/low do not span open and close)")
                continue
            key = (sym, tf)
            seen = last.get(key)
            if seen is None:
                last[key] = (ts, TIMEFRAMES.get(tf, math.inf) * 1.5)
                yield bar
                continue
            before, longest = seen
            if ts <= before:
                self._problem(path, line, f"out-of-order bar: {ts:g} is not after "
                              f"{before:g} for {sym}/{tf}")
                continue
            if ts - before > longest:
                step = TIMEFRAMES[tf]
                self._problem(path, line, f"gap: {(ts - before) / step - 1:.0f} "
                              f"{tf} bar(s) missing before {ts:g} for {sym}/{tf}")
            last[key] = (ts, longest)
            yield bar

    def _problem(self, path: Path, line: int, what: str) -> None:
        text = f"{path}:{line}: {what}"
        if self.on_error == "stop":
            raise ZepixError(f"{text} (on_error = stop)")
        self.reported += 1
        self.problems = [*self.problems[-99:], text]
        log.warning("bad market data", extra=fields(file=str(path), line=line, problem=what))


def _time(text: str) -> float:
    """An ISO 8601 time (no zone: UTC) in epoch seconds."""
    stamp = datetime.fromisoformat(text.strip())  # 3.11 reads a trailing Z
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def write_csv(path: Path, bars: Iterable[Bar]) -> int:
    """Write ``bars`` in the columns this source reads (symbol and timeframe included);
    returns how many. For examples, tests and benchmarks."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["time", "symbol", "timeframe", *REQUIRED[1:]])
        for bar in bars:
            out.writerow([f"{bar.ts:.0f}", bar.symbol, bar.timeframe, repr(bar.open),
                          repr(bar.high), repr(bar.low), repr(bar.close), repr(bar.volume)])
            count += 1
    return count
