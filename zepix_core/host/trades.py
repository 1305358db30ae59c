"""The host's side of trading: intents handed out, fills booked, accuracy judged.

Every intent the dispatcher returns is remembered (a bounded window) so a
fill can name it; each plugin's fills go into its ``Ledger``; every bar feeds
``Accuracy``; the host records fills and accuracy totals in the database and
``restore``s them at start. ``fields`` adds it all to the plugin's health snapshot under
``host_measured``, next to the plugin's own counters.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from zepix_core.contract.errors import IntentError
from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.model import Bar, Fill, Intent
from zepix_core.execution.dispatch import LIMIT
from zepix_core.execution.runner import CallResult
from zepix_core.trading import Accuracy, Ledger

#: Intents remembered for fills; the oldest are forgotten first.
REMEMBERED = 100_000


class Trades:
    """Intents, fills and accuracy of every plugin of one host (thread-safe)."""

    def __init__(self, horizon: int, remembered: int = REMEMBERED) -> None:
        self.accuracy = Accuracy(horizon)
        self.ledgers: dict[str, Ledger] = {}
        self.intents: OrderedDict[str, Intent] = OrderedDict()
        self.remembered = remembered
        self.dropped: dict[str, tuple[int, str]] = {}
        #: Realised P&L of each booked fill (fill time, amount), per plugin, for risk.
        self.realised: dict[str, list[tuple[float, float]]] = {}
        #: Recorded accuracy totals kept out of this run's figures (``restore(fresh=True)``).
        self.accuracy_base: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def on_bars(self, bars: Sequence[Bar], intents: Sequence[Sequence[Intent]]) -> None:
        """Book bars in order and the intents answered on each (shadow ones included)."""
        with self._lock:
            accuracy, remembered = self.accuracy, self.intents
            for bar, found in zip(bars, intents, strict=True):
                accuracy.on_bar(bar)
                for intent in found:
                    remembered[intent.id] = intent
                    if not intent.shadow:
                        accuracy.issued(intent, bar.timeframe)
            while len(remembered) > self.remembered:
                remembered.popitem(last=False)

    def on_late(self, bars: Sequence[Bar], intents: Sequence[Sequence[Intent]]) -> None:
        """Intents answered on bars booked before (held while the plugin was in its
        health checks): remembered for fills, judged from the close known now."""
        with self._lock:
            for bar, found in zip(bars, intents, strict=True):
                for intent in found:
                    self.intents[intent.id] = intent
                    if not intent.shadow:
                        self.accuracy.issued(intent, bar.timeframe)
            while len(self.intents) > self.remembered:
                self.intents.popitem(last=False)

    def on_bar(self, bar: Bar, intents: Sequence[Intent]) -> None:
        """Book one bar and the intents answered on it (shadow ones included)."""
        self.on_bars([bar], [intents])

    @hookimpl
    def on_work(self, result: CallResult, problem: str | None) -> None:
        """An intent dropped for a per-plugin limit (``dispatch.LIMIT``) is counted."""
        if problem is not None and problem.startswith(LIMIT):
            self.over_limit(result.plugin_id, problem)

    def over_limit(self, plugin_id: str, why: str) -> None:
        with self._lock:
            count = self.dropped.get(plugin_id, (0, ""))[0]
            self.dropped[plugin_id] = (count + 1, why)

    def book(self, fill: Fill) -> Intent:
        """Book ``fill`` into the ledger of the plugin whose intent it fills."""
        _check(fill)
        with self._lock:
            intent = self.intents.get(fill.intent_id)
            if intent is None:
                raise IntentError(f"fill for unknown intent id {fill.intent_id!r}: not handed "
                                  f"out by this host (or older than the last {self.remembered})")
            if intent.shadow:
                raise IntentError(f"fill for intent {fill.intent_id!r} of {intent.plugin_id}: "
                                  "a canary's shadow intent is never to be executed",
                                  plugin_id=intent.plugin_id)
            self._booked(intent.plugin_id, fill.time,
                         self.ledgers.setdefault(intent.plugin_id, Ledger()).book(intent, fill))
            return intent

    def _booked(self, plugin_id: str, ts: float, realised: float) -> None:
        if realised:
            self.realised.setdefault(plugin_id, []).append((ts, realised))

    def pnl_events(self, plugin_id: str) -> list[tuple[float, float]]:
        """``(fill time, realised P&L)`` of every booked fill of ``plugin_id`` that
        realised something (fees included)."""
        with self._lock:
            return list(self.realised.get(plugin_id, ()))

    def restore(self, fills: Sequence[Mapping[str, Any]],
                accuracy: Mapping[str, tuple[int, int]], *, fresh: bool = False) -> None:
        """Rebuild the ledgers from recorded fills and the accuracy totals (at start).
        ``fresh``: the figures start from zero (the recorded totals are kept apart, and
        still added up when saved, so nothing recorded is lost)."""
        with self._lock:
            if fresh:
                self.accuracy_base = dict(accuracy)
                return
            for row in fills:
                intent = Intent(row["intent_id"], row["plugin_id"], row["symbol"], row["side"],
                                row["quantity"], None, "", row["time"])
                realised = self.ledgers.setdefault(row["plugin_id"], Ledger()).book(
                    intent, Fill(row["intent_id"], row["quantity"], row["price"], row["time"],
                                 row["fee"]))
                self._booked(row["plugin_id"], row["time"], realised)
            for pid, (hits, judged) in accuracy.items():
                self.accuracy.hits[pid] = self.accuracy.hits.get(pid, 0) + hits
                self.accuracy.judged[pid] = self.accuracy.judged.get(pid, 0) + judged

    def accuracy_counts(self) -> dict[str, tuple[int, int]]:
        """Every plugin's (hits, judged) totals to save: this run's and any kept apart."""
        with self._lock:
            counts = dict(self.accuracy_base)
            for pid, judged in self.accuracy.judged.items():
                hits, seen = counts.get(pid, (0, 0))
                counts[pid] = (hits + self.accuracy.hits.get(pid, 0), seen + judged)
            return counts

    @hookimpl
    def snapshot_fields(self, plugin_id: str) -> dict[str, Any]:
        """``host_measured`` in the plugin's health snapshot (a ``HostSpec`` hook)."""
        return self.fields(plugin_id)

    def fields(self, plugin_id: str) -> dict[str, Any]:
        """``host_measured`` for the plugin's snapshot, and ``notes`` for its reasons."""
        with self._lock:
            ledger = self.ledgers.get(plugin_id) or Ledger()
            measured = {**ledger.summary(), **self.accuracy.summary(plugin_id)}
            dropped = self.dropped.get(plugin_id)
        notes = []
        if dropped is not None:
            measured["intents_dropped"] = dropped[0]
            notes.append(f"{dropped[0]} intent batch(es) dropped; last {dropped[1]}")
        return {"host_measured": measured, "notes": notes}


def _check(fill: Fill) -> None:
    if not isinstance(fill, Fill):
        raise IntentError(f"report_fill takes a zepix_core.Fill, not {type(fill).__name__}")
    for name in ("quantity", "price", "time", "fee"):
        value = getattr(fill, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise IntentError(f"fill for intent {fill.intent_id!r}: {name} {value!r} is not "
                              "a finite number")
    if fill.quantity <= 0 or fill.price <= 0 or fill.fee < 0:
        raise IntentError(f"fill for intent {fill.intent_id!r}: quantity and price must be "
                          "> 0 and fee >= 0")
