"""The host: discovery to activation at startup, the run loop, and clean shutdown.

The host only sequences; each step is owned elsewhere: discovery
(``_discovery``), resolution (``_resolution``), one plugin's lifecycle
(``_lifecycle``), storage (``_storage``), work dispatch (``_dispatch``),
monitoring (``_monitor``) and supervision (``_supervisor``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil
from packaging.version import Version

from zepix_core.contract.errors import StorageError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import Bar, Fill, Intent, PluginState
from zepix_core.execution.dispatch import LIMIT, Dispatcher, IntentLimits
from zepix_core.execution.lifecycle import (
    PluginSlot,
    RunnerFactory,
    activate,
    deactivate,
    inprocess_runner,
    load,
    read_meta,
)
from zepix_core.execution.runner import CallResult, Clock, Runner, call, call_many
from zepix_core.health.monitor import Monitor
from zepix_core.host.trades import Trades
from zepix_core.loading.config import Config, load_config
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins
from zepix_core.loading.paths import config_path, db_path
from zepix_core.loading.resolution import Candidate, resolve
from zepix_core.market.replay import MarketReplay
from zepix_core.storage import Row, Store
from zepix_core.supervision.supervisor import Supervisor
from zepix_core.versions.reconcile import HostVersions

log = logging.getLogger("zepix.host")


@dataclass
class Clocks:
    """Injectable time: ``monotonic`` for deadlines, ``wall`` for records, ``wait`` to sleep.

    ``wait(seconds)`` returns True when the host was asked to stop meanwhile.
    """

    monotonic: Clock = time.monotonic
    wall: Clock = time.time
    stop: threading.Event = field(default_factory=threading.Event)

    def wait(self, seconds: float) -> bool:
        return self.stop.wait(max(0.0, seconds))


class Host:
    """Discovers, resolves, activates and supervises plugins; see ``create_host``."""

    def __init__(self, config: Config, store: Store, *, api_version: str,
                 paths: Sequence[str] | None = None, clocks: Clocks | None = None,
                 runner_factories: dict[str, RunnerFactory] | None = None) -> None:
        self.config = config
        self.store = store
        self.api_version = api_version
        self.paths = paths
        self.clocks = clocks or Clocks()
        self.factories: dict[str, RunnerFactory] = {"inprocess": inprocess_runner}
        self.factories.update(runner_factories or {})
        self.slots: dict[str, PluginSlot] = {}
        self.order: list[str] = []
        self.host_id = uuid.uuid4().hex
        self.started = False
        self.monitor = Monitor(self)
        self.supervisor = Supervisor(self)
        self.versions = HostVersions(self)
        self.dispatcher = Dispatcher(self._on_work, self.clocks.monotonic,
                                     on_stuck=self._on_stuck, id_prefix=self.host_id[:8] + "-",
                                     on_answers=self._on_answers)
        self.trades = Trades(int(config.host["accuracy_horizon"]))
        self.monitor.annotators.append(self.trades.fields)
        self.market = MarketReplay(symbols=config.host["market_symbols"],
                                   seed=int(config.host["market_seed"]))
        #: Bars and intents handed out since the last round, for its summary line.
        self.counts = [0, 0]

    # -- startup -----------------------------------------------------------
    def discover(self) -> list[PluginSlot]:
        """Enumerate, load and read metadata of every plugin, then resolve; no activation."""
        slots = [PluginSlot(record=rec, config=self.config.plugin(rec.plugin_id),
                            state=rec.state, reason=rec.reason and f"{rec.label}: {rec.reason}")
                 for rec in self.versions.select(enumerate_plugins(self.paths))]
        # A duplicated id is REJECTED in every record; keep the first for reporting.
        self.slots = {}
        for slot in slots:
            self.slots.setdefault(slot.plugin_id, slot)
        loadable = [s for s in slots if s.state is PluginState.DISCOVERED]
        for slot in loadable:
            if not slot.config.enabled:
                slot.state, slot.reason = PluginState.INACTIVE, "disabled in config (enabled = false)"
                continue
            load(slot, self._factory(slot))
        self._read_versions([s for s in loadable if s.runner is not None])
        self._resolve()
        return slots

    def _factory(self, slot: PluginSlot) -> RunnerFactory:
        if self.versions.in_store(slot.record):  # never in process: see _pluginstore
            return self.versions.factory_for(slot.record)
        return self.factories.get(slot.config.isolation, inprocess_runner)

    def _read_versions(self, slots: list[PluginSlot]) -> None:
        calls: list[tuple[Runner, str, Mapping[str, Any], float]] = [
            (s.runner, "plugin_version", {}, DEFAULT_DEADLINES["plugin_version"])
            for s in slots if s.runner is not None]
        slots = [s for s in slots if s.runner is not None]
        for slot, result in zip(slots, call_many(calls, self.clocks.monotonic), strict=True):
            read_meta(slot, result)
            if slot.state is PluginState.REJECTED:
                slot.release()

    def _resolve(self) -> None:
        ready = {s.plugin_id: s for s in self.slots.values()
                 if s.meta is not None and s.state is PluginState.DISCOVERED}
        # The distribution's version is authoritative: it is what pip installed and
        # what pins refer to; a differing self-reported version is only noted.
        candidates = {pid: Candidate(pid, Version(s.version), s.meta)
                      for pid, s in ready.items() if s.meta is not None}
        res = resolve(candidates, self.api_version,
                      {pid: s.config.policy() for pid, s in ready.items()})
        for pid, (state, why) in res.verdicts.items():
            ready[pid].fail(state, why)
            ready[pid].release()
        self.order = res.order

    def start(self) -> list[PluginSlot]:
        """Recover from a killed predecessor, discover, resolve and activate in order."""
        now = self.clocks.wall()
        self.recover()
        other = self.store.begin_host(self.host_id, os.getpid(), now,
                                      lambda h: alive(h["pid"], h["started_at"]))
        if other is not None:
            raise _busy(self.store, other)
        self.started = True
        self.trades.restore(self.store.fills(), self.store.accuracy_counts())
        slots = self.discover()
        for slot in slots:
            self.store.record_version(slot.plugin_id, slot.version, slot.record.distribution,
                                      slot.record.location or "environment", now)
        for pid in self.order:
            if self.supervisor.admits(self.slots[pid]):
                self._activate(self.slots[pid], "startup")
        for slot in slots:
            self._save_status(slot)
        return slots

    def _activate(self, slot: PluginSlot, reason: str) -> bool:
        blocked = [dep for dep in (slot.meta.requires if slot.meta else {})
                   if self.slots.get(dep) is None
                   or self.slots[dep].state is not PluginState.ACTIVE]
        if blocked:
            slot.fail(PluginState.FAILED, f"required plugin(s) {', '.join(blocked)} did not "
                      "activate")
            slot.release()
            return False
        if not activate(slot, self.api_version, self.clocks.monotonic):
            log.warning("activation failed plugin=%s reason=%s", slot.plugin_id, slot.reason)
            return False
        self.dispatcher.limits[slot.plugin_id] = IntentLimits.of(slot.config.table)
        now = self.clocks.wall()
        slot.activation_id = self.store.open_activation(
            slot.plugin_id, slot.version, slot.record.distribution, self.host_id, now, reason)
        self.monitor.attach(slot)
        log.info("activated plugin=%s version=%s reason=%s", slot.plugin_id, slot.version,
                 reason)
        return True

    def reload(self, plugin_id: str, reason: str, record: EntryRecord | None = None) -> PluginSlot:
        """Replace a plugin's instance: deactivate it if active, load ``record`` (default:
        the same entry point again), check it against the active plugins, activate it.

        Restarts, upgrades, rollbacks and operator restarts all go through here, so
        each leaves one closed and one opened activation with its reason. Returns the
        new slot; when it cannot be activated it is FAILED or REJECTED with the reason.
        """
        old = self.slots[plugin_id]
        if old.state is PluginState.ACTIVE:
            self.deactivate(old, reason, PluginState.INACTIVE)
        old.release()
        slot = PluginSlot(record=record or old.record, config=self.config.plugin(plugin_id))
        self.slots[plugin_id] = slot
        if plugin_id not in self.order:
            self.order.append(plugin_id)
        load(slot, self._factory(slot))
        if slot.runner is not None:
            read_meta(slot, call(slot.runner, "plugin_version",
                                 DEFAULT_DEADLINES["plugin_version"], {}, self.clocks.monotonic))
        if slot.state is PluginState.DISCOVERED:
            self._admit(slot)
        if slot.state is PluginState.DISCOVERED:
            self.store.record_version(plugin_id, slot.version, slot.record.distribution,
                                      slot.record.location or "environment", self.clocks.wall())
            self._activate(slot, reason)
        if slot.state is not PluginState.ACTIVE:
            slot.release()
        self._save_status(slot)
        return slot

    def _admit(self, slot: PluginSlot) -> None:
        """Resolve one plugin against the plugins active now."""
        assert slot.meta is not None
        others = {s.plugin_id: Candidate(s.plugin_id, Version(s.version), s.meta)
                  for s in self.active() if s.meta is not None and s is not slot}
        own = Candidate(slot.plugin_id, Version(slot.version), slot.meta)
        res = resolve({**others, slot.plugin_id: own}, self.api_version,
                      {slot.plugin_id: slot.config.policy()})
        if slot.plugin_id in res.verdicts:
            state, why = res.verdicts[slot.plugin_id]
            slot.fail(state, why)

    def deactivate(self, slot: PluginSlot, reason: str, state: PluginState) -> None:
        """Deactivate one plugin, close its activation record and set its new state."""
        stuck = self.monitor.detach(slot.plugin_id)
        if stuck is not None:  # its deactivate hook would only queue behind that call
            log.warning("deactivate skipped plugin=%s reason=%s", slot.plugin_id, stuck)
            slot.release()
        error = deactivate(slot, reason, self.clocks.monotonic)
        if error:
            log.warning("deactivate raised plugin=%s error=%s", slot.plugin_id, error)
        if slot.activation_id is not None:
            self.store.close_activation(slot.activation_id, self.clocks.wall(), reason)
            slot.activation_id = None
        slot.state = state
        self._save_status(slot)

    def _save_status(self, slot: PluginSlot) -> None:
        self.store.set_status(slot.plugin_id, slot.record.distribution, slot.version,
                              slot.state.value, slot.reason, self.clocks.wall())

    # -- recovery ----------------------------------------------------------
    def recover(self) -> list[Row]:
        """Close what a host that died without shutting down left open.

        Refuses to start beside a host that is still running on the same database.
        """
        closed = []
        for host in self.store.running_hosts():
            if host["host_id"] != self.host_id and alive(host["pid"], host["started_at"]):
                raise _busy(self.store, host)
            reason = (f"crash: host pid {host['pid']} ended without shutting down "
                      "(killed?); closed at next start")
            count = self.store.close_dead_host(host, reason)
            log.warning("recovered host=%s pid=%s closed_activations=%d", host["host_id"],
                        host["pid"], count)
            closed.append(host)
        return closed

    # -- the run loop ------------------------------------------------------
    def interval(self, override: float | None = None) -> float:
        return float(override if override is not None else self.config.host["interval"])

    def run(self, *, once: bool = False, duration: float | None = None,
            interval: float | None = None,
            on_start: Callable[[list[PluginSlot]], None] | None = None,
            on_round: Callable[[str], None] | None = None) -> None:
        """Start, then alternate seeded replay bars and rounds on this thread until told
        to stop: the deterministic loop of tests and the author kit. A bot embeds the
        host instead (``zepix_core.open_host``: rounds on their own timer thread).
        """
        slots = self.start()
        self.supervisor.hold()
        try:
            if on_start:
                on_start(slots)
            self.warm_up()

            def replay_then_round() -> str:
                self.work()
                return self.round()

            self.rounds(self.interval(interval), on_round, once=once, duration=duration,
                        step=replay_then_round)
        finally:
            self.shutdown()
            self.supervisor.let_go()

    def rounds(self, period: float, on_round: Callable[[str], None] | None = None, *,
               once: bool = False, duration: float | None = None,
               step: Callable[[], str] | None = None) -> None:
        """Run a round every ``period`` seconds until ``clocks.stop`` (or ``duration``).

        Rounds start on a fixed monotonic schedule; a slow round shortens the next
        wait instead of pushing every later round back. Between rounds restarts
        fall due; meanwhile other threads may feed bars (``on_bar``).
        """
        self.supervisor.hold()
        try:
            begin = self.clocks.monotonic()
            end = begin + duration if duration is not None else None
            count = 0
            while not self.clocks.stop.is_set():
                summary = (step or self.round)()
                count += 1
                if on_round:
                    on_round(summary)
                if once:
                    break
                wake = begin + count * period
                if end is not None and wake >= end:
                    self.supervisor.idle(end)
                    break
                if self.supervisor.idle(wake):
                    break
        finally:
            self.supervisor.let_go()

    def on_bar(self, bar: Bar) -> list[Intent]:
        """Feed one closed bar to every active plugin that may take it; returns the
        checked intents of the active plugins (never a canary's)."""
        return self.feed([bar])

    def feed(self, bars: Sequence[Bar]) -> list[Intent]:
        """Feed ``bars`` in order, each to every active plugin that answers and whose
        breaker lets it through. Canaries get the same bars in shadow; their intents
        are recorded, not returned.

        Who gets work is decided once per feed while every breaker is CLOSED (one
        handoff to the dispatch thread for the whole feed; a breaker that opens
        meanwhile stops bars from the next feed on), and per bar otherwise
        (HALF_OPEN admits a few trial bars).
        """
        with self.supervisor.loop.busy:
            if len(bars) > 1 and not self.supervisor.any_breaker_open():
                return self._feed(bars)
            return [i for bar in bars for i in self._feed([bar])]

    def _feed(self, bars: Sequence[Bar]) -> list[Intent]:
        runners = [s.runner for s in self.active()
                   if s.runner is not None and self.monitor.accepts_work(s.plugin_id)
                   and self.supervisor.admits_work(s)]
        shadow = self.versions.shadow_runners()
        by_bar = self.dispatcher.feed_by_bar(runners + shadow if shadow else runners, bars)
        handed: list[Intent] = []
        if shadow:
            active = {r.plugin_id for r in runners}
            by_bar = [[i if i.plugin_id in active else replace(i, shadow=True) for i in found]
                      for found in by_bar]
        for found in by_bar:
            if found:
                self.versions.on_intents(found)
                handed.extend(i for i in found if not i.shadow)
        self.trades.on_bars(bars, by_bar)
        self.counts[0] += len(bars)
        self.counts[1] += len(handed)
        return handed

    def report_fill(self, fill: Fill) -> Intent:
        """Book a fill the bot executed and tell the issuing plugin (``on_fill``).

        Raises ``IntentError`` for an unknown intent id or a shadow intent.
        """
        intent = self.trades.book(fill)
        self.store.record_fill(self.host_id, intent, fill)
        with self.supervisor.loop.busy:  # never beside an on_bar or a round's calls
            slot = self.slots.get(intent.plugin_id)
            if (slot is not None and slot.runner is not None
                    and slot.state is PluginState.ACTIVE
                    and self.monitor.accepts_work(slot.plugin_id)):
                result = call(slot.runner, "on_fill", DEFAULT_DEADLINES["on_fill"],
                              {"fill": fill}, self.clocks.monotonic)
                self.monitor.on_hook(result)
        return intent

    def work(self) -> tuple[int, int]:
        """Feed this round's seeded replay bars (``bars_per_round`` steps).

        Returns how many bars were fed and how many trade intents active plugins
        returned (a canary's shadow intents are recorded, not counted).
        """
        bars = intents = 0
        for _ in range(int(self.config.host["bars_per_round"])):
            for bar in self.market.next_bars():  # bar by bar, as a live feed gives them
                bars += 1
                intents += len(self.on_bar(bar))
        return bars, intents

    def warm_up(self) -> None:
        """Feed ``warmup_bars`` replay steps before the first round, in one batch.

        Strategies need indicator history before they can signal; one batch means a
        plugin that hangs costs one deadline here, not one per bar.
        """
        steps = int(self.config.host["warmup_bars"])
        bars = [bar for _ in range(steps) for bar in self.market.next_bars()]
        runners = [s.runner for s in self.active() if s.runner is not None]
        if bars and runners:
            with self.supervisor.loop.busy:
                self.dispatcher.feed(runners, bars)
            log.info("warmed up plugins=%d bars=%d", len(runners), len(bars))

    def _on_work(self, result: CallResult, problem: str | None) -> None:
        self.supervisor.on_work(result, problem)
        self.versions.on_work(result, problem)
        if problem is not None and problem.startswith(LIMIT):
            self.trades.over_limit(result.plugin_id, problem)

    def _on_answers(self, plugin_id: str, durations: list[float]) -> None:
        self.supervisor.on_answers(plugin_id, durations)
        self.versions.on_answers(plugin_id, durations)

    def _on_stuck(self, plugin_id: str, running: Future[None], held: float) -> None:
        self.monitor.stuck_in(plugin_id, "on_bar", running, held)
        log.warning("on_bar abandoned plugin=%s held_s=%.2f", plugin_id, held)

    def round(self) -> str:
        """One monitoring round over the active plugins; returns a one-line summary
        that ends with the bars and intents handed out since the previous round."""
        with self.supervisor.loop.busy:
            self.supervisor.flush()
            self.store.save_accuracy(self.trades.accuracy_counts())
            summary = self.monitor.round(self.active())
            self.store.heartbeat(self.host_id, self.clocks.wall())
            self.supervisor.after_round()
            self.versions.reconcile()
            (bars, intents), self.counts = self.counts, [0, 0]
        return (f"{summary}; {bars} bars, {intents} trade intent"
                f"{'' if intents == 1 else 's'}")

    # -- shutdown ----------------------------------------------------------
    def release(self) -> None:
        """Stop every runner without deactivation hooks (after a discovery-only use)."""
        for slot in self.slots.values():
            slot.release()

    def active(self) -> list[PluginSlot]:
        return [self.slots[pid] for pid in self.order
                if pid in self.slots and self.slots[pid].state is PluginState.ACTIVE]

    def shutdown(self, reason: str = "shutdown") -> None:
        """Deactivate in reverse dependency order and close the host record."""
        self.monitor.stop()
        self.supervisor.stop()
        self.versions.close()
        for slot in reversed(self.active()):
            self.deactivate(slot, reason, PluginState.INACTIVE)
        for slot in self.slots.values():
            slot.release()
        self.monitor.close()
        self.dispatcher.close()
        if self.started:
            self.store.end_host(self.host_id, self.clocks.wall(), reason)
            self.started = False


def _busy(store: Store, host: Row) -> StorageError:
    return StorageError(f"{store.path}: another zepix host (pid {host['pid']}) is running on "
                        "this database; stop it first or use --db for a separate one")


def alive(pid: int, started_at: float) -> bool:
    """Whether ``pid`` is a live process that could be the host started at ``started_at``."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= started_at + 1
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def create_host(config: Path | str | None = None, db: Path | str | None = None, *,
                paths: Sequence[str] | None = None, clocks: Clocks | None = None,
                runner_factories: dict[str, RunnerFactory] | None = None) -> Host:
    """Build a host from a config file and a database path (defaults per the contract)."""
    from zepix_core.contract.api import API_VERSION

    cfg = load_config(config_path(config))
    store = Store(db_path(db))
    return Host(cfg, store, api_version=API_VERSION, paths=paths, clocks=clocks,
                runner_factories=runner_factories)

