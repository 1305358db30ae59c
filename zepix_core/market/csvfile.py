"""The ``csv`` market source: OHLCV bars from one CSV file or a directory of them.

Columns (a header row names them, in any order; extra columns are ignored):

- ``time`` (or ``timestamp``, ``date``, ``datetime``; the ``time_column`` option
  names another): the bar's close time, in epoch seconds, epoch milliseconds
  (told apart by size) or ISO 8601 (``2024-01-01T00:01:00Z``, no zone: UTC);
  ``time_format`` says which the file used
- ``open``, ``high``, ``low``, ``close``, ``volume``: numbers
- ``symbol``, ``timeframe``: optional; otherwise the ``symbol`` option (default:
  the file's name without ``.csv``) and the ``timeframe`` option (default ``1m``)

Options: ``path`` (a file, or a directory whose ``*.csv`` files are merged by
time), ``symbol``, ``timeframe``, ``on_error`` (``skip``: report a bad row, a
gap or an out-of-order bar with file and line and go on; ``stop``: end with
that one-line error), ``pace`` (real seconds between bars, default 0) and
``batch`` (bars per batch handed to the host, default 4096; with ``pace`` 1) and
``aggregate`` (the timeframes 1m bars are combined into, as the replay does;
default ``5m,15m,1h``, empty for none).
"""

from __future__ import annotations

import csv
import heapq
import io
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
from zepix_core.market.aggregation import DEFAULT, Aggregates, with_aggregates
from zepix_core.market.sources import Options

log = logging.getLogger("zepix.market.csv")

REQUIRED = ("time", "open", "high", "low", "close", "volume")
#: Bar times a row may carry: 1970-01-01 up to 2100-01-01 (epoch seconds).
TIME_RANGE = (0.0, 4102444800.0)
#: A file whose first bytes hold a NUL is no CSV (a database, an archive, an image).
_SNIFF = 8192
#: Other names of the time column, tried in this order when there is no ``time``.
TIME_ALIASES = ("timestamp", "date", "datetime")
#: Epoch times above this are milliseconds (as seconds it is the year 5138).
MILLISECONDS = 1e11
#: Seconds per bar of a timeframe, to tell a gap.
TIMEFRAMES: Mapping[str, float] = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600,
                                   "4h": 14400, "1d": 86400}


