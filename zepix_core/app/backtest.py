"""``zepix backtest``: strategies over historical bars, through the host's own dispatch.

A host on a temporary database and data directory runs only the chosen plugins
(in process, no rounds, no services). Bars from a market source are fed through
``EmbeddedHost.feed``, several instants a feed up to the first with an answer
(``app.batches``); every intent is filled at the open
of the next bar of its symbol through ``report_fill`` (slippage moves the price
against the order, the fee is a share of the notional), so plugins hear of
their fills through ``on_fill`` as they would live. Equity is marked to the
close at every instant; the figures come from ``trading.metrics``. Nothing
random happens here: the same source and seed give the same report.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from itertools import chain
from pathlib import Path

from zepix_core.app import report
from zepix_core.app.batches import drive
from zepix_core.app.book import Book, Costs
from zepix_core.app.embedded import EmbeddedHost
from zepix_core.app.sources import load_source
from zepix_core.contract.api import API_VERSION
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.model import Bar, Fill, Intent, PluginState
from zepix_core.execution.runner import CallResult
from zepix_core.host.host import Host
from zepix_core.loading.config import Config
from zepix_core.market.csvfile import TIMEFRAMES
from zepix_core.market.sources import Source
from zepix_core.storage import Store
from zepix_core.trading.trips import Trips

PLUGIN_GROUP = "zepix.plugins"
#: Replay steps (1m bars per symbol, with their 5m/15m/1h aggregates) when none are asked for.
DEFAULT_STEPS = 2880
#: Seconds an ``on_bar`` may take in a backtest. Live, a bar is late after 1 s; here a
#: call abandoned on a busy machine would change the report, so only a hung plugin
#: is given up on.
BAR_DEADLINE = 60.0
#: No fees, no slippage, 10,000 of capital a plugin (``Costs``' defaults).
NO_COSTS = Costs()


@dataclass
class Result:
    """What a backtest found: per plugin figures and books, and how fast it ran."""

    plugins: list[str]
    bars: int
    seconds: float
    figures: dict[str, dict[str, object]]
    books: dict[str, Book]
    #: Buy and hold of the symbols of the first instant (equal shares), same instants.
    benchmark: Book | None = None
    #: One line per thing the reader should know (no bars of a plugin's timeframe...).
    warnings: list[str] = field(default_factory=list)
    #: How the source's times were read (``epoch seconds``, ``ISO 8601``...), if it says.
    time_format: str | None = None
    #: symbol -> (times, closes) at every instant it had a bar, for the price panel.
    prices: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    @property
    def bars_per_second(self) -> float:
        return self.bars / self.seconds if self.seconds > 0 else 0.0


class HookFailed(ZepixError):
    """A plugin's hook failed during a backtest run that does not allow errors."""


class ScratchStore(Store):
    """The backtest's database, deleted with its run: fills are kept and written in one
    transaction when the run ends (``write_fills``), not in one transaction each (about
    a millisecond a fill, a fifth of a run that trades often)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.kept: list[tuple[str, Intent, Fill]] = []

    def record_fill(self, host_id: str, intent: Intent, fill: Fill) -> int:
        self.kept.append((host_id, intent, fill))
        return 0

    def write_fills(self) -> None:
        kept, self.kept = self.kept, []
        if kept:
            self.record_fills(kept)


@contextmanager
def _scratch_home() -> Iterator[Path]:
    """A temporary ``ZEPIX_HOME``: the plugins' own databases and files of a backtest
    never mix with a live host's."""
    before = os.environ.get("ZEPIX_HOME")
    with tempfile.TemporaryDirectory(prefix="zepix-backtest-") as tmp:
        os.environ["ZEPIX_HOME"] = tmp
        try:
            yield Path(tmp)
        finally:
            if before is None:
                os.environ.pop("ZEPIX_HOME", None)
            else:
                os.environ["ZEPIX_HOME"] = before


def backtest_config(base: Config, plugin_ids: Sequence[str]) -> Config:
    """``base`` with only ``plugin_ids`` enabled, each in process."""
    known = {ep.name for ep in entry_points(group=PLUGIN_GROUP)}
    missing = [p for p in plugin_ids if p not in known]
    if missing:
        raise ZepixError(f"backtest: no installed plugin named {', '.join(missing)}; "
                         f"installed: {', '.join(sorted(known)) or 'none'}")
    plugins: dict[str, Mapping[str, object]] = {p: {"enabled": False} for p in known}
    for pid in plugin_ids:
        plugins[pid] = {**base.plugins.get(pid, {}), "enabled": True, "isolation": "inprocess"}
    return Config(host=base.host, plugins=plugins, path=base.path, sections=base.sections)


