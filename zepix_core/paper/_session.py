"""A paper session (honest counts behind one lock) and the plugin base class built on it."""

from __future__ import annotations

import abc
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from zepix_core.contract.configschema import Key, Table, check_table
from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.model import Bar, PluginContext
from zepix_core.contract.model import Fill as ReportedFill
from zepix_core.contract.replies import SettingSpec
from zepix_core.paper._broker import Clock, Fill, PaperBroker
from zepix_core.paper._journal import Journal
from zepix_core.plugindb import PluginDatabase

Strategy = Callable[[Bar], list[Fill]]


@dataclass(frozen=True)
class SessionSettings:
    """The plugin config keys a paper session reads; every key is optional.

    ``symbols`` (list of str): trade only these (default: every symbol fed);
    ``equity`` (number > 0, default 10000): paper starting equity;
    ``risk_per_trade`` (number in (0, 1), default 0.01): fraction of equity
    lost when a stop is hit. Other keys (the host's own) are ignored.
    """

    symbols: frozenset[str] | None = None
    equity: float = 10_000.0
    risk_per_trade: float = 0.01

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> SessionSettings:
        """Read the settings; ``ValueError`` names the key and what it must be."""
        problems = check_table(SESSION_TABLE, config, ())
        if problems:
            raise ValueError(f"config key {problems[0].key!r}: {problems[0].message}")
        values = {**SESSION_TABLE.defaults(), **SESSION_TABLE.typed(
            {k: v for k, v in config.items() if SESSION_TABLE.key(k)})}
        symbols = values["symbols"]
        return cls(None if symbols is None else frozenset(symbols), values["equity"],
                   values["risk_per_trade"])


def _named(symbols: list[str]) -> str | None:
    return None if all(symbols) else f"got {symbols!r}; expected non-empty symbol names"


#: The keys a session reads, declared once (other keys are the host's or the plugin's).
SESSION_TABLE = Table("plugins.<id>", (
    Key("symbols", "list[str]", None, "trade only these", check=_named,
        words="a list of symbol names such as [\"BTCUSD\"]"),
    Key("equity", "float", 10_000.0, "paper starting equity", minimum=0, above=True),
    Key("risk_per_trade", "float", 0.01, "fraction of equity lost when a stop is hit",
        minimum=0, maximum=1, above=True, below=True),
), open=True)


#: The declaration of ``SessionSettings`` for ``plugin_settings``. ``symbols`` is not in
#: it: that key is the host's own allow-list of a plugin's symbols (checked by the host,
#: passed on to the plugin, and read by the session too).
SESSION_SETTINGS: tuple[SettingSpec, ...] = (
    {"name": "equity", "type": "float", "default": 10_000.0, "min": 1e-9,
     "description": "paper starting equity"},
    {"name": "risk_per_trade", "type": "float", "default": 0.01, "min": 1e-9, "max": 0.999999,
     "description": "fraction of equity lost when a stop is hit"},
)


def bar_problem(bar: Bar) -> str | None:
    """Why ``bar`` cannot be traded on, or ``None`` when it is a sound OHLCV bar."""
    prices = (bar.open, bar.high, bar.low, bar.close)
    if not all(math.isfinite(p) and p > 0 for p in prices):
        return f"non-positive or non-finite price in {prices}"
    if bar.high < max(bar.open, bar.close) or bar.low > min(bar.open, bar.close):
        return f"high {bar.high} / low {bar.low} do not bound open {bar.open} and close {bar.close}"
    if not (math.isfinite(bar.volume) and bar.volume >= 0):
        return f"invalid volume {bar.volume}"
    return None


