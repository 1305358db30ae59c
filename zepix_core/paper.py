"""Paper trading for strategy plugins: a fill model and a session that keeps honest counts.

The fill model is deliberately plain. An entry fills at the close of the bar
that produced the signal. An open position leaves at its stop or its target
when a later bar's range reaches the level (at that bar's open instead when
the bar opens beyond it, a gap), or at the signal bar's close when the
strategy turns the other way. When one bar reaches both levels the stop is
taken first: a paper model should not flatter a strategy. A closed trade with
a positive P&L is a win, a negative one a loss.

``PaperSession`` wraps a broker with what every strategy plugin reports to the
host: which bars it evaluated, what it ordered, its errors and warnings, and
when it last did anything. Its methods hold one lock, so the health hooks may
be called from another thread while ``on_bar`` runs. ``PaperStrategy`` turns a
session into a plugin: it implements the health, lifecycle and work hooks, and
a subclass supplies the strategy.
"""

from __future__ import annotations

import abc
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._hookspecs import hookimpl
from ._model import Bar, PluginContext

Direction = Literal["long", "short"]
Side = Literal["buy", "sell"]
Clock = Callable[[], float]
Strategy = Callable[[Bar], list["Fill"]]


@dataclass(frozen=True)
class Fill:
    """One paper order, filled in full at ``price``."""

    symbol: str
    side: Side
    quantity: float
    price: float
    ts: float
    reason: str

    def intent(self) -> dict[str, Any]:
        """The trade intent the host expects back from ``on_bar``."""
        return {
            "symbol": self.symbol,
            "side": self.side,
            "quantity": self.quantity,
            "price": self.price,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Position:
    symbol: str
    direction: Direction
    quantity: float
    entry: float
    stop: float
    target: float
    opened_at: float

    def pnl(self, price: float) -> float:
        """Profit of closing the position at ``price``."""
        sign = 1.0 if self.direction == "long" else -1.0
        return sign * (price - self.entry) * self.quantity


@dataclass(frozen=True)
class Trade:
    """A closed position."""

    position: Position
    exit: float
    closed_at: float
    reason: str

    @property
    def pnl(self) -> float:
        return self.position.pnl(self.exit)


class PaperBroker:
    """Positions (at most one per symbol), fills and realised P&L.

    Entries are sized so that reaching the stop loses ``risk_per_trade`` of
    the current equity (starting equity plus realised P&L). Counters cover
    every trade; ``trades`` keeps only the most recent ``history`` of them.
    """

    def __init__(
        self, equity: float = 10_000.0, risk_per_trade: float = 0.01, history: int = 500
    ) -> None:
        self.starting_equity = equity
        self.risk_per_trade = risk_per_trade
        self._positions: dict[str, Position] = {}
        self._trades: deque[Trade] = deque(maxlen=history)
        self.orders_placed = 0
        self.entries_refused = 0
        self.closed_trades = 0
        self.wins = 0
        self.losses = 0
        self.realized_pnl = 0.0

    @property
    def trades(self) -> Sequence[Trade]:
        return tuple(self._trades)

    @property
    def positions(self) -> Sequence[Position]:
        return tuple(self._positions.values())

    def position(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    @property
    def equity(self) -> float:
        return self.starting_equity + self.realized_pnl

    def enter(
        self,
        symbol: str,
        direction: Direction,
        *,
        price: float,
        stop: float,
        target: float,
        ts: float,
        reason: str,
    ) -> list[Fill]:
        """Open a position at ``price``; reverse an opposite one first.

        Returns the fills (none when a position in ``direction`` is already
        open). An entry is refused, and counted in ``entries_refused``, when
        the equity left gives no positive size. Raises ``ValueError`` when the stop and target are not on the
        losing and winning sides of ``price``.
        """
        sign = 1.0 if direction == "long" else -1.0
        if not (sign * (price - stop) > 0 and sign * (target - price) > 0):
            raise ValueError(
                f"{direction} {symbol} at {price}: stop {stop} and target {target} "
                "must lie on either side of the entry"
            )
        held = self._positions.get(symbol)
        if held is not None and held.direction == direction:
            return []
        fills = [] if held is None else [self._close(held, price, ts, f"reverse: {reason}")]
        quantity = self.equity * self.risk_per_trade / abs(price - stop)
        if not (math.isfinite(quantity) and quantity > 0):
            self.entries_refused += 1
            return fills
        self._positions[symbol] = Position(symbol, direction, quantity, price, stop, target, ts)
        fills.append(
            self._fill(
                symbol, "buy" if direction == "long" else "sell", quantity, price, ts, reason
            )
        )
        return fills

    def check_exits(self, bar: Bar) -> list[Fill]:
        """Close the position in ``bar.symbol`` if the bar reached its stop or target."""
        held = self._positions.get(bar.symbol)
        if held is None:
            return []
        long = held.direction == "long"
        stop_hit = bar.low <= held.stop if long else bar.high >= held.stop
        target_hit = bar.high >= held.target if long else bar.low <= held.target
        if stop_hit:
            gapped = bar.open < held.stop if long else bar.open > held.stop
            return [self._close(held, bar.open if gapped else held.stop, bar.ts, "stop-loss")]
        if target_hit:
            gapped = bar.open > held.target if long else bar.open < held.target
            return [self._close(held, bar.open if gapped else held.target, bar.ts, "take-profit")]
        return []

    def close(self, symbol: str, price: float, ts: float, reason: str) -> Fill | None:
        """Close the position in ``symbol`` at ``price``; ``None`` when flat."""
        held = self._positions.get(symbol)
        return None if held is None else self._close(held, price, ts, reason)

    def _close(self, held: Position, price: float, ts: float, reason: str) -> Fill:
        del self._positions[held.symbol]
        trade = Trade(held, price, ts, reason)
        self._trades.append(trade)
        self.closed_trades += 1
        self.realized_pnl += trade.pnl
        self.wins += int(trade.pnl > 0)
        self.losses += int(trade.pnl < 0)
        side: Side = "sell" if held.direction == "long" else "buy"
        return self._fill(held.symbol, side, held.quantity, price, ts, reason)

    def _fill(self, symbol: str, side: Side, qty: float, price: float, ts: float, why: str) -> Fill:
        self.orders_placed += 1
        return Fill(symbol, side, qty, price, ts, why)


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
    def from_config(cls, config: Mapping[str, Any]) -> SessionSettings:
        """Read the settings; ``ValueError`` names the key and what it must be."""
        symbols = config.get("symbols")
        if symbols is not None and (
            isinstance(symbols, str)
            or not isinstance(symbols, Iterable)
            or not all(isinstance(s, str) and s for s in symbols)
        ):
            raise ValueError(
                f"config key 'symbols' must be a list of symbol names, got {symbols!r}"
            )
        equity = _number(config, "equity", cls.equity, lambda v: v > 0, "a number > 0")
        risk = _number(
            config, "risk_per_trade", cls.risk_per_trade, lambda v: 0 < v < 1, "a number in (0, 1)"
        )
        return cls(None if symbols is None else frozenset(symbols), equity, risk)


def _number(
    config: Mapping[str, Any], key: str, default: float, valid: Callable[[float], bool], what: str
) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not valid(float(value)):
        raise ValueError(f"config key {key!r} must be {what}, got {value!r}")
    return float(value)


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

    def start(self, config: Mapping[str, Any]) -> SessionSettings:
        """Reset every count and position and begin trading with ``config``."""
        settings = SessionSettings.from_config(config)
        with self.lock:
            self.settings = settings
            self.broker = PaperBroker(settings.equity, settings.risk_per_trade)
            self.started_at = self._clock()
            self.last_activity: float | None = None
            self.stopped: str | None = None
            self.bars_received = self.signals_processed = self.errors = self.warnings = 0
            self._last_ts: dict[str, float] = {}
        return settings

    def stop(self, reason: str) -> None:
        with self.lock:
            self.stopped = reason

    def handle(self, bar: Bar, strategy: Strategy) -> list[dict[str, Any]] | None:
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
                "open_positions": len(broker.positions),
                "closed_trades": broker.closed_trades,
                "entries_refused": broker.entries_refused,
                "realized_pnl": broker.realized_pnl,
                "equity": broker.equity,
            }

    def health(self, now: float) -> dict[str, Any]:
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

    Implements ``health_ping``, ``get_metrics``, ``activate``, ``deactivate``
    and ``on_bar`` over a ``PaperSession``. A subclass supplies the strategy
    (``evaluate``, ``reset``, ``strategy_metrics``) and its own
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
    def health_ping(self, now: float) -> dict[str, Any]:
        return self.session.health(now)

    @hookimpl
    def get_metrics(self) -> dict[str, int | float]:
        with self.session.lock:
            return self.session.metrics() | self.strategy_metrics()

    @hookimpl
    def activate(self, context: PluginContext, config: Mapping[str, Any]) -> None:
        with self.session.lock:
            settings = self.session.start(config)
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
    def on_bar(self, bar: Bar) -> list[dict[str, Any]] | None:
        return self.session.handle(bar, self.evaluate)


@dataclass(frozen=True)
class Check:
    """One named self-test check."""

    name: str
    passed: bool
    detail: str


def self_test_report(checks: Sequence[Check]) -> dict[str, Any]:
    """The ``self_test`` answer: passed only when every check passed."""
    return {
        "passed": all(check.passed for check in checks),
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks],
    }


