"""Work dispatch: hand each closed bar to the active strategies and check what comes back."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from zepix_core.contract.errors import PluginError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import Bar
from zepix_core.execution.calls import call_many
from zepix_core.execution.runner import CallResult, Clock, Runner

_SIDES = ("buy", "sell")


@dataclass(frozen=True)
class Intent:
    """A trade intent a strategy returned for a bar; the host never executes it itself."""

    plugin_id: str
    symbol: str
    side: str
    quantity: float
    price: float | None
    reason: str
    bar_ts: float


def parse_intents(plugin_id: str, bar: Bar, value: object) -> list[Intent]:
    """Validate an ``on_bar`` return; raises ``PluginError`` describing the wrong shape."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise PluginError(f"on_bar returned {type(value).__name__}; return None or a list "
                          "of intent mappings", plugin_id=plugin_id)
    return [_intent(plugin_id, bar, i, item) for i, item in enumerate(value)]


def _intent(plugin_id: str, bar: Bar, index: int, item: Any) -> Intent:
    where = f"on_bar intent #{index}"
    if not isinstance(item, Mapping):
        raise PluginError(f"{where} is {type(item).__name__}, not a mapping", plugin_id=plugin_id)
    side, qty, price = item.get("side"), item.get("quantity"), item.get("price")
    if not isinstance(item.get("symbol"), str) or side not in _SIDES:
        raise PluginError(f"{where} needs 'symbol' (str) and 'side' ('buy' or 'sell')",
                          plugin_id=plugin_id)
    if not _number(qty) or qty <= 0:
        raise PluginError(f"{where} has quantity {qty!r}; it must be a number > 0",
                          plugin_id=plugin_id)
    if price is not None and not _number(price):
        raise PluginError(f"{where} has price {price!r}; it must be a number",
                          plugin_id=plugin_id)
    return Intent(plugin_id, item["symbol"], side, float(qty),
                  None if price is None else float(price), str(item.get("reason", "")), bar.ts)


def _number(value: object) -> TypeGuard[int | float]:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


#: Receives every work call's result and, for a wrong-shaped return, what is wrong with it.
ResultSink = Callable[[CallResult, "str | None"], None]


class Dispatcher:
    """Feeds bars to runners under the ``on_bar`` deadline and reports each call."""

    def __init__(self, on_result: ResultSink, clock: Clock = time.monotonic,
                 deadline: float = DEFAULT_DEADLINES["on_bar"]) -> None:
        self.on_result = on_result
        self.clock = clock
        self.deadline = deadline

    def feed(self, runners: Sequence[Runner], bars: Sequence[Bar]) -> list[Intent]:
        """Deliver ``bars`` in order; every runner sees each bar before the next one.

        A runner that misses the deadline gets none of the remaining bars of this
        feed: they would only queue behind its stuck call, and each would cost the
        other plugins another full deadline.
        """
        intents: list[Intent] = []
        live = list(runners)
        for bar in bars:
            calls = [(r, "on_bar", {"bar": bar}, self.deadline) for r in live]
            results = call_many(calls, self.clock)
            for result in results:
                intents.extend(self._check(bar, result))
            live = [r for r, res in zip(live, results, strict=True) if not res.timed_out]
        return intents

    def _check(self, bar: Bar, result: CallResult) -> list[Intent]:
        found: list[Intent] = []
        problem = None
        if result.ok:
            try:
                found = parse_intents(result.plugin_id, bar, result.value)
            except PluginError as exc:
                problem = str(exc)
        self.on_result(result, problem)
        return found
