"""A deterministic market data source: seeded 1m bars and their 5m, 15m and 1h aggregates.

``MarketReplay`` is what the main job feeds to active strategies when no live
feed is configured. Each symbol follows a random walk whose drift and
volatility switch between regimes (up, down, range, volatile), so trend and
price-action strategies both find something to trade. Every symbol draws from
its own ``random.Random`` seeded with the replay seed and the symbol name:
the same seed gives the same bars, and adding a symbol leaves the others'
paths unchanged.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from zepix_core.contract.model import Bar

#: 2024-01-01T00:00:00Z: on an hour boundary, so aggregates line up with the clock.
DEFAULT_START = 1_704_067_200.0

#: Higher timeframes and how many 1m bars each one spans.
TIMEFRAME_MINUTES: Mapping[str, int] = {"5m": 5, "15m": 15, "1h": 60}

#: Starting prices of the symbols the replay knows; any other symbol starts at 100.
DEFAULT_PRICES: Mapping[str, float] = {"BTCUSD": 42_000.0, "ETHUSD": 2_300.0}


@dataclass(frozen=True)
class Regime:
    """Per-1m-bar log-return drift and volatility of one market phase."""

    name: str
    drift: float
    volatility: float


REGIMES: tuple[Regime, ...] = (
    Regime("up", 0.0005, 0.0014),
    Regime("down", -0.0005, 0.0014),
    Regime("range", 0.0, 0.0010),
    Regime("volatile", 0.0, 0.0028),
)


class _Walk:
    """The price path of one symbol: regime switching plus intrabar extremes."""

    def __init__(self, symbol: str, seed: int, price: float) -> None:
        self.symbol = symbol
        # S311: a seeded, reproducible price path; nothing secret
        self._rng = random.Random(f"{seed}:{symbol}")  # noqa: S311
        self._price = price
        self._regime = REGIMES[0]
        self._left = 0
        self._base_volume = 1_000_000.0 / price

    def step(self, ts: float) -> Bar:
        if self._left <= 0:
            self._regime = self._rng.choice(REGIMES)
            self._left = self._rng.randint(30, 240)
        self._left -= 1
        rng, regime = self._rng, self._regime
        ret = rng.gauss(regime.drift, regime.volatility)
        open_ = self._price
        close = open_ * math.exp(ret)
        high = max(open_, close) * math.exp(abs(rng.gauss(0.0, regime.volatility / 2)))
        low = min(open_, close) * math.exp(-abs(rng.gauss(0.0, regime.volatility / 2)))
        volume = self._base_volume * rng.lognormvariate(0.0, 0.35) * (1.0 + 150.0 * abs(ret))
        self._price = close
        return Bar(self.symbol, "1m", ts, open_, high, low, close, volume)


def aggregate(bars: Sequence[Bar], timeframe: str) -> Bar:
    """Combine consecutive 1m bars of one symbol into one bar of ``timeframe``.

    The result opens at the first bar's open, closes at the last bar's close
    and time, spans their highest high and lowest low and sums their volume.
    Raises ``ValueError`` when ``bars`` is empty, mixes symbols or does not
    hold exactly the number of 1m bars the timeframe spans.
    """
    minutes = TIMEFRAME_MINUTES.get(timeframe)
    if minutes is None:
        raise ValueError(f"unknown timeframe {timeframe!r}; known: {', '.join(TIMEFRAME_MINUTES)}")
    if len(bars) != minutes:
        raise ValueError(f"a {timeframe} bar needs {minutes} 1m bars, got {len(bars)}")
    symbols = {bar.symbol for bar in bars}
    if len(symbols) != 1:
        raise ValueError(f"cannot aggregate bars of several symbols: {sorted(symbols)}")
    first, last = bars[0], bars[-1]
    return Bar(
        symbol=first.symbol,
        timeframe=timeframe,
        ts=last.ts,
        open=first.open,
        high=max(bar.high for bar in bars),
        low=min(bar.low for bar in bars),
        close=last.close,
        volume=sum(bar.volume for bar in bars),
    )


class MarketReplay:
    """Seeded, endless replay of closed bars for several symbols.

    Each call to ``next_bars`` advances the clock by one 1m bar (``step``
    seconds of bar time, 60 by default; a smaller step compresses time) and
    returns the bars that close at that instant: the 1m bar of every symbol,
    in ``symbols`` order, then each higher timeframe bar (5m, 15m, 1h, in that
    order) that closes there. Aggregates are counted from ``start``, so with
    an hour-aligned start they close on the clock's 5-minute, quarter-hour
    and hour boundaries. Iterating over the replay yields the same lists.
    """

    def __init__(
        self,
        symbols: Sequence[str] = ("BTCUSD", "ETHUSD"),
        seed: int = 7,
        start: float = DEFAULT_START,
        step: float = 60.0,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("MarketReplay needs at least one symbol")
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols must be distinct, got {list(symbols)}")
        if not step > 0:
            raise ValueError(f"step must be positive seconds, got {step}")
        starting = {**DEFAULT_PRICES, **(prices or {})}
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.seed = seed
        self.start = start
        self.step = step
        self._walks = {s: _Walk(s, seed, starting.get(s, 100.0)) for s in self.symbols}
        longest = max(TIMEFRAME_MINUTES.values())
        self._recent: dict[str, deque[Bar]] = {s: deque(maxlen=longest) for s in self.symbols}
        self._steps = 0

    @property
    def steps(self) -> int:
        """How many 1m steps have been emitted."""
        return self._steps

    @property
    def now(self) -> float:
        """Close time of the latest emitted step (``start`` before the first)."""
        return self.start + self._steps * self.step

    def next_bars(self) -> list[Bar]:
        """Advance one 1m step and return every bar that closes at it."""
        self._steps += 1
        ts = self.now
        bars = [self._walks[s].step(ts) for s in self.symbols]
        for bar in bars:
            self._recent[bar.symbol].append(bar)
        for timeframe, minutes in TIMEFRAME_MINUTES.items():
            if self._steps % minutes == 0:
                bars.extend(
                    aggregate(list(self._recent[s])[-minutes:], timeframe) for s in self.symbols
                )
        return bars

    def __iter__(self) -> Iterator[list[Bar]]:
        return self

    def __next__(self) -> list[Bar]:
        return self.next_bars()