def round_trips(intents: Iterable[Mapping[str, Any]]) -> list[float]:
    """P&L of every completed round trip in a sequence of intents, in order.

    Rebuilds positions from the intents alone (per symbol, one fill opens a
    position and the next closes it), so a self test can hold a broker's
    counts against what the strategy actually handed the host.
    """
    held: dict[str, Mapping[str, Any]] = {}
    pnls: list[float] = []
    for intent in intents:
        opening = held.pop(intent["symbol"], None)
        if opening is None:
            held[intent["symbol"]] = intent
            continue
        sign = 1.0 if opening["side"] == "buy" else -1.0
        pnls.append(sign * (intent["price"] - opening["price"]) * opening["quantity"])
    return pnls


def accounting_check(intents: Sequence[Mapping[str, Any]], metrics: Mapping[str, float]) -> Check:
    """Check ``metrics`` against round trips rebuilt from ``intents``; needs at least one trip."""
    trips = round_trips(intents)
    expected = {
        "orders_placed": len(intents),
        "closed_trades": len(trips),
        "wins": sum(1 for pnl in trips if pnl > 0),
        "losses": sum(1 for pnl in trips if pnl < 0),
    }
    wrong = [f"{k} {metrics.get(k)} != {v}" for k, v in expected.items() if metrics.get(k) != v]
    if not math.isclose(sum(trips), metrics.get("realized_pnl", math.nan), abs_tol=1e-6):
        wrong.append(f"realized_pnl {metrics.get('realized_pnl')} != {sum(trips)}")
    if any(i["side"] not in ("buy", "sell") or not i["quantity"] > 0 for i in intents):
        wrong.append("an intent has a bad side or a non-positive quantity")
    if not trips:
        wrong.append("no round trip to reconcile")
    detail = "; ".join(wrong) or f"{len(intents)} orders and {len(trips)} round trips reconcile"
    return Check("accounting", not wrong, detail)


def synthetic_bars(
    closes: Sequence[float],
    *,
    symbol: str = "TEST",
    timeframe: str = "1m",
    start: float = 0.0,
    step: float = 60.0,
    wick: float = 0.001,
) -> list[Bar]:
    """Bars that open at the previous close and reach ``wick`` (a fraction) beyond their body.

    For self tests and unit tests: a deterministic series shaped by its closes.
    """
    bars: list[Bar] = []
    previous = closes[0] if closes else 0.0
    for i, close in enumerate(closes, start=1):
        high = max(previous, close) * (1 + wick)
        low = min(previous, close) * (1 - wick)
        bars.append(Bar(symbol, timeframe, start + i * step, previous, high, low, close, 1.0))
        previous = close
    return bars
