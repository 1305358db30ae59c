"""The host: discovery to activation at startup, the run loop, and clean shutdown.

The host only sequences; each step is owned elsewhere: discovery
(``_discovery``), resolution (``_resolution``), one plugin's lifecycle
(``_lifecycle``), storage (``_storage``), work dispatch (``_dispatch``),
monitoring (``_monitor``) and supervision (``_supervisor``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.version import Version

from zepix_core.contract.errors import ConfigError, StorageError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Bar, Fill, Intent, PluginState
from zepix_core.execution.calls import call_many
from zepix_core.execution.dispatch import LIMIT, Dispatcher, IntentLimits
from zepix_core.execution.lifecycle import (
    Admit,
    PluginSlot,
    RunnerFactory,
    bring_up,
    deactivate,
    inprocess_runner,
    load,
    read_meta,
    read_settings,
)
from zepix_core.execution.ports import Clocks, Ports
from zepix_core.execution.runner import CallResult, InProcessRunner, Runner, call
from zepix_core.execution.worker import process_runner
from zepix_core.health.monitor import Monitor
from zepix_core.host import retention
from zepix_core.host.bars import OVER_BACKLOG, SHUTDOWN, BarAccounts, takers
from zepix_core.host.fields import SlotFields
from zepix_core.host.lease import claim, recover
from zepix_core.host.limits import raise_open_files
from zepix_core.host.loop import Loop
from zepix_core.host.outage import Outage
from zepix_core.host.reconfig import Reconfigurer
from zepix_core.host.replay import Replay
from zepix_core.host.risk import RiskWatch
from zepix_core.host.trades import Trades
from zepix_core.host.turns import GRACE, Turns
from zepix_core.loading.config import Config, load_config
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins
from zepix_core.loading.paths import config_path, data_dir, db_path
from zepix_core.loading.resolution import Candidate, resolve
from zepix_core.retry import Retrier, retrier_from_config
from zepix_core.storage import HostRow, PauseRow, RequestRow, Store
from zepix_core.supervision.controls import ALERTS_TEST
from zepix_core.supervision.restarted import RestartNotices
from zepix_core.supervision.supervisor import Supervisor
from zepix_core.sync import SyncLoop, SyncManager
from zepix_core.versions.reconcile import HostVersions

log = logging.getLogger("zepix.host")

#: Seconds between two prunes of the plugin databases (``[plugindb] retention_days``).
PRUNE_EVERY = 3600.0



class Host:
    """Discovers, resolves, activates and supervises plugins; see ``create_host``.

    The host owns the plugin slots. Its subsystems (monitor, supervisor, versions) see
    them through ``Ports`` (the host is their ``PluginTable``) and never the host itself.
    """

    def __init__(self, config: Config, store: Store, *, api_version: str,
                 paths: Sequence[str] | None = None, clocks: Clocks | None = None,
                 runner_factories: dict[str, RunnerFactory] | None = None) -> None:
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
        #: Hosts that had died without shutting down, closed by ``claim``.
        self.recovered: list[HostRow] = []
        #: Every outbound call of this host retries through it (``zepix_core.retry``).
        self.retrier = retrier_from_config(config.sections.get("retry", {}), store,
                                           str(config.path or "<defaults>"))
        #: What the subsystems see instead of the host; ``config`` lives there, so a
        #: config taken while running (``zepix restart ID``) is the one everybody reads.
        self.ports = Ports(plugins=self, config=config, store=store, clocks=self.clocks,
                           api_version=api_version, host_id=self.host_id)
        self.monitor = Monitor(self.ports, self.retrier)
        #: A locked or full database: failed writes marked, the host's alerts about it.
        self.outage = Outage(store, self.monitor.alerting.raise_event, self._workers,
                             lambda: self.monitor.host_sample)
        self.supervisor = Supervisor(self.ports, self.monitor)
        if self.factories.get("process", process_runner) is process_runner:
            self.factories["process"] = self.supervisor.process_runner
        self.versions = HostVersions(self.ports, self.monitor, factories=self.factories,
                                     spawn=self.supervisor.spawn,
                                     breaker=self.supervisor.breaker_state)
        self.dispatcher = Dispatcher(self._on_work, self.clocks.monotonic,
                                     on_stuck=self._on_stuck, id_prefix=self.host_id[:8] + "-",
                                     on_answers=self._on_answers)
        self.dispatcher.mode = str(config.host.get("dispatch", "thread"))
        #: Which plugins are in a round's health calls (made with the loop let go).
        self.turns = Turns(self.supervisor.loop.busy)
        self.trades = Trades(int(config.host["accuracy_horizon"]))
        #: The seeded replay of ``run`` (tests, the author kit) and its market.
        self.replay = Replay(self, config)
        self.market = self.replay.market
        #: Bars and intents handed out since the last round, for its summary line.
        self.counts = [0, 0]
        #: Per plugin, each bar fed: offered or dropped with the reason (saved each round).
        self.bar_accounts = BarAccounts()
        #: Host-measured figures start from zero in this run (the fills stay recorded).
        self.fresh_figures = False
        #: Called with every hook call's result and problem (a backtest counts errors).
        self.work_listeners: list[Callable[[CallResult, str | None], None]] = []
        self.sync = sync_loop(config, store, self.clocks, self.retrier)
        #: When each active plugin's current activation began (wall clock), for
        #: ``uptime_seconds`` in its health snapshot.
        self.activated_at: dict[str, float] = {}
        self.restart_notices = RestartNotices(self.monitor.on_hook, self.clocks.monotonic)
        # The subsystems' snapshot fields: HostSpec.snapshot_fields on the host's own
        # plugin manager, in this order (datasette-style hooks, not a callback list).
        own_fields = SlotFields(lambda pid: self.slots.get(pid), self.activated_at,
                                self.clocks.wall)
        for owner, name in ((self.supervisor, "zepix.supervisor"),
                            (self.trades, "zepix.trades"), (own_fields, SlotFields.name)):
            self.monitor.alerting.pm.register(owner, name=name)
        self.reconfig = Reconfigurer(self)
        self.reconfig.restarters["sync"] = self._resync
        #: The rounds and the waits between them (supervised: a round that raises).
        self.loop = Loop(self.clocks, self.supervisor, self.reconfig, self._poll, self.outage,
                         self.monitor.alerting.raise_event, self.host_id)
        #: Paused plugins (``zepix pause``) as the database holds them: plugin id ->
        #: reason, actor, paused_at. Read at start, and at every round and config poll
        #: after another connection wrote the database (``zepix pause`` from a shell);
        #: an in-process control (HTTP, Telegram, risk) calls ``refresh_pauses`` at once.
        self.pauses: dict[str, PauseRow] = {}
        self._pauses_seen: int | None = None  # the data_version they were read at
        self._testing: set[int] = set()
        self._pruned_at = -PRUNE_EVERY
        self.pruner: threading.Thread | None = None
        self.risk = RiskWatch(self, lambda: data_dir() / "plugins")

    @property
    def config(self) -> Config:
        return self.ports.config

    @config.setter
    def config(self, value: Config) -> None:
        self.ports.config = value

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
                slot.mark(PluginState.INACTIVE, "disabled in config (enabled = false)")
                continue
            load(slot, self._factory(slot))
        self._read_versions([s for s in loadable if s.runner is not None])
        self._read_settings([s for s in loadable if s.runner is not None
                             and s.state is PluginState.DISCOVERED])
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

    def _read_settings(self, slots: list[PluginSlot]) -> None:
        """Every plugin's declared settings at once, each checked against its table."""
        calls: list[tuple[Runner, str, Mapping[str, Any], float]] = [
            (s.runner, "plugin_settings", {}, DEFAULT_DEADLINES["plugin_settings"])
            for s in slots if s.runner is not None]
        for slot, result in zip(slots, call_many(calls, self.clocks.monotonic), strict=True):
            read_settings(slot, result)
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

    def claim(self) -> list[HostRow]:
        """Take the database's lease: recover from a killed predecessor and register
        this host, or raise when another live host holds it. Done before anything
        (the HTTP port) is bound, so a second host is told who runs. Returns the
        crashed hosts recovered (also kept in ``recovered``)."""
        if self.started:
            return self.recovered
        self.recovered = claim(self.store, self.host_id, self.clocks.wall())
        self.started = True
        return self.recovered

    def start(self) -> list[PluginSlot]:
        """Claim the database, discover, resolve and activate in order."""
        now = self.clocks.wall()
        raise_open_files()
        self.claim()
        self.reconfig.publish()
        self.monitor.alerting.start_watchdog(os.getpid())
        self.refresh_pauses()
        self.trades.restore(self.store.fills(), self.store.accuracy_counts(),
                            fresh=self.fresh_figures)
        slots = self.discover()
        for slot in slots:
            self.store.record_version(slot.plugin_id, slot.version, slot.record.distribution,
                                      slot.record.location or "environment", now)
            self.versions.record_release(slot)
        for pid in self.order:
            if self.supervisor.admits(self.slots[pid]):
                self._bring_up(self.slots[pid], "startup", self._requires_active)
        for slot in slots:
            self.save_status(slot)
        return slots

    def _bring_up(self, slot: PluginSlot, reason: str, admit: Admit) -> bool:
        """``lifecycle.bring_up``, then the host's records: the activation row and the
        monitor's watch."""
        if not bring_up(slot, self._factory(slot), self.api_version, self.clocks.monotonic,
                        admit=admit):
            if slot.state is PluginState.FAILED:
                log.warning("activation failed", extra=fields(plugin=slot.plugin_id,
                                                              reason=slot.reason))
            return False
        self.dispatcher.limits[slot.plugin_id] = IntentLimits.of(slot.config.table)
        now = self.clocks.wall()
        slot.activation_id = self.store.open_activation(
            slot.plugin_id, slot.version, slot.record.distribution, self.host_id, now, reason)
        self.activated_at[slot.plugin_id] = now
        self.monitor.attach(slot)
        log.info("activated", extra=fields(plugin=slot.plugin_id, version=slot.version,
                                           reason=reason))
        return True

    def _requires_active(self, slot: PluginSlot) -> None:
        """At startup: the plugins it requires were activated before it."""
        blocked = [dep for dep in (slot.meta.requires if slot.meta else {})
                   if self.slots.get(dep) is None
                   or self.slots[dep].state is not PluginState.ACTIVE]
        if blocked:
            slot.fail(PluginState.FAILED, f"required plugin(s) {', '.join(blocked)} did not "
                      "activate")

    def reload(self, plugin_id: str, reason: str, record: EntryRecord | None = None) -> PluginSlot:
        """Replace a plugin's instance: deactivate it if active, load ``record`` (default:
        the same entry point again), check it against the active plugins, activate it.

        Restarts, upgrades, rollbacks and operator restarts all go through here, so
        each leaves one closed and one opened activation with its reason, and the
        supervisor learns that a fresh instance runs (closed breaker, full restart
        budget). A plugin installed while the host runs gets its first slot here.
        Returns the new slot; when it cannot be activated it is FAILED or REJECTED with
        the reason.
        """
        old = self.slots.get(plugin_id)
        again = plugin_id in self.activated_at  # an earlier instance ran in this host
        if old is not None and old.state is PluginState.ACTIVE:
            self.deactivate(old, reason, PluginState.INACTIVE)
        if old is not None:
            old.release()
        if record is None and old is None:
            raise KeyError(plugin_id)
        slot = PluginSlot(record=record or old.record,  # type: ignore[union-attr]
                          config=self.config.plugin(plugin_id))
        self.slots[plugin_id] = slot
        if plugin_id not in self.order:
            self.order.append(plugin_id)
        if self._bring_up(slot, reason, self._admit):
            self.supervisor.started(plugin_id)
            if again:
                self.restart_notices.tell(slot, reason)
        self.save_status(slot)
        return slot

    def _admit(self, slot: PluginSlot) -> None:
        """Resolve one plugin against the plugins active now; record the version seen."""
        assert slot.meta is not None
        others = {s.plugin_id: Candidate(s.plugin_id, Version(s.version), s.meta)
                  for s in self.active() if s.meta is not None and s is not slot}
        own = Candidate(slot.plugin_id, Version(slot.version), slot.meta)
        res = resolve({**others, slot.plugin_id: own}, self.api_version,
                      {slot.plugin_id: slot.config.policy()})
        if slot.plugin_id in res.verdicts:
            state, why = res.verdicts[slot.plugin_id]
            slot.fail(state, why)
            return
        self.store.record_version(slot.plugin_id, slot.version, slot.record.distribution,
                                  slot.record.location or "environment", self.clocks.wall())
        self.versions.record_release(slot)

    def deactivate(self, slot: PluginSlot, reason: str, state: PluginState) -> None:
        """Deactivate one plugin, close its activation record and set its new state.

        The plugin is deactivated first; a failed write of the records is logged
        and does not stop it (or, at shutdown, the plugins after it).
        """
        try:
            stuck = self.monitor.detach(slot.plugin_id)
        except StorageError as exc:
            stuck = None
            self.outage.failed("deactivate", exc)
        if stuck is not None:  # its deactivate hook would only queue behind that call
            log.warning("deactivate skipped", extra=fields(plugin=slot.plugin_id, reason=stuck))
            slot.release()
        error = deactivate(slot, reason, self.clocks.monotonic, state)
        if error:
            log.warning("deactivate raised", extra=fields(plugin=slot.plugin_id, error=error))
        activation, slot.activation_id = slot.activation_id, None
        try:
            if activation is not None:
                self.store.close_activation(activation, self.clocks.wall(), reason)
            self.save_status(slot)
        except StorageError as exc:
            self.outage.failed("deactivate", exc)

    # -- the plugin table (``PluginTable``) --------------------------------
    @property
    def running(self) -> bool:
        return self.started

    def get(self, plugin_id: str) -> PluginSlot | None:
        return self.slots.get(plugin_id)

    def all(self) -> list[PluginSlot]:
        return list(self.slots.values())

    def save_status(self, slot: PluginSlot) -> None:
        self.store.set_status(slot.plugin_id, slot.record.distribution, slot.version,
                              slot.state.value, slot.reason, self.clocks.wall())

    def recover(self) -> list[HostRow]:
        """Close what a killed host left open (``lease.recover``)."""
        return recover(self.store, self.host_id)

    # -- the run loop ------------------------------------------------------
    def interval(self, override: float | None = None) -> float:
        return float(override if override is not None else self.config.host["interval"])

    def run(self, *, once: bool = False, duration: float | None = None,
            interval: float | None = None,
            on_start: Callable[[list[PluginSlot]], None] | None = None,
            on_round: Callable[[str], None] | None = None) -> None:
        """The seeded replay on this thread (``host.replay``): tests and the author kit."""
        self.replay.run(once=once, duration=duration, interval=interval, on_start=on_start,
                        on_round=on_round)

    def rounds(self, period: float, on_round: Callable[[str], None] | None = None, *,
               once: bool = False, duration: float | None = None,
               step: Callable[[], str] | None = None) -> None:
        """A round every ``period`` seconds until told to stop (``host.loop``)."""
        self.loop.run(period, step or self.round, on_round, once=once, duration=duration)

    def _poll(self) -> None:
        """Between rounds (the loop held): pauses written elsewhere, the config file."""
        self._pauses_if_changed()
        self.reconfig.poll()

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

    def refresh_pauses(self) -> dict[str, PauseRow]:
        """Re-read which plugins are paused; a database that cannot be read keeps the
        pauses known so far (a pause is never lost to a locked database)."""
        try:
            self.pauses = self.store.pauses()
        except StorageError as exc:
            self.outage.failed("pauses", exc)
        return self.pauses

    def _pauses_if_changed(self) -> None:
        """``refresh_pauses`` when another connection committed since the last look:
        one ``PRAGMA data_version`` instead of a query per round and per poll."""
        try:
            version = self.store.data_version()
        except StorageError as exc:
            self.outage.failed("pauses", exc)
            return
        if version == self._pauses_seen:
            return
        try:
            self.pauses = self.store.pauses()
        except StorageError as exc:  # not seen yet: read again at the next look
            self.outage.failed("pauses", exc)
            return
        self._pauses_seen = version

    def is_paused(self, plugin_id: str) -> bool:
        return plugin_id in self.pauses

    def _feed(self, bars: Sequence[Bar]) -> list[Intent]:
        paused = self.pauses
        handed, self.turns.late = [*self.turns.late, *self._hand_over(paused)], []
        runners, left_out, waiting = takers(
            self.slots.values(), self.active(), paused, self.monitor.accepts_work,
            self.supervisor.admits_work, self.turns.is_checking)
        shadow = [r for r in self.versions.shadow_runners() if r.plugin_id not in paused]
        self.bar_accounts.begin()
        by_bar = self.dispatcher.feed_by_bar(runners + shadow if shadow else runners, bars)
        bars = bars[:len(by_bar)]  # a prefix under ``until_answer`` (a backtest)
        self.bar_accounts.end(bars, left_out, [r.plugin_id for r in runners])
        if shadow:
            active = {r.plugin_id for r in runners}
            by_bar = [[i if i.plugin_id in active else replace(i, shadow=True) for i in found]
                      for found in by_bar]
        if waiting:  # in their health checks: a short wait with the loop let go, or kept
            by_bar = self._after_checks(bars, by_bar, waiting, paused)
        fresh = len(handed)
        for found in by_bar:
            if found:
                self.versions.on_intents(found)
                handed.extend(i for i in found if not i.shadow and i.plugin_id not in paused)
        self.trades.on_bars(bars, by_bar)
        self.monitor.count_intents([i.plugin_id for i in handed[fresh:]])
        self.counts[0] += len(bars)
        self.counts[1] += len(handed) - fresh
        return handed

    def _after_checks(self, bars: Sequence[Bar], by_bar: list[Sequence[Intent]],
                      waiting: list[str], paused: Mapping[str, PauseRow]) -> list[Sequence[Intent]]:
        """Plugins that were in their health checks get ``bars`` once out of them (a wait
        of at most ``GRACE`` once per round, the loop let go); the others keep them."""
        self.turns.wait_out([pid for pid in waiting if not self.turns.is_overdue(pid)], GRACE)
        slots = [s for s in self.active() if s.plugin_id in waiting]
        later, left_out, still = takers(slots, slots, paused, self.monitor.accepts_work,
                                        self.supervisor.admits_work, self.turns.is_checking)
        for plugin_id in still:
            self.bar_accounts.drop(plugin_id, OVER_BACKLOG,
                                   len(self.turns.hold(plugin_id, list(bars))))
        left_out.update({pid: self._not_active(pid) for pid in waiting
                         if pid not in still and pid not in left_out
                         and all(r.plugin_id != pid for r in later)})
        self.bar_accounts.begin()
        more = self.dispatcher.feed_by_bar(later, bars) if later else [()] * len(bars)
        self.bar_accounts.end(bars, left_out, [r.plugin_id for r in later], fed=False)
        return [[*a, *b] for a, b in zip(by_bar, more, strict=True)]

    def _not_active(self, plugin_id: str) -> str:
        """Why a plugin no longer active gets no bars (``bars``: its state)."""
        slot = self.slots.get(plugin_id)
        return (slot.state if slot is not None else PluginState.INACTIVE).value.lower()

    def _hand_over(self, paused: Mapping[str, PauseRow]) -> list[Intent]:
        """The bars kept for plugins while they were in their health checks, now that
        they are out (``turns``), in order; their intents come before this feed's."""
        handed: list[Intent] = []
        for plugin_id in list(self.turns.backlog):
            if self.turns.is_checking(plugin_id):
                continue
            kept = self.turns.take(plugin_id)
            slot = self.slots.get(plugin_id)
            slots = [slot] if slot is not None and slot.state is PluginState.ACTIVE else []
            runners, left_out, _ = takers(slots, slots, paused, self.monitor.accepts_work,
                                          self.supervisor.admits_work)
            self.bar_accounts.begin()
            by_bar = (self.dispatcher.feed_by_bar(runners, kept) if runners
                      else [()] * len(kept))
            if not slots:
                left_out = {plugin_id: self._not_active(plugin_id)}
            self.bar_accounts.end(kept, left_out, [r.plugin_id for r in runners], fed=False)
            found = [i for intents in by_bar for i in intents]
            if found:
                self.versions.on_intents(found)
            self.trades.on_late(kept, by_bar)
            self.monitor.count_intents([i.plugin_id for i in found])
            self.counts[1] += len(found)
            handed.extend(found)
        return handed

    def report_fill(self, fill: Fill) -> Intent:
        """Book a fill the bot executed and tell the issuing plugin (``on_fill``).

        Raises ``IntentError`` for an unknown intent id or a shadow intent.
        """
        intent = self.trades.book(fill)
        try:
            self.store.record_fill(self.host_id, intent, fill)
        except StorageError as exc:  # booked in memory; the plugin still hears of it
            self.outage.failed("fill", exc)
        with self.supervisor.loop.busy:  # never beside an on_bar or a round's calls
            self.turns.wait_free(intent.plugin_id)
            slot = self.slots.get(intent.plugin_id)
            if (slot is not None and slot.runner is not None
                    and slot.state is PluginState.ACTIVE
                    and self.monitor.accepts_work(slot.plugin_id)):
                told = replace(fill, symbol=intent.symbol, side=intent.side)
                if self.dispatcher.mode == "inline" and isinstance(slot.runner, InProcessRunner):
                    # The bot's own thread, as its bars: no handoff per fill (a backtest).
                    result = self.dispatcher.call_here(slot.runner, "on_fill", {"fill": told})
                else:
                    result = call(slot.runner, "on_fill", DEFAULT_DEADLINES["on_fill"],
                                  {"fill": told}, self.clocks.monotonic)
                self.monitor.on_hook(result)
            try:  # a loss that breaches a limit pauses the plugin before its next bar
                self.risk.check([intent.plugin_id], self.clocks.wall())
            except StorageError as exc:
                self.outage.failed("risk", exc)
        return intent

    def work(self) -> tuple[int, int]:
        """One round's seeded replay bars (``host.replay``)."""
        return self.replay.work()

    def warm_up(self) -> None:
        self.replay.warm_up()

    def _on_work(self, result: CallResult, problem: str | None) -> None:
        self.bar_accounts.called(result.plugin_id)
        try:
            self.supervisor.on_work(result, problem)
            self.versions.on_work(result, problem)
        except StorageError as exc:  # bookkeeping; the next bar still goes out
            self.outage.failed("work", exc)
        if problem is not None and problem.startswith(LIMIT):
            self.trades.over_limit(result.plugin_id, problem)
        for listener in self.work_listeners:
            listener(result, problem)

    def _on_answers(self, plugin_id: str, durations: list[float]) -> None:
        self.bar_accounts.called(plugin_id, len(durations))
        self.supervisor.on_answers(plugin_id, durations)
        self.versions.on_answers(plugin_id, durations)

    def _on_stuck(self, plugin_id: str, running: Future[None], held: float) -> None:
        self.monitor.stuck_in(plugin_id, "on_bar", running, held)
        log.warning("on_bar abandoned", extra=fields(plugin=plugin_id, held_s=round(held, 2)))

    def round(self) -> str:
        """One monitoring round over the active plugins; returns a one-line summary
        that ends with the bars and intents handed out since the previous round.

        A database that is locked or full ends the round's bookkeeping early, never
        the host: what could not be written waits (``storage.deferred``) and a
        CRITICAL alert says so until the database is back.
        """
        summary = "round: database unavailable"
        with self.supervisor.loop.busy:
            self.turns.begin()
            before = {s.plugin_id: s.version for s in self.active()}
            # Bars kept for plugins in the last round's checks reach them before this
            # round looks at them; their intents go out with the next feed.
            self.turns.late.extend(self._hand_over(self.pauses))
            try:
                self.store.flush_deferred()
                self._pauses_if_changed()
                self.supervisor.flush()
                # Counters a restart reloads; while the database is out, the next round's
                # totals replace them, so nothing is lost by skipping one.
                self.outage.best_effort("accuracy", self.store.save_accuracy,
                                  self.trades.accuracy_counts())
                self.outage.best_effort("bar counts", self.bar_accounts.save,
                                        self.store.save_bar_counts, self.host_id)
                checks = self.monitor.plan(self.active())
                # The plugin calls with the loop let go: bars never wait on a health hook.
                outcomes = self.turns.outside(
                    [w.slot.plugin_id for w in checks.checked],
                    lambda: self.monitor.call(checks, self.turns.done))
                summary = self.monitor.finish(checks, outcomes)
                self.turns.end()
                self.risk.check([s.plugin_id for s in self.active()], self.clocks.wall())
                self._alert_tests()
                self._prune()
                self.store.heartbeat(self.host_id, self.clocks.wall())
                self.supervisor.after_round()
                self.versions.reconcile()
                for decision in self.sync.tick():
                    self.monitor.alerting.raise_event(decision.plugin_id, "sync",
                                                      decision.level, decision.message,
                                                      decision.firing)
            except StorageError as exc:
                self.outage.failed("round", exc)
            finally:
                self.turns.end()
            self.outage.alert_storage()
            self.outage.alert_files()
            (bars, intents), self.counts = self.counts, [0, 0]
            changed = version_changes(before, {s.plugin_id: s.version for s in self.active()})
        return (f"{summary}; {bars} bars, {intents} trade intent"
                f"{'' if intents == 1 else 's'}{changed}")

    def _prune(self) -> None:
        """``[plugindb] retention_days``: at most once an hour, drop each plugin
        database's old signals and closed trades the ledger already has, on a thread
        of its own (``retention``): a locked plugin database never holds the round."""
        days = float(self.config.sections.get("plugindb", {}).get("retention_days") or 0)
        now = self.clocks.monotonic()
        if days <= 0 or now < self._pruned_at + PRUNE_EVERY or (
                self.pruner is not None and self.pruner.is_alive()):
            return
        self._pruned_at = now
        self.pruner = retention.start(data_dir() / "plugins", self.clocks.wall() - days * 86_400,
                                      self.store.sync_cursors(self.sync.manager.target), days)

    def _alert_tests(self) -> None:
        """``zepix alerts test`` requests: each on a thread of its own (it waits for the
        sinks), its outcome the JSON list of what each sink said."""
        for request in self.store.pending_requests(ALERTS_TEST):
            if request["id"] in self._testing:
                continue
            self._testing.add(request["id"])
            threading.Thread(target=self._alert_test, args=(request,), daemon=True,
                             name="zepix-alerts-test").start()

    def _alert_test(self, request: RequestRow) -> None:
        try:
            results = self.monitor.alerting.test(str(request["actor"]))
            self.store.finish_request(request["id"], self.clocks.wall(), json.dumps(results))
        except StorageError as exc:
            self.outage.failed("alerts test", exc)

    def _workers(self) -> dict[int | None, str]:
        """Worker pid -> plugin id (to name a process that holds the database's lock)."""
        return {s.runner.pid if s.runner else None: s.plugin_id for s in self.slots.values()}

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
        self.retrier.stop()   # waiting retries end now; their work is reported undelivered
        self.monitor.stop()
        self.supervisor.stop()
        self.outage.best_effort("close versions", self.versions.close)
        for slot in reversed(self.active()):
            self.deactivate(slot, reason, PluginState.INACTIVE)
        for slot in self.slots.values():
            slot.release()
        if self.turns.backlog:  # bars kept for a plugin in its checks: never offered
            for plugin_id in list(self.turns.backlog):
                self.bar_accounts.drop(plugin_id, SHUTDOWN, len(self.turns.take(plugin_id)))
            if self.started:
                self.outage.best_effort("bar counts", self.bar_accounts.save,
                                        self.store.save_bar_counts, self.host_id)
        if self.started:
            self.outage.best_effort("sync", self.sync.finish)  # the plugins' last trades
        self.outage.best_effort("flush", self.store.flush_deferred)
        self.outage.best_effort("close alerts", self.monitor.close)
        self.turns.close()
        self.dispatcher.close()
        if self.started:
            self.outage.best_effort("end host", self.store.end_host, self.host_id,
                              self.clocks.wall(), reason)
            self.started = False

    def _resync(self) -> str:
        """``[sync]`` changed in a running host: the next runs use the new table at once,
        and one starts now (a new target gets every trade: cursors are per target)."""
        settings = self.config.sync()
        self.sync.manager = SyncManager(self.store, settings, data_dir() / "plugins",
                                        retrier=self.retrier, wall=self.clocks.wall)
        self.sync.interval = settings.interval
        self.sync.start("config")
        return f"applied live: syncing to {self.sync.manager.target} from now on"