def backtest_source(config: Config, name: str | None, options: Mapping[str, object]) -> Source:
    """The source as ``zepix run`` picks it (``name``, else ``[market] source``, else
    ``replay``), options from ``[market]`` then ``options``. The replay runs unpaced for
    ``steps`` (default ``DEFAULT_STEPS``) from ``[host] market_symbols/market_seed``."""
    market = dict(config.sections.get("market", {}))
    chosen = name or str(market.pop("source", "replay"))
    market.pop("source", None)
    merged = {**market, **options}
    if chosen == "replay":
        merged = {"symbols": list(config.host["market_symbols"]),
                  "seed": int(config.host["market_seed"]), "steps": DEFAULT_STEPS,
                  **merged, "pace": 0.0}
    return load_source(chosen, merged)


def _within(bars: Iterable[Bar], start: float | None, end: float | None) -> Iterator[Bar]:
    for bar in bars:
        if (start is None or bar.ts >= start) and (end is None or bar.ts <= end):
            yield bar


def _instants(source: Source, stop: threading.Event, start: float | None,
              end: float | None) -> Iterator[list[Bar]]:
    """The source's bars grouped by close time: what a live feed hands over at once."""
    group: list[Bar] = []
    for batch in source.batches(stop):
        for bar in batch if start is None and end is None else _within(batch, start, end):
            if group and bar.ts != group[0].ts:
                yield group
                group = []
            group.append(bar)
    if group:
        yield group


class Backtest:
    """Feeds bars, fills intents at the next open, marks every plugin's book."""

    def __init__(self, embedded: EmbeddedHost, plugin_ids: Sequence[str], costs: Costs,
                 allow_errors: bool = False) -> None:
        self.embedded = embedded
        self.costs = costs
        self.books = {pid: Book(cash=costs.capital, trips=Trips(pid)) for pid in plugin_ids}
        #: Plugins whose books are not ruined: their answers end a feed (``app.batches``).
        self.trading = set(plugin_ids)
        self.benchmark = Book(cash=costs.capital)
        self.first: dict[str, float] = {}
        self.pending: list[Intent] = []
        self.closes: dict[str, float] = {}
        self.timeframes: set[str] = set()
        self.prices: dict[str, tuple[list[float], list[float]]] = {}
        self.bars = 0
        self.allow_errors = allow_errors
        self.failed: str | None = None

    def on_work(self, result: CallResult, problem: str | None) -> None:
        """Counts a plugin's failed hook calls; the first one fails the run unless
        errors are allowed."""
        book = self.books.get(result.plugin_id)
        what = result.error or problem
        if book is None or what is None:
            return
        book.errors += 1
        line = f"plugin {result.plugin_id}: {result.hook}: {what}"
        book.first_error = book.first_error or line
        if not self.allow_errors and self.failed is None:
            self.failed = line

    def step(self, groups: Sequence[Sequence[Bar]]) -> int:
        """Fill what waits at the first close time's opens, then feed ``groups`` in order
        until the close time of the first answer (the dispatcher's ``until_answer``: the
        plugins see no bar past an intent before it is filled); returns how many close
        times were fed. Past a fill still waiting for its symbol, one close time only."""
        group = groups[0]
        # The next open is that of the symbol's shortest bar: the 5m, 15m and 1h bars
        # closing at the same time opened earlier (whichever came last used to win).
        opens: dict[str, float] = {}
        for bar in sorted(group, key=lambda b: -TIMEFRAMES.get(b.timeframe, math.inf)):
            opens[bar.symbol] = bar.open
        waiting = []
        for intent in self.pending:
            if self.books[intent.plugin_id].ruined:
                continue
            if intent.symbol in opens:
                self._fill(intent, opens[intent.symbol], group[0].ts)
            else:
                waiting.append(intent)
        self.pending = waiting
        if waiting or len(groups) == 1:
            bars: Sequence[Bar] = group
            groups = groups[:1]
        else:
            bars = list(chain.from_iterable(groups))
        found = self.embedded.feed(bars)
        fed = self.embedded.host.dispatcher.delivered if len(groups) > 1 else len(bars)
        used = 0
        while fed > 0:
            fed -= len(groups[used])
            used += 1
        for done in groups[:used - 1]:
            self._after(done)
        self.pending.extend(i for i in found
                            if i.plugin_id in self.books and not self.books[i.plugin_id].ruined)
        if self.failed is not None:
            raise HookFailed(f"backtest: {self.failed} (the run stopped at this first "
                             "error; --allow-errors counts errors and goes on)")
        self._after(groups[used - 1])
        return used

    def _after(self, group: Sequence[Bar]) -> None:
        """The close time of ``group`` was fed: closes, prices and every book marked."""
        ts = group[0].ts
        closes, prices = self.closes, self.prices
        for bar in group:
            closes[bar.symbol] = bar.close
            if bar.timeframe not in self.timeframes:
                self.timeframes.add(bar.timeframe)
        for symbol in {bar.symbol for bar in group} if len(group) > 1 else (group[0].symbol,):
            seen = prices.get(symbol)
            if seen is None:
                seen = prices[symbol] = ([], [])
            seen[0].append(ts)
            seen[1].append(closes[symbol])
        self.bars += len(group)
        for plugin_id, book in self.books.items():
            book.mark(ts, closes)
            if book.ruined and plugin_id in self.trading:
                self.trading.discard(plugin_id)
        self._hold(ts)

    def _hold(self, ts: float) -> None:
        """Buy and hold: the capital in equal shares of the symbols of the first
        instant, bought at their first close, no costs."""
        if not self.first:
            self.first = {s: p for s, p in self.closes.items() if p > 0}
        share = self.costs.capital / max(1, len(self.first))
        self.benchmark.times.append(ts)
        if len(self.first) == 1:  # ``sum`` of one term, without the generator
            [(symbol, price)] = self.first.items()
            self.benchmark.equity.append(0 + share * self.closes[symbol] / price)
        else:
            self.benchmark.equity.append(sum(share * self.closes[s] / p
                                             for s, p in self.first.items()))
        self.benchmark.in_market.append(True)

    def _fill(self, intent: Intent, open_price: float, ts: float) -> None:
        slip = self.costs.slippage if intent.side == "buy" else -self.costs.slippage
        price = open_price * (1.0 + slip)
        fill = Fill(intent_id=intent.id, quantity=intent.quantity, price=price, time=ts,
                    fee=abs(intent.quantity * price) * self.costs.fee)
        self.embedded.report_fill(fill)
        self.books[intent.plugin_id].fill(intent, fill)


