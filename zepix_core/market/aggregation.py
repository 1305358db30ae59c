"""Higher timeframes from a stream of 1m bars, closing where the replay's close.

The replay (``market.replay``) emits a 5m, 15m and 1h bar of a symbol after
the 1m bar that ends the period; with its hour-aligned start these close on
the clock's boundaries. ``Aggregates`` does the same for any stream of 1m
bars (a CSV file): after a 1m bar whose close time is on a boundary of a
timeframe, it emits that timeframe's bar made of the 1m bars of the period,
if every one of them is there (a gap leaves the period out rather than
inventing a bar). A symbol that brings its own bars of a timeframe is not
aggregated to it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

from zepix_core.contract.model import Bar
from zepix_core.market.replay import TIMEFRAME_MINUTES, aggregate

#: What the ``csv`` source aggregates 1m bars to unless told otherwise.
DEFAULT = tuple(TIMEFRAME_MINUTES)


class Aggregates:
    """Feeds 1m bars in; ``after(bar)`` returns the bars that close with it."""

    def __init__(self, timeframes: Sequence[str] = DEFAULT) -> None:
        unknown = [t for t in timeframes if t not in TIMEFRAME_MINUTES]
        if unknown:
            raise ValueError(f"cannot aggregate to {', '.join(unknown)}; "
                             f"known: {', '.join(TIMEFRAME_MINUTES)}")
        self.timeframes = tuple(sorted(timeframes, key=TIMEFRAME_MINUTES.__getitem__))
        longest = max((TIMEFRAME_MINUTES[t] for t in self.timeframes), default=1)
        self._recent: dict[str, deque[Bar]] = {}
        self._longest = longest
        self._own: set[tuple[str, str]] = set()
        self._steps = [(t, TIMEFRAME_MINUTES[t], TIMEFRAME_MINUTES[t] * 60)
                       for t in self.timeframes]
        #: Every period is a multiple of this: a bar off it closes none (most bars).
        self._every = math.gcd(*(seconds for _, _, seconds in self._steps)) or 60

    def after(self, bar: Bar) -> list[Bar]:
        if bar.timeframe != "1m":
            self._own.add((bar.symbol, bar.timeframe))
            return []
        recent = self._recent.get(bar.symbol)
        if recent is None:  # not ``setdefault``: that built a deque for every bar
            recent = self._recent[bar.symbol] = deque(maxlen=self._longest)
        recent.append(bar)
        if bar.ts % self._every:
            return []
        out = []
        for tf, minutes, seconds in self._steps:
            if bar.ts % seconds or (bar.symbol, tf) in self._own or len(recent) < minutes:
                continue
            period = list(recent)[-minutes:]
            if period[-1].ts - period[0].ts == (minutes - 1) * 60:
                out.append(aggregate(period, tf))
        return out

    def kept(self, bars: Sequence[Bar]) -> list[Bar]:
        """``bars`` but those of a symbol and timeframe the stream brings itself."""
        return [b for b in bars if (b.symbol, b.timeframe) not in self._own]


def with_aggregates(bars: Iterable[Bar], timeframes: Sequence[str] = DEFAULT) -> Iterator[Bar]:
    """``bars`` (oldest first) with the aggregates of their 1m bars after the last bar
    of the same instant (so a file's own bar of that instant is seen first)."""
    if not timeframes:
        yield from bars
        return
    agg = Aggregates(timeframes)
    pending: list[Bar] = []
    for bar in bars:
        if pending and bar.ts != pending[0].ts:
            yield from agg.kept(pending)
            pending = []
        yield bar
        pending.extend(agg.after(bar))
    yield from agg.kept(pending)
