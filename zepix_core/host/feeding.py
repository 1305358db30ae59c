"""The feed path: bars to the plugins that may take them, intents back, fills told.

``Feeding.feed`` runs under the loop lock. Who gets work is decided once per feed
while every breaker is CLOSED (one handoff to the dispatch thread for the whole
feed), and per bar otherwise (HALF_OPEN admits a few trial bars). Plugins in their
health checks (``turns``) get the bars once out of them, or keep them until the
next feed or round (``hand_over``); canaries get the same bars in shadow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from zepix_core.contract.errors import StorageError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import Bar, Fill, Intent, PluginState
from zepix_core.execution.runner import InProcessRunner, call
from zepix_core.host.bars import OVER_BACKLOG, SHUTDOWN, takers
from zepix_core.host.parts import HostParts
from zepix_core.host.pauses import Pauses
from zepix_core.host.turns import GRACE
from zepix_core.storage import PauseRow

__all__ = ["Feeding"]


class Feeding:
    """Feeds bars and books fills for one host; ``counts`` are the bars and intents
    handed out since the last round (for its summary line)."""

    def __init__(self, host: HostParts, pauses: Pauses) -> None:
        self.host = host
        self.pauses = pauses
        self.counts = [0, 0]

    def feed(self, bars: Sequence[Bar]) -> list[Intent]:
        """Feed ``bars`` in order to every active plugin that answers and whose breaker
        lets it through; returns the active plugins' intents (never a canary's)."""
        with self.host.loop.busy:
            if len(bars) > 1 and not self.host.supervisor.any_breaker_open():
                return self._feed(bars)
            return [i for bar in bars for i in self._feed([bar])]

    def _feed(self, bars: Sequence[Bar]) -> list[Intent]:
        host, paused = self.host, self.pauses.rows
        handed, host.turns.late = [*host.turns.late, *self.hand_over(paused)], []
        runners, left_out, waiting = takers(
            host.slots.values(), host.active(), paused, host.monitor.accepts_work,
            host.supervisor.admits_work, host.turns.is_checking)
        shadow = [r for r in host.versions.shadow_runners() if r.plugin_id not in paused]
        host.bar_accounts.begin()
        by_bar = host.dispatcher.feed_by_bar(runners + shadow if shadow else runners, bars)
        bars = bars[:len(by_bar)]  # a prefix under ``until_answer`` (a backtest)
        host.bar_accounts.end(bars, left_out, [r.plugin_id for r in runners])
        if shadow:
            active = {r.plugin_id for r in runners}
            by_bar = [[i if i.plugin_id in active else replace(i, shadow=True) for i in found]
                      for found in by_bar]
        if waiting:  # in their health checks: a short wait with the loop let go, or kept
            by_bar = self._after_checks(bars, by_bar, waiting, paused)
        fresh = len(handed)
        for found in by_bar:
            if found:
                host.versions.on_intents(found)
                handed.extend(i for i in found if not i.shadow and i.plugin_id not in paused)
        host.trades.on_bars(bars, by_bar)
        host.monitor.count_intents([i.plugin_id for i in handed[fresh:]])
        self.counts[0] += len(bars)
        self.counts[1] += len(handed) - fresh
        return handed

    def _after_checks(self, bars: Sequence[Bar], by_bar: list[Sequence[Intent]],
                      waiting: list[str], paused: Mapping[str, PauseRow]) -> list[Sequence[Intent]]:
        """Plugins that were in their health checks get ``bars`` once out of them (a wait
        of at most ``GRACE`` once per round, the loop let go); the others keep them."""
        host = self.host
        host.turns.wait_out([pid for pid in waiting if not host.turns.is_overdue(pid)], GRACE)
        slots = [s for s in host.active() if s.plugin_id in waiting]
        later, left_out, still = takers(slots, slots, paused, host.monitor.accepts_work,
                                        host.supervisor.admits_work, host.turns.is_checking)
        for plugin_id in still:
            host.bar_accounts.drop(plugin_id, OVER_BACKLOG,
                                   len(host.turns.hold(plugin_id, list(bars))))
        left_out.update({pid: self._not_active(pid) for pid in waiting
                         if pid not in still and pid not in left_out
                         and all(r.plugin_id != pid for r in later)})
        host.bar_accounts.begin()
        more = host.dispatcher.feed_by_bar(later, bars) if later else [()] * len(bars)
        host.bar_accounts.end(bars, left_out, [r.plugin_id for r in later], fed=False)
        return [[*a, *b] for a, b in zip(by_bar, more, strict=True)]

    def _not_active(self, plugin_id: str) -> str:
        """Why a plugin no longer active gets no bars (``bars``: its state)."""
        slot = self.host.slots.get(plugin_id)
        return (slot.state if slot is not None else PluginState.INACTIVE).value.lower()

    def hand_over(self, paused: Mapping[str, PauseRow]) -> list[Intent]:
        """The bars kept for plugins while they were in their health checks, now that
        they are out (``turns``), in order; their intents come before this feed's."""
        host = self.host
        handed: list[Intent] = []
        for plugin_id in list(host.turns.backlog):
            if host.turns.is_checking(plugin_id):
                continue
            kept = host.turns.take(plugin_id)
            slot = host.slots.get(plugin_id)
            slots = [slot] if slot is not None and slot.state is PluginState.ACTIVE else []
            runners, left_out, _ = takers(slots, slots, paused, host.monitor.accepts_work,
                                          host.supervisor.admits_work)
            host.bar_accounts.begin()
            by_bar = (host.dispatcher.feed_by_bar(runners, kept) if runners
                      else [()] * len(kept))
            if not slots:
                left_out = {plugin_id: self._not_active(plugin_id)}
            host.bar_accounts.end(kept, left_out, [r.plugin_id for r in runners], fed=False)
            found = [i for intents in by_bar for i in intents]
            if found:
                host.versions.on_intents(found)
            host.trades.on_late(kept, by_bar)
            host.monitor.count_intents([i.plugin_id for i in found])
            self.counts[1] += len(found)
            handed.extend(found)
        return handed

    def drop_backlog(self, save: bool) -> None:
        """At shutdown: bars still kept for plugins in their checks are never offered
        (counted as dropped; ``save``: the counts are written)."""
        host = self.host
        if not host.turns.backlog:
            return
        for plugin_id in list(host.turns.backlog):
            host.bar_accounts.drop(plugin_id, SHUTDOWN, len(host.turns.take(plugin_id)))
        if save:
            host.outage.best_effort("bar counts", host.bar_accounts.save,
                                    host.store.save_bar_counts, host.host_id)

    def report_fill(self, fill: Fill) -> Intent:
        """Book a fill the bot executed and tell the issuing plugin (``on_fill``).

        Raises ``IntentError`` for an unknown intent id or a shadow intent.
        """
        host = self.host
        intent = host.trades.book(fill)
        try:
            host.store.record_fill(host.host_id, intent, fill)
        except StorageError as exc:  # booked in memory; the plugin still hears of it
            host.outage.failed("fill", exc)
        with host.loop.busy:  # never beside an on_bar or a round's calls
            host.turns.wait_free(intent.plugin_id)
            slot = host.slots.get(intent.plugin_id)
            if (slot is not None and slot.runner is not None
                    and slot.state is PluginState.ACTIVE
                    and host.monitor.accepts_work(slot.plugin_id)):
                told = replace(fill, symbol=intent.symbol, side=intent.side)
                if (host.dispatcher.mode == "inline"
                        and isinstance(slot.runner, InProcessRunner)):
                    # The bot's own thread, as its bars: no handoff per fill (a backtest).
                    result = host.dispatcher.call_here(slot.runner, "on_fill", {"fill": told})
                else:
                    result = call(slot.runner, "on_fill", DEFAULT_DEADLINES["on_fill"],
                                  {"fill": told}, host.clocks.monotonic)
                host.monitor.on_hook(result)
            try:  # a loss that breaches a limit pauses the plugin before its next bar
                host.risk.check([intent.plugin_id], host.clocks.wall())
            except StorageError as exc:
                host.outage.failed("risk", exc)
        return intent
