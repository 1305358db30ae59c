"""The composition root: every subsystem of a host, built and wired to the others.

``wire`` builds, in order, the retrier, the ``Ports`` the subsystems see instead
of the host, the monitor, the host's hooks (``host.hooks``) and the loop lock, the
outage state, the supervisor (whose worker factory replaces the plain ``process``
one unless a caller supplied its own), the version manager, the dispatcher with
the fan-out of what it reports (``Fanout``), the turns, trades, bar accounts,
ledger sync, restart notices and pauses; registers each subsystem on the hooks
(``on_work``, ``on_answers``, ``after_round``, ``between_rounds``,
``section_changed``, ``snapshot_fields``); then builds the scheduler
(``host.loop``) and the risk watch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from zepix_core.contract.errors import ConfigError, StorageError
from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.logs import fields
from zepix_core.execution.dispatch import Dispatcher
from zepix_core.execution.lifecycle import RunnerFactory, inprocess_runner
from zepix_core.execution.ports import Clocks, Ports
from zepix_core.execution.runner import CallResult
from zepix_core.execution.worker import process_runner
from zepix_core.health.monitor import Monitor
from zepix_core.host.bars import BarAccounts
from zepix_core.host.fields import SlotFields
from zepix_core.host.hooks import Hooks
from zepix_core.host.loop import Loop, Timer
from zepix_core.host.outage import Outage
from zepix_core.host.parts import HostParts
from zepix_core.host.pauses import Pauses
from zepix_core.host.risk import RiskWatch
from zepix_core.host.trades import Trades
from zepix_core.host.turns import Turns
from zepix_core.loading.config import Config
from zepix_core.loading.paths import data_dir
from zepix_core.retry import Retrier, retrier_from_config
from zepix_core.storage import Store
from zepix_core.supervision.loopthread import LoopThread
from zepix_core.supervision.restarted import RestartNotices
from zepix_core.supervision.supervisor import Supervisor
from zepix_core.sync import SyncLoop, SyncManager
from zepix_core.versions.reconcile import HostVersions

log = logging.getLogger("zepix.host")

__all__ = ["Fanout", "Listeners", "SyncTicks", "only_plugins", "resync", "sync_loop", "wire"]


def wire(host: HostParts, config: Config,
         runner_factories: Mapping[str, RunnerFactory] | None = None) -> None:
    """Build ``host``'s subsystems from ``config`` and wire them to each other."""
    host.work_listeners = []  # a backtest counts hook errors through it
    host.factories = {"inprocess": inprocess_runner, **(runner_factories or {})}
    host.retrier = retrier_from_config(config.sections.get("retry", {}), host.store,
                                       str(config.path or "<defaults>"))
    #: ``config`` lives in the ports, so a config taken while running is everybody's.
    host.ports = Ports(plugins=host, config=config, store=host.store, clocks=host.clocks,
                       api_version=host.api_version, host_id=host.host_id)
    host.monitor = Monitor(host.ports, host.retrier)
    host.outage = Outage(host.store, host.monitor.alerting.raise_event,
                         lambda: {s.runner.pid if s.runner else None: s.plugin_id
                                  for s in host.slots.values()},
                         lambda: host.monitor.host_sample)
    #: The hooks between the subsystems, on the plugin manager of the alert sinks.
    host.hooks = hooks = Hooks(host.monitor.alerting.pm)
    thread = LoopThread(host.monitor.alerting.raise_event)  # the loop lock
    host.supervisor = Supervisor(host.ports, host.monitor, loop=thread)
    if host.factories.get("process", process_runner) is process_runner:
        host.factories["process"] = host.supervisor.process_runner
    host.versions = HostVersions(host.ports, host.monitor, factories=host.factories,
                                 spawn=host.supervisor.spawn,
                                 breaker=host.supervisor.breaker_state)
    fanout = Fanout(hooks, host.outage, host.monitor)
    host.dispatcher = Dispatcher(fanout.on_work, host.clocks.monotonic,
                                 on_stuck=fanout.on_stuck, id_prefix=host.host_id[:8] + "-",
                                 on_answers=fanout.on_answers)
    host.dispatcher.mode = str(config.host.get("dispatch", "thread"))
    host.turns = Turns(thread.busy)  # plugins in a round's health calls
    host.trades = Trades(int(config.host["accuracy_horizon"]))
    host.bar_accounts = BarAccounts()
    host.sync = sync_loop(config, host.store, host.clocks, host.retrier)
    host.restart_notices = RestartNotices(host.monitor.on_hook, host.clocks.monotonic)
    host.paused = Pauses(host.store, host.outage)  # ``zepix pause``, as the database has it
    host.loop = Loop(host.clocks, thread, host.supervisor, hooks, host.outage,
                     host.monitor.alerting.raise_event, host.host_id)
    # Each subsystem on the host's hooks (``LoopSpec``, ``HostSpec.snapshot_fields``),
    # in this order: it is the order they are called in.
    for owner, name in ((host.bar_accounts, "zepix.bars"), (host.supervisor, "zepix.supervisor"),
                        (host.versions, "zepix.versions"), (host.trades, "zepix.trades"),
                        (Listeners(host.work_listeners), "zepix.listeners"),
                        (SyncTicks(host, host.loop.every("sync", host.sync.interval)),
                         "zepix.sync"),
                        (SlotFields(host.slots.get, host.activated_at, host.clocks.wall),
                         SlotFields.name), (host.paused, "zepix.pauses")):
        hooks.register(owner, name)
    host.risk = RiskWatch(host, lambda: data_dir() / "plugins")