def run_backtest(plugin_ids: Sequence[str], source: Source, *, config: Config,
                 costs: Costs = NO_COSTS, start: float | None = None,
                 end: float | None = None, allow_errors: bool = False,
                 dispatch: str = "inline") -> Result:
    """Backtest ``plugin_ids`` over ``source`` (bars with ``start <= ts <= end``).

    Hooks run on the caller's thread (``dispatch = "inline"``: offline there is no
    bot thread to protect, so no handoff per close time), each bounded by its
    deadline (``SIGALRM`` on the main thread, the watchdog elsewhere);
    ``dispatch = "thread"`` is the live engine's dispatch thread, with the same
    results (tests/unit/app/test_backtest_inline.py).

    Raises ``HookFailed`` at the first failed hook call unless ``allow_errors``."""
    if not plugin_ids:
        raise ZepixError("backtest: name at least one plugin id")
    with _scratch_home() as home:
        store = ScratchStore(home / "backtest.db")
        host = Host(backtest_config(config, plugin_ids), store, api_version=API_VERSION)
        host.dispatcher.deadline = BAR_DEADLINE
        host.dispatcher.mode = dispatch
        embedded = EmbeddedHost.start(host, services=False, rounds=False)
        try:
            _require_active(host, plugin_ids)
            engine = Backtest(embedded, plugin_ids, costs, allow_errors)
            host.work_listeners.append(engine.on_work)
            began = time.perf_counter()
            with host.dispatcher.alarm():
                drive(engine, host, _instants(source, host.clocks.stop, start, end))
            seconds = time.perf_counter() - began
            store.write_fills()
            found = {pid: report.figures(engine.books[pid], host, pid) for pid in plugin_ids}
            warnings = [w for pid in plugin_ids
                        if (w := report.missing_timeframes(host, pid, engine.timeframes))]
        finally:
            embedded.close()
    return Result(list(plugin_ids), engine.bars, seconds, found, engine.books,
                  engine.benchmark if engine.benchmark.times else None, warnings,
                  getattr(source, "time_format", None), engine.prices)


def _require_active(host: Host, plugin_ids: Sequence[str]) -> None:
    for pid in plugin_ids:
        slot = host.slots.get(pid)
        if slot is None or slot.state is not PluginState.ACTIVE:
            state = slot.state.value if slot else "not discovered"
            reason = slot.reason if slot else "no entry point"
            raise ZepixError(f"backtest: plugin {pid} is {state}: {reason}")