def version_changes(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """``; versions: a 1.0.0 -> 1.1.0`` for the round line when an active plugin now runs
    another version (``before`` and ``after`` map plugin id to version), else ""."""
    moved = [f"{pid} {before[pid]} -> {version}" for pid, version in sorted(after.items())
             if pid in before and before[pid] != version]
    return f"; versions: {', '.join(moved)}" if moved else ""


def sync_loop(config: Config, store: Store, clocks: Clocks, retrier: Retrier) -> SyncLoop:
    """The sync manager for ``[sync]``, on the host's timer, retrying through the
    host's retrier (the ``sync`` policy of ``[retry]``)."""
    settings = config.sync()
    manager = SyncManager(store, settings, data_dir() / "plugins", retrier=retrier,
                          wall=clocks.wall)
    return SyncLoop(manager, settings.interval, clocks.monotonic)


def create_host(config: Path | str | None = None, db: Path | str | None = None, *,
                paths: Sequence[str] | None = None, clocks: Clocks | None = None,
                runner_factories: dict[str, RunnerFactory] | None = None,
                plugins: Sequence[str] | None = None) -> Host:
    """Build a host from a config file and a database path (defaults per the contract).
    ``plugins``: run only these plugin ids; the others stay installed and idle."""
    from zepix_core.contract.api import API_VERSION

    cfg = load_config(config_path(config))
    if plugins is not None:
        cfg = only_plugins(cfg, plugins, {r.plugin_id for r in enumerate_plugins(paths)})
    store = Store(db_path(db), busy_timeout=float(cfg.host["db_busy_timeout"]))
    return Host(cfg, store, api_version=API_VERSION, paths=paths, clocks=clocks,
                runner_factories=runner_factories)


def only_plugins(config: Config, wanted: Sequence[str], installed: set[str]) -> Config:
    """``config`` with every installed plugin but ``wanted`` disabled (idle, not removed).
    Raises ``ConfigError`` naming an id that is not installed."""
    missing = sorted(set(wanted) - installed)
    if missing:
        raise ConfigError(f"plugins={list(wanted)!r}: {', '.join(missing)} not installed; "
                          f"installed: {', '.join(sorted(installed)) or 'none'}")
    tables: dict[str, Mapping[str, Any]] = {pid: dict(t) for pid, t in config.plugins.items()}
    for pid in installed - set(wanted):
        tables[pid] = {**tables.get(pid, {}), "enabled": False}
    return replace(config, plugins=tables)