class Fanout:
    """What the dispatcher reports, to the host's ``on_work`` / ``on_answers`` hooks.

    The hot path: once per plugin hook call of a feed. The implementations come from
    ``Hooks.work`` / ``answers`` (read at registration), not through pluggy per call.
    """

    def __init__(self, hooks: Hooks, outage: Outage, monitor: Monitor) -> None:
        self.hooks = hooks
        self.outage = outage
        self.monitor = monitor

    def on_work(self, result: CallResult, problem: str | None) -> None:
        for impl in self.hooks.work:
            try:
                impl(result, problem)
            except StorageError as exc:  # bookkeeping; the next bar still goes out
                self.outage.failed("work", exc)

    def on_answers(self, plugin_id: str, durations: list[float]) -> None:
        for impl in self.hooks.answers:
            try:
                impl(plugin_id, durations)
            except StorageError as exc:
                self.outage.failed("work", exc)

    def on_stuck(self, plugin_id: str, running: Future[None], held: float) -> None:
        self.monitor.stuck_in(plugin_id, "on_bar", running, held)
        log.warning("on_bar abandoned", extra=fields(plugin=plugin_id, held_s=round(held, 2)))


class Listeners:
    """``on_work`` for the callables an embedder added to ``Host.work_listeners``
    (a backtest counts hook errors)."""

    def __init__(self, listeners: list[Callable[[CallResult, str | None], None]]) -> None:
        self.listeners = listeners

    @hookimpl
    def on_work(self, result: CallResult, problem: str | None) -> None:
        for listener in self.listeners:
            listener(result, problem)


class SyncTicks:
    """The ledger sync on the host's hooks: after each round a run starts when the
    scheduler's ``sync`` timer is due (none with ``[sync] enabled = false``, and
    none while one is running), and finished runs' alert
    decisions are raised on the round's thread; restarted when ``[sync]`` changes."""

    def __init__(self, host: HostParts, timer: Timer) -> None:
        self.host = host
        self.timer = timer

    @hookimpl
    def after_round(self) -> None:
        sync = self.host.sync
        if sync.enabled and self.timer.due() and sync.start("timer"):
            self.timer.done()
        for decision in sync.drain():
            self.host.monitor.alerting.raise_event(decision.plugin_id, "sync", decision.level,
                                                   decision.message, decision.firing)

    @hookimpl
    def section_changed(self, section: str) -> str | None:
        if section != "sync":
            return None
        done = resync(self.host)
        self.timer.every = self.host.sync.interval  # from the next run the timer starts
        return done


def sync_loop(config: Config, store: Store, clocks: Clocks, retrier: Retrier) -> SyncLoop:
    """The sync manager for ``[sync]``, on the host's timer, retrying through the
    host's retrier (the ``sync`` policy of ``[retry]``)."""
    settings = config.sync()
    manager = SyncManager(store, settings, data_dir() / "plugins", retrier=retrier,
                          wall=clocks.wall)
    return SyncLoop(manager, settings.interval)


def resync(host: HostParts) -> str:
    """``[sync]`` changed in a running host: the next runs use the new table at once,
    and one starts now (a new target gets every trade: cursors are per target)."""
    settings = host.config.sync()
    host.sync.manager = SyncManager(host.store, settings, data_dir() / "plugins",
                                    retrier=host.retrier, wall=host.clocks.wall)
    host.sync.interval = settings.interval
    if not settings.enabled:
        return f"applied live: no timed syncs to {host.sync.manager.target} ([sync] enabled = false)"
    host.sync.start("config")
    return f"applied live: syncing to {host.sync.manager.target} from now on"


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