class PaperSession:
    """One strategy plugin's paper book: bar admission, counters, broker, liveness.

    ``signals_processed`` counts the bars of the session's timeframe the
    strategy evaluated; bars of other timeframes or unlisted symbols are
    received but not evaluated. An unsound bar is an error, a bar that is
    not newer than the last one of its symbol a warning; neither reaches the
    strategy. ``last_activity`` is the wall-clock time of the last ``on_bar``
    call (any timeframe: it shows the feed reaches the plugin), or the start
    time before the first one.
    """

    def __init__(self, plugin_id: str, timeframe: str, *, clock: Clock = time.time) -> None:
        self.plugin_id = plugin_id
        self.timeframe = timeframe
        self.lock = threading.RLock()
        self.log = logging.getLogger(f"zepix.plugin.{plugin_id}")
        self._clock = clock
        self.start({})

    def start(self, config: Mapping[str, object],
              database: PluginDatabase | None = None) -> SessionSettings:
        """Reset every count and position and begin trading with ``config``; with a
        ``database``, record signals and trades there (``context.database``)."""
        settings = SessionSettings.from_config(config)
        with self.lock:
            self.settings = settings
            self.broker = PaperBroker(settings.equity, settings.risk_per_trade)
            self.started_at = self._clock()
            self.last_activity: float | None = None
            self.stopped: str | None = None
            self.bars_received = self.signals_processed = self.errors = self.warnings = 0
            self.fills_reported = 0
            self._last_ts: dict[str, float] = {}
            if database is not None:
                journal = Journal(database, self._journal_error)
                journal.start(self._clock())
                self.broker.book = journal
        return settings

    def _journal_error(self, why: str) -> None:
        with self.lock:
            self.errors += 1

    def stop(self, reason: str) -> None:
        with self.lock:
            self.stopped = reason
            if self.broker.book is not None:
                self.broker.book.close()  # the database's connections, in this process

    def handle(self, bar: Bar, strategy: Strategy) -> list[dict[str, object]] | None:
        """Admit ``bar``, apply stops and targets, run ``strategy``; return the intents.

        An exception from the strategy counts as an error and propagates, so
        the host records it too.
        """
        with self.lock:
            if not self._admit(bar):
                return None
            self.signals_processed += 1
            try:
                fills = self.broker.check_exits(bar)
                fills.extend(strategy(bar))
            except Exception:
                self.errors += 1
                raise
            return [fill.intent() for fill in fills] or None

    def _admit(self, bar: Bar) -> bool:
        self.bars_received += 1
        self.last_activity = self._clock()
        wanted = self.settings.symbols
        if bar.timeframe != self.timeframe or (wanted is not None and bar.symbol not in wanted):
            return False
        if self.stopped is not None:
            return self._reject("warning", f"bar after deactivation ({self.stopped})", bar)
        problem = bar_problem(bar)
        if problem is not None:
            return self._reject("error", problem, bar)
        last = self._last_ts.get(bar.symbol)
        if last is not None and bar.ts <= last:
            return self._reject("warning", f"bar at {bar.ts} is not after {last}", bar)
        self._last_ts[bar.symbol] = bar.ts
        return True

    def _reject(self, kind: Literal["error", "warning"], why: str, bar: Bar) -> bool:
        if kind == "error":
            self.errors += 1
        else:
            self.warnings += 1
        level = logging.ERROR if kind == "error" else logging.WARNING
        self.log.log(
            level,
            "bar skipped plugin=%s symbol=%s timeframe=%s reason=%s",
            self.plugin_id,
            bar.symbol,
            bar.timeframe,
            why,
        )
        return False

    def metrics(self) -> dict[str, int | float]:
        """The contract's recognised counters plus the broker's custom ones."""
        with self.lock:
            broker = self.broker
            return {
                "signals_processed": self.signals_processed,
                "orders_placed": broker.orders_placed,
                "wins": broker.wins,
                "losses": broker.losses,
                "errors": self.errors,
                "warnings": self.warnings,
                "bars_received": self.bars_received,
                "fills_reported": self.fills_reported,
                "open_positions": len(broker.positions),
                "closed_trades": broker.closed_trades,
                "entries_refused": broker.entries_refused,
                "realized_pnl": broker.realized_pnl,
                "equity": broker.equity,
            }

    def health(self, now: float) -> dict[str, object]:
        """The ``health_ping`` answer: running unless deactivated."""
        with self.lock:
            seen = self.last_activity if self.last_activity is not None else self.started_at
            if self.stopped is not None:
                return {
                    "ok": False,
                    "last_activity": seen,
                    "detail": f"deactivated ({self.stopped})",
                }
            detail = (
                f"{self.signals_processed} {self.timeframe} bars evaluated, "
                f"{len(self.broker.positions)} open positions, {self.errors} errors, "
                f"idle {max(0.0, now - seen):.0f}s"
            )
            return {"ok": True, "last_activity": seen, "detail": detail}