class CsvSource:
    """Bars from CSV files; see the module docstring for columns and options."""

    def __init__(self, options: Mapping[str, object]) -> None:
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
        self.time_column = (opts.text("time_column") or "").strip().lower() or None
        self.aggregate = opts.names("aggregate", DEFAULT)
        try:
            Aggregates(self.aggregate)
        except ValueError as exc:
            raise ConfigError(f"source csv: option aggregate: {exc}") from None
        opts.done()
        #: How the times were written: ``epoch seconds``, ``epoch milliseconds`` or
        #: ``ISO 8601`` (None until a row is read; several when files differ).
        self.time_format: str | None = None
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
        bars = with_aggregates(
            self._read(self.files[0]) if len(self.files) == 1 else
            heapq.merge(*(self._read(f) for f in self.files), key=lambda b: b.ts),
            self.aggregate)
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
            handle = path.open("rb")
        except OSError as exc:
            raise ZepixError(f"{path}: cannot read ({exc.strerror or exc})") from None
        with handle:
            if b"\0" in handle.read(_SNIFF):
                raise ZepixError(f"{path}: not a text file (it holds NUL bytes); give a CSV "
                                 "file with the columns " + ",".join(REQUIRED))
            handle.seek(0)
            # Bad bytes become lone surrogates: that row is bad, the file goes on.
            text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape",
                                    newline="")
            reader = csv.reader(text)
            header = self._header(path, [h.strip().lower()
                                         for h in _next_row(reader, path, "header") or []])
            yield from self._rows(path, self._records(path, reader), header)

    def _header(self, path: Path, header: list[str]) -> list[str]:
        """``header`` with its time column renamed ``time``."""
        names = (self.time_column,) if self.time_column else ("time", *TIME_ALIASES)
        found = next((n for n in names if n in header), None)
        if found is not None and found != "time":
            header = ["time" if h == found else ("" if h == "time" else h) for h in header]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            named = (f"time_column={self.time_column} is not in it" if self.time_column else
                     "time may be named timestamp, date or datetime, or "
                     "--source-option time_column=NAME")
            raise ZepixError(f"{path}:1: header lacks column(s) {', '.join(missing)}; needs "
                             f"{','.join(REQUIRED)} (symbol, timeframe optional; {named})")
        return header

    def _records(self, path: Path, reader: Any) -> Iterator[tuple[int, list[str]]]:
        """(line, row) for each row the csv module can split; a row it cannot (a field
        over its 128 KiB limit) is a bad row."""
        while True:
            try:
                for row in reader:  # one loop, no ``next`` and ``try`` per row
                    yield reader.line_num, row
                return
            except csv.Error as exc:  # raised by the reader: the loop goes on after it
                self._problem(path, reader.line_num, f"bad row ({_clip(exc)})")

    def _rows(self, path: Path, records: Iterator[tuple[int, list[str]]],
              header: list[str]) -> Iterator[Bar]:
        """The hot path of a replay: one ``Bar`` per row, checks inline."""
        t, o, h, lo, c, v = (header.index(n) for n in REQUIRED)
        s = header.index("symbol") if "symbol" in header else None
        f = header.index("timeframe") if "timeframe" in header else None
        symbol, timeframe = self.symbol or path.stem, self.timeframe
        #: (symbol, timeframe) -> (time of its last bar, the longest step that is no gap)
        last: dict[tuple[str, str], tuple[float, float]] = {}
        lowest, highest = TIME_RANGE
        for line, row in records:
            try:
                sym = row[s] if s is not None else symbol
                tf = row[f] if f is not None else timeframe
                try:
                    ts = float(row[t])
                    kind = "epoch seconds"
                    if ts > MILLISECONDS:
                        ts, kind = ts / 1000.0, "epoch milliseconds"
                except ValueError:
                    ts, kind = _time(row[t]), "ISO 8601"
                if kind != self.time_format:
                    self._format(kind)
                opens, high, low, close = float(row[o]), float(row[h]), float(row[lo]), float(row[c])
                bar = Bar(sym, tf, ts, opens, high, low, close, float(row[v]))
            except (ValueError, IndexError, OverflowError) as exc:
                self._problem(path, line, f"bad row ({_clip(exc)})")
                continue
            if not (0 < low <= opens <= high < math.inf and low <= close <= high
                    and 0 <= bar.volume < math.inf and lowest <= ts < highest):
                self._problem(path, line, f"bad row ({_why_bad(bar, row[t], TIME_RANGE)})")
                continue
            if not (sym.isascii() and tf.isascii()) and _undecoded(sym + tf):
                self._problem(path, line, "bad row (bytes that are not UTF-8)")
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

    def _format(self, kind: str) -> None:
        seen = self.time_format.split(" and ") if self.time_format else []
        if kind not in seen:
            self.time_format = " and ".join([*seen, kind])

    def _problem(self, path: Path, line: int, what: str) -> None:
        text = f"{path}:{line}: {what}"
        if self.on_error == "stop":
            raise ZepixError(f"{text} (on_error = stop)")
        self.reported += 1
        self.problems = [*self.problems[-99:], text]
        log.warning("bad market data", extra=fields(file=str(path), line=line, problem=what))


def _next_row(reader: Iterator[list[str]], path: Path, what: str) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as exc:
        raise ZepixError(f"{path}:1: cannot read the {what} ({exc})") from None


def _why_bad(bar: Bar, time: str, span: tuple[float, float]) -> str:
    prices = (bar.open, bar.high, bar.low, bar.close)
    if not all(math.isfinite(p) and p > 0 for p in prices):
        return "prices must be finite and > 0"
    if not (math.isfinite(bar.volume) and bar.volume >= 0):
        return "volume must be finite and >= 0"
    if not span[0] <= bar.ts < span[1]:
        return f"time {time[:40]!r} is outside 1970-2100"
    if bar.high < bar.low:
        return "high < low"
    return "high/low do not span open and close"


def _undecoded(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (read as lone surrogates)."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _clip(exc: Exception) -> str:
    """An error about a row, short enough for one log line (a field may be 128 KiB)."""
    text = str(exc).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 120 else text[:117] + "..."


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
