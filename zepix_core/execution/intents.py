"""Intents: the shape an ``on_bar`` answer must have, and each plugin's limits on them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from zepix_core.contract.errors import PluginError
from zepix_core.contract.model import Bar, Intent

_SIDES = ("buy", "sell")

#: How the reason of an intent dropped over a limit starts.
LIMIT = "over limit: "


@dataclass(frozen=True)
class IntentLimits:
    """Per-plugin limits on intents (``[plugins.<id>]`` keys of the same names)."""

    max_quantity: float | None = None
    max_intents_per_bar: int | None = None
    symbols: frozenset[str] | None = None

    @classmethod
    def of(cls, table: Mapping[str, Any]) -> IntentLimits:
        symbols = table.get("symbols")
        quantity, count = table.get("max_quantity"), table.get("max_intents_per_bar")
        return cls(None if quantity is None else float(quantity),
                   None if count is None else int(count),
                   None if symbols is None else frozenset(symbols))

    def breach(self, intents: Sequence[Intent]) -> str | None:
        """Why ``intents`` (one plugin, one bar) break a limit, or None; the reason
        starts with ``LIMIT`` so the host can tell it from a wrong shape."""
        if self.max_intents_per_bar is not None and len(intents) > self.max_intents_per_bar:
            return (f"{LIMIT}{len(intents)} intents for one bar; max_intents_per_bar is "
                    f"{self.max_intents_per_bar}")
        for intent in intents:
            if self.max_quantity is not None and intent.quantity > self.max_quantity:
                return (f"{LIMIT}intent {intent.symbol} {intent.side} quantity {intent.quantity:g} "
                        f"is over max_quantity {self.max_quantity:g}")
            if self.symbols is not None and intent.symbol not in self.symbols:
                return (f"{LIMIT}intent for {intent.symbol}, which is not in symbols "
                        f"({', '.join(sorted(self.symbols))})")
        return None


NO_LIMITS = IntentLimits()


def parse_intents(plugin_id: str, bar: Bar, value: object,
                  ids: Callable[[], str] = lambda: "") -> list[Intent]:
    """Validate an ``on_bar`` return; raises ``PluginError`` describing the wrong shape."""
    if value is None:
        return []
    # Exact types: the boundary (``plain``) made every reply plain data, and a subclass
    # here would be a plugin's object whose methods are plugin code.
    if type(value) is not list and type(value) is not tuple:
        raise PluginError(f"on_bar returned {type(value).__name__}; return None or a list "
                          "of intent mappings", plugin_id=plugin_id)
    return [_intent(plugin_id, bar, i, item, ids) for i, item in enumerate(value)]


def _intent(plugin_id: str, bar: Bar, index: int, item: object, ids: Callable[[], str]) -> Intent:
    where = f"on_bar intent #{index}"
    if type(item) is not dict:
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
    reason = item.get("reason", "")
    return Intent(ids(), plugin_id, item["symbol"], side, float(qty),
                  None if price is None else float(price),
                  reason if isinstance(reason, str) else str(reason), bar.ts)


def _number(value: object) -> TypeGuard[int | float]:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
