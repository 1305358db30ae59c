"""The supervisor's side of the work: who gets the next bar, and each plugin's circuit
breaker (records of the dispatcher's results, transitions, operator overrides and the
``breaker`` fields of every health snapshot). ``Supervisor`` mixes it in.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from typing import Any

from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel, BreakerState
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.ports import PortsOf
from zepix_core.execution.runner import CallResult
from zepix_core.health.monitor import Monitor
from zepix_core.storage.repos import SupervisorRepo
from zepix_core.supervision.breaker import Transition
from zepix_core.supervision.guard import RestartRecord
from zepix_core.supervision.loopthread import LoopThread

log = logging.getLogger("zepix.supervisor")


class WorkAndBreakers(abc.ABC):
    """Work admission and circuit breakers over ``guards`` (one ``RestartRecord`` per plugin)."""

    guards: dict[str, RestartRecord]
    ports: PortsOf[SupervisorRepo]
    monitor: Monitor
    loop: LoopThread

    @abc.abstractmethod
    def guard(self, plugin_id: str) -> RestartRecord:
        """The plugin's record, made on first use (``Supervisor`` keeps them)."""

    @abc.abstractmethod
    def event(self, plugin_id: str, kind: str, detail: str, actor: str = "host") -> None:
        """Record one supervision event of the plugin (the history's row)."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Send the alerts decided so far."""

    def admits_work(self, slot: PluginSlot) -> bool:
        """Whether ``slot`` gets the next bar: running, no restart pending, breaker not
        OPEN. Ask last: a True in HALF_OPEN reserves one trial call."""
        runner = slot.runner
        if runner is None or not runner.alive():
            return False
        guard = self.guards.get(slot.plugin_id) or self.guard(slot.plugin_id)
        return not _pending(guard, slot) and guard.breaker.allow()

    def any_breaker_open(self) -> bool:
        """Whether some breaker is not CLOSED (work is then admitted bar by bar)."""
        return any(g.breaker.state is not BreakerState.CLOSED
                   for g in list(self.guards.values()))

    @hookimpl
    def on_work(self, result: CallResult, problem: str | None) -> None:
        """The dispatcher's sink: the monitor's record, then the breaker's."""
        self.flush()  # a crash inside on_bar: its alert before anything else
        self.monitor.on_work(result, problem)
        guard = self.guards.get(result.plugin_id)
        if guard is not None:
            guard.breaker.record(result.ok and problem is None)

    @hookimpl
    def on_answers(self, plugin_id: str, durations: Sequence[float]) -> None:
        """The dispatcher's sink for work calls of one plugin that answered in shape."""
        self.flush()
        self.monitor.on_answers(plugin_id, durations)
        guard = self.guards.get(plugin_id)
        if guard is not None:
            guard.breaker.record_successes(len(durations))

    def _transition(self, plugin_id: str, change: Transition) -> None:
        self.event(plugin_id, "breaker", f"{change.old} -> {change.new}: {change.reason}")
        log.warning("breaker", extra=fields(plugin=plugin_id, old=change.old.value,
                                            new=change.new.value, reason=change.reason))
        if change.new is BreakerState.OPEN:
            retry = self.guard(plugin_id).limits.breaker_open_for
            self.loop.alert(plugin_id, "breaker", AlertLevel.HIGH,
                        f"circuit breaker OPEN: {change.reason}; no market data until it "
                        f"closes (trial calls after {retry:g}s)")
        elif change.new is BreakerState.CLOSED:
            self.loop.alert(plugin_id, "breaker", AlertLevel.HIGH,
                        f"circuit breaker closed again: {change.reason}", firing=False)

    def breaker_state(self, plugin_id: str) -> BreakerState:
        """The state of the plugin's circuit breaker (CLOSED before its first bar)."""
        guard = self.guards.get(plugin_id)
        return BreakerState.CLOSED if guard is None else guard.breaker.stats().state

    @hookimpl
    def snapshot_fields(self, plugin_id: str) -> dict[str, Any]:
        """``breaker`` (its state) and ``breaker_detail`` for the plugin's health snapshot."""
        guard = self.guards.get(plugin_id)
        if guard is None:
            return {"breaker": BreakerState.CLOSED.value, "breaker_detail": None}
        stats = guard.breaker.stats()
        retry = stats.retry_at
        return {"breaker": stats.state.value, "breaker_detail": {
            "consecutive_failures": stats.consecutive_failures,
            "calls_in_window": stats.calls_in_window, "failure_rate": stats.failure_rate,
            "retry_in_s": None if retry is None
            else max(0.0, retry - self.ports.clocks.monotonic()),
            "last_failure_at": stats.last_failure_at, "forced_open": stats.forced}}

    def open_breaker(self, plugin_id: str, actor: str) -> None:
        """Force the plugin's breaker OPEN until an operator resets it (recorded)."""
        self.guard(plugin_id).breaker.force_open(f"opened by {actor}")
        self.event(plugin_id, "breaker_open", f"forced open by {actor}", actor=actor)

    def reset_breaker(self, plugin_id: str, actor: str) -> None:
        """Close the plugin's breaker (recorded)."""
        self.guard(plugin_id).breaker.reset()
        self.event(plugin_id, "breaker_reset", f"reset by {actor}", actor=actor)


def _pending(guard: RestartRecord, slot: PluginSlot) -> bool:
    """Whether a restart is due for ``slot`` itself, not for an instance it replaced."""
    return guard.due is not None and guard.instance is slot