class PaperStrategy(abc.ABC):
    """Base of a strategy plugin that paper-trades one timeframe.

    Implements ``health_ping``, ``get_metrics``, ``activate``, ``deactivate``,
    ``config_changed`` (``risk_per_trade`` and ``symbols`` live), ``on_bar`` and
    ``on_fill`` (counted as ``fills_reported``) over a
    ``PaperSession``. A subclass supplies the strategy (``evaluate``,
    ``reset``, ``strategy_metrics``) and its own
    ``plugin_version`` and ``self_test`` hooks. ``activate`` reads the
    ``SessionSettings`` keys from the plugin's config and raises
    ``ValueError`` naming a bad key.
    """

    def __init__(self, plugin_id: str, timeframe: str, *, clock: Clock = time.time) -> None:
        self.session = PaperSession(plugin_id, timeframe, clock=clock)
        self.reset()

    @abc.abstractmethod
    def evaluate(self, bar: Bar) -> list[Fill]:
        """Trade one admitted bar through ``self.session.broker``; return the fills."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget the strategy's state; called at construction and at every activation."""

    @abc.abstractmethod
    def strategy_metrics(self) -> dict[str, int | float]:
        """The strategy's own counters, reported beside the session's."""

    @hookimpl
    def plugin_settings(self) -> list[SettingSpec]:
        """The ``SessionSettings`` keys, declared so the host checks them (extend it to add
        a strategy's own settings)."""
        return list(SESSION_SETTINGS)

    @hookimpl
    def health_ping(self, now: float) -> dict[str, object]:
        return self.session.health(now)

    @hookimpl
    def get_metrics(self) -> dict[str, int | float]:
        with self.session.lock:
            return self.session.metrics() | self.strategy_metrics()

    @hookimpl
    def activate(self, context: PluginContext, config: Mapping[str, object]) -> None:
        with self.session.lock:
            settings = self.session.start(config, getattr(context, "database", None))
            self.reset()
        symbols = "all" if settings.symbols is None else ",".join(sorted(settings.symbols))
        context.logger.info(
            "activated plugin=%s version=%s timeframe=%s symbols=%s risk_per_trade=%s equity=%s",
            context.plugin_id,
            context.version,
            self.session.timeframe,
            symbols,
            settings.risk_per_trade,
            settings.equity,
        )

    @hookimpl
    def deactivate(self, reason: str) -> None:
        self.session.stop(reason)

    @hookimpl
    def plugin_restarted(self, reason: str, restarts: int) -> None:
        """Say in the plugin's log that this instance replaces an earlier one, and why."""
        self.session.log.info("restarted (%d since the host started): %s", restarts, reason)

    @hookimpl
    def config_changed(self, changes: Mapping[str, list[object]]) -> bool:
        """Take a new ``risk_per_trade`` or ``symbols`` live (the next entry is sized or
        admitted by it); anything else, ``equity`` included, asks for a restart."""
        live = {key.rsplit(".", 1)[-1]: new for key, (_old, new) in changes.items()}
        if not live.keys() <= {"risk_per_trade", "symbols"}:
            return False
        with self.session.lock:
            current = self.session.settings
            merged: dict[str, object] = {"equity": current.equity,
                                      "risk_per_trade": current.risk_per_trade}
            if current.symbols is not None:  # unset stays unset (None is not a valid value)
                merged["symbols"] = sorted(current.symbols)
            try:
                settings = SessionSettings.from_config({**merged, **live})
            except ValueError:
                return False  # the restart reports the bad key from activate
            self.session.settings = settings
            self.session.broker.risk_per_trade = settings.risk_per_trade
        return True

    @hookimpl
    def on_bar(self, bar: Bar) -> list[dict[str, object]] | None:
        return self.session.handle(bar, self.evaluate)

    @hookimpl
    def on_fill(self, fill: ReportedFill) -> None:
        """A bot executed one of the session's intents for real. The paper book stays
        as it is (it is the strategy's own view); the host keeps the real one."""
        with self.session.lock:
            self.session.fills_reported += 1
            if isinstance(self.session.broker.book, Journal):
                self.session.broker.book.executed(fill)
