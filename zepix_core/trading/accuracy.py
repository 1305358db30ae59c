"""Signal accuracy: did the symbol move the intended way over the next N bars?"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from zepix_core.contract.model import Bar, Intent

#: (symbol, timeframe): the series an intent is judged on.
Series = tuple[str, str]


@dataclass
class _Track:
    count: int = 0
    close: float | None = None
    #: (bar count at which to judge, plugin id, side, close when issued)
    waiting: deque[tuple[int, str, str, float]] = field(default_factory=deque)


class Accuracy:
    """Judges every intent ``horizon`` bars of its series after the bar it answered.

    An intent is a hit when the close ``horizon`` bars later is above the close
    it was issued at (a buy) or below it (a sell); an unchanged close is a miss.
    The series is the intent's symbol in the timeframe of the bar it answered.
    """

    def __init__(self, horizon: int) -> None:
        self.horizon = max(1, horizon)
        self._tracks: dict[Series, _Track] = {}
        self.hits: dict[str, int] = {}
        self.judged: dict[str, int] = {}

    def on_bar(self, bar: Bar) -> None:
        track = self._tracks.get((bar.symbol, bar.timeframe))
        if track is None:
            track = self._tracks[(bar.symbol, bar.timeframe)] = _Track()
        track.count += 1
        track.close = bar.close
        waiting = track.waiting
        while waiting and waiting[0][0] <= track.count:
            _, pid, side, then = waiting.popleft()
            moved = bar.close - then
            hit = moved > 0 if side == "buy" else moved < 0
            self.judged[pid] = self.judged.get(pid, 0) + 1
            if hit:
                self.hits[pid] = self.hits.get(pid, 0) + 1

    def issued(self, intent: Intent, timeframe: str) -> None:
        """Note an intent answered on a bar of ``timeframe`` (after ``on_bar`` of that bar)."""
        track = self._tracks.get((intent.symbol, timeframe))
        if track is None or track.close is None:
            return  # no price of that series known yet: nothing to judge against
        track.waiting.append((track.count + self.horizon, intent.plugin_id, intent.side,
                              track.close))

    def summary(self, plugin_id: str) -> dict[str, object]:
        judged = self.judged.get(plugin_id, 0)
        return {"signal_accuracy": self.hits.get(plugin_id, 0) / judged if judged else None,
                "accuracy_samples": judged, "accuracy_horizon": self.horizon}
