"""``zepix backtest`` feeds several close times at once (``Dispatcher.until_answer``):
no plugin ever sees a bar before the fill of its last intent, a hung hook is still
bounded (in Python and asleep in C), and the other plugins trade exactly as they do
without it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory
from tests.paths import ROOT
from zepix_core.app import backtest
from zepix_core.app.backtest import HookFailed, backtest_source, run_backtest
from zepix_core.app.book import Book, Costs
from zepix_core.loading.config import Config

sys.path.insert(0, str(ROOT / "bench"))
import bench_engines

PLUGINS = '''
import time

from zepix_core import hookimpl


class _Base:
    def __init__(self):
        self.seen = 0

    @hookimpl
    def plugin_version(self):
        return "1.0.0"

    @hookimpl
    def health_ping(self, now):
        return True

    @hookimpl
    def get_metrics(self):
        return {"bars": self.seen}

    @hookimpl
    def self_test(self):
        return True


class Waits(_Base):
    """Trades on every 7th 1m bar, long then flat; a bar before the fill of its
    intent is an error (the run stops with it)."""

    def __init__(self):
        super().__init__()
        self.unfilled, self.long = 0, False

    @hookimpl
    def on_bar(self, bar):
        if bar.timeframe != "1m":
            return None
        if self.unfilled:
            raise RuntimeError("a bar came before the fill of my intent")
        self.seen += 1
        if self.seen % 7:
            return None
        self.unfilled, self.long = 1, not self.long
        return [{"symbol": bar.symbol, "side": "buy" if self.long else "sell",
                 "quantity": 1.0}]

    @hookimpl
    def on_fill(self, fill):
        self.unfilled -= 1


class Every(_Base):
    """Buys on every 1m bar."""

    @hookimpl
    def on_bar(self, bar):
        if bar.timeframe != "1m":
            return None
        self.seen += 1
        return [{"symbol": bar.symbol, "side": "buy", "quantity": 1.0}]


class Spins(_Base):
    """Spins in Python from its 50th 1m bar on."""

    @hookimpl
    def on_bar(self, bar):
        if bar.timeframe == "1m":
            self.seen += 1
            while self.seen >= 50:
                pass


class Sleeps(_Base):
    """Sleeps in C (``time.sleep``) on its 50th 1m bar."""

    @hookimpl
    def on_bar(self, bar):
        if bar.timeframe == "1m":
            self.seen += 1
            if self.seen == 50:
                time.sleep(120)
'''


@pytest.fixture
def csv_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.setenv("ZEPIX_DB", str(tmp_path / "zepix.db"))
    factory = DistFactory(tmp_path / "site")
    factory.add("zepix-batch-rules", "1.0.0",
                {"t_waits": "batch_rules:Waits", "t_spins": "batch_rules:Spins",
                 "t_every": "batch_rules:Every",
                 "t_sleeps": "batch_rules:Sleeps"}, {"batch_rules": PLUGINS})
    monkeypatch.syspath_prepend(str(factory.root))
    path = tmp_path / "bars.csv"
    bench_engines._write(path, 600)  # 1m bars with the 5m/15m/1h bars closing with them
    yield path
    factory.cleanup()


def _run(path: Path, plugins: list[str], fee: float = 0.001,
         **kwargs: object) -> backtest.Result:
    source = backtest_source(Config(), "csv", {"path": str(path)})
    return run_backtest(plugins, source, config=Config(), costs=Costs(fee=fee),
                        **kwargs)  # type: ignore[arg-type]


def _book(book: Book) -> tuple[object, ...]:
    return (book.cash, dict(book.positions), book.times, book.equity, book.in_market,
            book.marks, repr(book.trips), book.errors, book.first_error)


def test_no_bar_reaches_a_plugin_before_the_fill_of_its_intent(csv_path: Path) -> None:
    inline = _run(csv_path, ["t_waits"])  # several close times a feed
    threaded = _run(csv_path, ["t_waits"], dispatch="thread")  # one close time a feed
    assert inline.figures["t_waits"]["fills"] == 600 // 7
    assert inline.bars == threaded.bars > 600
    assert inline.figures == threaded.figures
    assert _book(inline.books["t_waits"]) == _book(threaded.books["t_waits"])


def test_the_equity_curve_matches_a_hand_computation(csv_path: Path) -> None:
    """Each close time: the 7th 1m bar's intent filled at the next 1m open (fee 0.1 %),
    then cash plus the position at the close, as the book's definition says."""
    result = _run(csv_path, ["t_waits"])
    groups: dict[str, list[list[str]]] = {}
    for row in csv_path.read_text(encoding="utf-8").splitlines()[1:]:
        fields = row.split(",")  # time, symbol, timeframe, open, high, low, close, volume
        groups.setdefault(fields[0], []).append(fields)
    cash, held, seen, side, long = 10_000.0, None, 0, None, False
    equity = []
    for group in groups.values():
        if side is not None:
            price = float(next(f[3] for f in group if f[2] == "1m"))
            signed = 1.0 if side == "buy" else -1.0
            cash -= signed * price + abs(price) * 0.001
            held, side = (held or 0.0) + signed, None
        for fields in group:
            if fields[2] == "1m":
                seen += 1
                if seen % 7 == 0:
                    long = not long
                    side = "buy" if long else "sell"
        close = float(group[-1][6])
        equity.append(cash + sum(q * close for q in ([] if held is None else [held])))
    book = result.books["t_waits"]
    assert len(equity) == len(book.equity) == 600
    assert book.equity == equity


def test_a_ruined_plugin_answering_on_does_not_change_the_report(csv_path: Path) -> None:
    # A fee of 60 % ruins t_every at its first fill; its answers no longer end a feed.
    inline = _run(csv_path, ["t_every", "t_waits"], fee=0.6, allow_errors=True)
    threaded = _run(csv_path, ["t_every", "t_waits"], fee=0.6, allow_errors=True,
                    dispatch="thread")
    assert inline.books["t_every"].ruined and inline.figures["t_every"]["fills"] == 1
    assert inline.figures == threaded.figures
    assert {p: _book(b) for p, b in inline.books.items()} == \
        {p: _book(b) for p, b in threaded.books.items()}


@pytest.mark.parametrize("hung", ["t_spins", "t_sleeps"])
def test_a_hung_hook_is_bounded_and_the_others_trade_as_without_it(
        csv_path: Path, monkeypatch: pytest.MonkeyPatch, hung: str) -> None:
    monkeypatch.setattr(backtest, "BAR_DEADLINE", 0.5)
    alone = _run(csv_path, ["t_waits"])
    beside = _run(csv_path, ["t_waits", hung], allow_errors=True)
    assert _book(beside.books["t_waits"]) == _book(alone.books["t_waits"])
    book = beside.books[hung]
    assert book.errors == 1
    assert book.first_error is not None and book.first_error.startswith(f"plugin {hung}: on_bar")
    with pytest.raises(HookFailed, match=f"plugin {hung}: on_bar"):
        _run(csv_path, ["t_waits", hung])
