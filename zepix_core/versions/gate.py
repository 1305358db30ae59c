"""The probation gate: a version runs on probation until it passes, and is rolled back
when it fails.

A version that never passed its gate must pass ``self_test`` and stay
HEALTHY, with its circuit breaker closed, through ``probation_rounds``
monitoring rounds. Any other status, a failed self-test, an open breaker, or
the plugin leaving ACTIVE fails it: the host returns to the version that ran
before (unless that is deprecated, then to the last known good one), records
why with the actor ``gate``, and raises a HIGH alert. ``HostVersions``
(``_reconcile``) starts probations and calls ``advance`` after every round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel, BreakerState, HealthStatus, PluginState
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.ports import PortsOf
from zepix_core.health.monitor import Monitor
from zepix_core.loading.discovery import EntryRecord
from zepix_core.storage.repos import GateRepo
from zepix_core.versions.rules import (
    VersionFacts,
    find,
    gather,
    last_known_good,
    same,
    skipped_below,
)

log = logging.getLogger("zepix.versions")
GATE = "gate"
#: Replace a plugin's instance with another version: ``move(plugin_id, record, reason)``.
Move = Callable[[str, EntryRecord, str], PluginSlot]


@dataclass
class Probation:
    """A version on probation, judged on one activation (``activation``).

    ``quiet``: the version started as it did before, nobody asked for a change.
    It earns its gate after ``rounds`` healthy rounds in a row, counted from the
    monitor's round ``base``, without events, alerts or rollback: there is
    nothing to roll back to, and the monitor already alerts on its health.
    """

    plugin_id: str
    version: str
    previous: str | None
    rounds: int
    activation: int | None
    quiet: bool = False
    rounds_ok: int = 0
    base: int = 0


class Gate:
    """The host's probations; ``installed(plugin_id)`` lists the versions to fall back
    to, ``move`` loads one."""

    def __init__(self, ports: PortsOf[GateRepo], monitor: Monitor, breaker: Callable[[str], BreakerState],
                 rounds: int, installed: Callable[[str], dict[str, EntryRecord]],
                 move: Move) -> None:
        self.ports = ports
        self.monitor = monitor
        self.breaker = breaker
        self.rounds = rounds
        self.installed = installed
        self.move = move
        self.probations: dict[str, Probation] = {}

    def begin(self, slot: PluginSlot, previous: str | None, quiet: bool = False) -> Probation:
        """Put the version ``slot`` runs on probation; failing it returns to ``previous``."""
        p = Probation(slot.plugin_id, slot.version, previous, self.rounds,
                      slot.activation_id, quiet)
        self.probations[p.plugin_id] = p
        if quiet:
            return p
        now = self.ports.clocks.wall()
        self.ports.store.save_probation(p.plugin_id, p.version, previous, p.rounds, 0, now)
        self.ports.store.record_event(
            p.plugin_id, "probation_started", f"{p.version} on probation for {p.rounds} "
            f"round(s)" + (f"; falls back to {previous}" if previous else ""), now, p.version,
            GATE)
        return p

    def advance(self) -> None:
        """Judge every probation on this round's verdicts (after each round). The quiet
        passes (every plugin at start-up) are written in one transaction, after the
        loop or before a failure reads the versions."""
        quiet: list[tuple[str, str, bool | None]] = []
        try:
            self._advance(quiet)
        finally:
            self.ports.store.end_probations(quiet)

    def _advance(self, quiet: list[tuple[str, str, bool | None]]) -> None:
        for p in list(self.probations.values()):
            slot = self.ports.plugins.get(p.plugin_id)
            if slot is None or slot.version != p.version:
                del self.probations[p.plugin_id]
                self.ports.store.end_probation(p.plugin_id, p.version, None)
                continue
            watched = self.monitor.watched.get(p.plugin_id)
            trouble = self._trouble(slot, p)
            if trouble is not None and p.quiet:  # start counting again
                p.activation, p.rounds_ok = slot.activation_id, 0
                p.base = watched.rounds if watched else 0
                continue
            if trouble is not None:
                self.ports.store.end_probations(quiet)
                quiet.clear()
                self.fail(p, trouble)
                continue
            rounds = min(watched.rounds - p.base, p.rounds) if watched else 0
            if rounds > p.rounds_ok:
                p.rounds_ok = rounds
                if not p.quiet:
                    self.ports.store.save_probation(p.plugin_id, p.version, p.previous,
                                                   p.rounds, rounds, self.ports.clocks.wall())
            if watched and rounds >= p.rounds and watched.health.self_test_passed:
                if p.quiet:
                    del self.probations[p.plugin_id]
                    quiet.append((p.plugin_id, p.version, True))
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug("probation passed", extra=fields(
                            plugin=p.plugin_id, version=p.version, rounds=p.rounds, quiet=True))
                else:
                    self._pass(p)

    def _trouble(self, slot: PluginSlot, p: Probation) -> str | None:
        """What fails the gate this round, or None."""
        if slot.state is not PluginState.ACTIVE:
            return f"it is {slot.state.value}: {slot.reason}"
        if slot.activation_id != p.activation:
            return "it was restarted during its probation (see 'zepix history --events')"
        watched = self.monitor.watched.get(slot.plugin_id)
        if watched is None or watched.rounds == 0:
            return None  # activated after this round's checks: judged next round
        health = watched.health
        if health.self_test_passed is False:
            return "self_test failed"
        breaker = self.breaker(slot.plugin_id)
        if breaker is not BreakerState.CLOSED:  # bars stopped reaching it: its errors stop too
            return f"its circuit breaker is {breaker.value} after failed on_bar calls"
        if health.status is not HealthStatus.HEALTHY:
            return f"{health.status.value}: " + "; ".join(b.message for b in health.reasons)
        return None

    def _pass(self, p: Probation) -> None:
        del self.probations[p.plugin_id]
        self.ports.store.end_probation(p.plugin_id, p.version, True)
        message = f"{p.plugin_id} {p.version} passed its gate ({p.rounds} healthy rounds)"
        self.ports.store.record_event(p.plugin_id, "gate_passed", message,
                                     self.ports.clocks.wall(), p.version, GATE)
        self.monitor.alerting.raise_event(p.plugin_id, "version_gate", AlertLevel.INFO,
                                               message, firing=False)
        log.info("probation passed", extra=fields(plugin=p.plugin_id, version=p.version,
                                                  rounds=p.rounds, quiet=False))

    def fail(self, p: Probation, why: str) -> None:
        """End ``p`` failed and roll back, unless a newer request decides what runs."""
        pid, db, now = p.plugin_id, self.ports.store, self.ports.clocks.wall()
        del self.probations[pid]
        db.end_probation(pid, p.version, False)
        message = (f"{pid} {p.version} failed its gate after {p.rounds_ok}/{p.rounds} "
                   f"healthy round(s): {why}")
        db.record_event(pid, "gate_failed", message, now, p.version, GATE)
        said = {"plugin": pid, "version": p.version, "why": why}
        facts = gather(self.installed(pid), db.all_versions().get(pid, {}))
        target = self._fallback(facts, p)
        alerting = self.monitor.alerting
        if target is None or target.record is None:
            skipped = "; ".join(skipped_below(facts, p.version)) or "no earlier version"
            alerting.raise_event(pid, "version_gate", AlertLevel.CRITICAL,
                                 f"{message}; no version to roll back to ({skipped})")
            log.error("gate failed, nothing to roll back to", extra=fields(**said))
            return
        reason = f"gate: {message}; rollback to {target.version}"
        if not db.set_desired_if(pid, target.version, p.version, GATE, reason, now,
                                 expect=p.version):
            db.record_event(pid, "rollback_skipped", f"{message}; a newer request decides "
                            "what runs next", now, p.version, GATE)
            log.warning("gate failed, a newer request decides", extra=fields(**said))
            return
        slot = self.move(pid, target.record, reason)
        log.warning("gate failed, rolled back", extra=fields(**said, to=target.version,
                                                             state=slot.state.value))
        tail = "" if slot.state is PluginState.ACTIVE else (
            f"; {target.version} is {slot.state.value}: {slot.reason}")
        alerting.raise_event(pid, "version_gate", AlertLevel.HIGH, reason + tail)
        if slot.state is PluginState.ACTIVE and not target.gate_passed:
            self.begin(slot, None)

    @staticmethod
    def _fallback(facts: Sequence[VersionFacts], p: Probation) -> VersionFacts | None:
        previous = find(facts, p.previous)
        if (previous is not None and previous.record is not None and not previous.deprecated
                and not same(previous.version, p.version)):
            return previous
        return last_known_good(facts, p.version)
