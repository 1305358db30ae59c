"""What became of every bar the host was fed, per plugin (issue 22).

Each bar handed to ``Host.feed`` is, for every plugin the host knows, either
*offered* (its ``on_bar`` was called with it, whatever the call then did) or
*dropped* with one of these reasons:

- the plugin's state when it is not ``ACTIVE`` (``failed``, ``rejected``,
  ``inactive``, ``discovered``);
- ``paused``: an operator paused it (contract section 15);
- ``unresponsive``: it missed its last health ping, or a call it was given up
  on still runs;
- ``not_admitted``: its breaker is open, or its worker is down or being
  restarted;
- ``given_up``: a call of this feed passed its deadline, so it got none of the
  feed's later bars;
- ``over_backlog``, ``shutdown``: kept for a plugin in its health checks
  (``host.turns``) past the backlog's size, or still kept at shutdown.

A bar for a plugin inside its health checks (``host.turns``) is counted when it
is offered after them, or dropped with the reason it then gets no work.

The totals of the host's life are kept in ``zepix.db`` (table ``bar_counts``,
one row per host, plugin, kind and detail) at every round and at the last one
(only the rows that changed since the last write that succeeded: ``save``),
so whoever fed the bars can check that nothing went missing (the chaos soak
does). ``kind`` is ``fed`` (plugin ``""``, detail the timeframe), ``offered``
(detail ``""``) or ``dropped`` (detail the reason).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence

from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.model import Bar, PluginState
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.runner import CallResult, Runner

#: Why a bar was not offered to a plugin, for reasons other than its state.
PAUSED, UNRESPONSIVE, NOT_ADMITTED, GIVEN_UP = ("paused", "unresponsive", "not_admitted",
                                                "given_up")
#: Kept for a plugin in its health checks past ``host.turns.BACKLOG`` bars, or at shutdown.
OVER_BACKLOG, SHUTDOWN = "over_backlog", "shutdown"


class BarAccounts:
    """The counters; ``begin`` and ``end`` bracket one feed, ``called`` counts the
    ``on_bar`` calls the dispatcher reports in between (one per bar offered), heard
    through the host's ``on_work`` and ``on_answers`` hooks (``host.hooks``)."""

    def __init__(self) -> None:
        #: timeframe -> bars fed
        self.fed: Counter[str] = Counter()
        #: plugin -> bars offered
        self.offered: Counter[str] = Counter()
        #: plugin -> reason -> bars dropped
        self.dropped: dict[str, Counter[str]] = {}
        self._calls: Counter[str] | None = None
        #: (plugin, kind, detail) -> bars as last written; a total never goes down.
        self._saved: dict[tuple[str, str, str], int] = {}

    def begin(self) -> None:
        self._calls = Counter()

    @hookimpl
    def on_work(self, result: CallResult, problem: str | None) -> None:
        self.called(result.plugin_id)

    @hookimpl
    def on_answers(self, plugin_id: str, durations: Sequence[float]) -> None:
        self.called(plugin_id, len(durations))

    def called(self, plugin_id: str, calls: int = 1) -> None:
        """The dispatcher reported ``calls`` answered, failed or timed-out ``on_bar``
        calls of ``plugin_id`` (outside a feed: the warm-up's, not counted)."""
        if self._calls is not None:
            self._calls[plugin_id] += calls

    def end(self, bars: Sequence[Bar], left_out: Mapping[str, str],
            given: Iterable[str], fed: bool = True) -> None:
        """The feed of ``bars`` is over: ``left_out`` maps the plugins that were not
        given the feed to why, ``given`` names those that were. ``fed=False``: bars
        counted as fed before, offered now to plugins that were in their health
        checks then (``host.turns``)."""
        calls, self._calls = self._calls or Counter(), None
        count = len(bars)
        if not count:
            return
        if fed:
            self.fed.update(bar.timeframe for bar in bars)
        for plugin_id, reason in left_out.items():
            self.dropped.setdefault(plugin_id, Counter())[reason] += count
        for plugin_id in given:
            offered = min(calls[plugin_id], count)
            self.offered[plugin_id] += offered
            if offered < count:
                self.dropped.setdefault(plugin_id, Counter())[GIVEN_UP] += count - offered

    def drop(self, plugin_id: str, reason: str, count: int) -> None:
        """``count`` bars counted as fed before are dropped for ``plugin_id``."""
        if count:
            self.dropped.setdefault(plugin_id, Counter())[reason] += count

    def rows(self) -> list[tuple[str, str, str, int]]:
        """(plugin, kind, detail, bars) for every counter (see the module's doc)."""
        rows = [("", "fed", timeframe, n) for timeframe, n in sorted(self.fed.items())]
        rows += [(plugin_id, "offered", "", n) for plugin_id, n in sorted(self.offered.items())]
        rows += [(plugin_id, "dropped", reason, n)
                 for plugin_id, reasons in sorted(self.dropped.items())
                 for reason, n in sorted(reasons.items())]
        return rows

    def save(self, write: Callable[[str, list[tuple[str, str, str, int]]], object],
             host_id: str) -> None:
        """``write(host_id, rows)`` with the rows that changed since the last ``save`` whose write returned
        (an idle round writes nothing); a write that raises is tried again in full at
        the next ``save``, and the exception goes on to the caller."""
        saved = self._saved
        rows = [row for row in self.rows() if saved.get(row[:3]) != row[3]]
        if not rows:
            return
        write(host_id, rows)
        saved.update((row[:3], row[3]) for row in rows)


def takers(slots: Iterable[PluginSlot], active: Sequence[PluginSlot], paused: Container[str],
           accepts: Callable[[str], bool], admits: Callable[[PluginSlot], bool],
           checking: Callable[[str], bool] | None = None,
           ) -> tuple[list[Runner], dict[str, str], list[str]]:
    """The runners of the ``active`` plugins that get the next feed, why each other
    plugin of ``slots`` does not, and the plugins in their health checks now
    (``checking``; ``host.turns``), which get it later or keep it. ``admits`` is asked
    last (in HALF_OPEN a True reserves a trial call)."""
    runners: list[Runner] = []
    waiting: list[str] = []
    left_out = {s.plugin_id: s.state.value.lower() for s in slots
                if s.state is not PluginState.ACTIVE}
    for slot in active:
        plugin_id = slot.plugin_id
        if slot.runner is None:
            left_out[plugin_id] = NOT_ADMITTED
        elif plugin_id in paused:
            left_out[plugin_id] = PAUSED
        elif not accepts(plugin_id):
            left_out[plugin_id] = UNRESPONSIVE
        elif checking is not None and checking(plugin_id):
            waiting.append(plugin_id)
        elif not admits(slot):
            left_out[plugin_id] = NOT_ADMITTED
        else:
            runners.append(slot.runner)
    return runners, left_out, waiting
