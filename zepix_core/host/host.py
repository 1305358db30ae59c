"""The host: the plugin slot table and the start, reload and stop sequence; the
subsystems are wired by ``compose``, and each step is owned by a module of its own
(``activation``, ``feeding``, ``rounds``, ``loop``, ``reconfig``, ``lease``, ``replay``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from zepix_core.contract.model import Bar, Fill, Intent, PluginState
from zepix_core.execution.lifecycle import PluginSlot, RunnerFactory
from zepix_core.execution.ports import Clocks
from zepix_core.host.activation import Activation
from zepix_core.host.compose import only_plugins, wire
from zepix_core.host.feeding import Feeding
from zepix_core.host.lease import claim
from zepix_core.host.limits import raise_open_files
from zepix_core.host.parts import HostParts
from zepix_core.host.reconfig import Reconfigurer
from zepix_core.host.replay import Replay
from zepix_core.host.rounds import Rounds
from zepix_core.loading.config import Config, load_config
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins
from zepix_core.loading.paths import config_path, db_path
from zepix_core.storage import HostRow, PauseRow, Store


class Host(HostParts):
    """Discovers, resolves, activates and supervises plugins; see ``create_host``.

    The host owns the plugin slots. Its subsystems (monitor, supervisor, versions) see
    them through ``Ports`` (the host is their ``PluginTable``) and never the host itself.
    """

    def __init__(self, config: Config, store: Store, *, api_version: str,
                 paths: Sequence[str] | None = None, clocks: Clocks | None = None,
                 runner_factories: dict[str, RunnerFactory] | None = None) -> None:
        self.store, self.api_version, self.paths = store, api_version, paths
        self.clocks = clocks or Clocks()
        self.slots: dict[str, PluginSlot] = {}
        self.order: list[str] = []
        self.host_id, self.started = uuid.uuid4().hex, False
        #: Hosts that had died without shutting down, closed by ``claim``.
        self.recovered: list[HostRow] = []
        #: When each active plugin's current activation began (wall clock).
        self.activated_at: dict[str, float] = {}
        #: Host-measured figures start from zero in this run (the fills stay recorded).
        self.fresh_figures = False
        wire(self, config, runner_factories)  # every subsystem (``compose``)
        self.reconfig = Reconfigurer(self)
        self.hooks.register(self.reconfig, "zepix.reconfig")  # between_rounds: the file
        self.activation = Activation(self)
        self.feeding = Feeding(self, self.paused)
        self.pipeline = Rounds(self, self.feeding)
        self.replay = Replay(self, config)  # the seeded replay of ``run`` and its market
        self.market = self.replay.market

    @property
    def config(self) -> Config:
        """The config in force (kept in ``ports``: a reload replaces it for everyone)."""
        return self.ports.config

    # -- start -------------------------------------------------------------
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
        self.activation.record_versions(slots, now)
        for pid in self.order:
            if self.supervisor.admits(self.slots[pid]):
                self.activation.bring_up(self.slots[pid], "startup",
                                         self.activation.requires_active)
        for slot in slots:
            self.save_status(slot)
        return slots

    def discover(self) -> list[PluginSlot]:
        """Enumerate, load and read metadata of every plugin, then resolve; no activation."""
        return self.activation.discover()

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
        if self.activation.bring_up(slot, reason, self.activation.admit):
            self.supervisor.started(plugin_id)
            if again:
                self.restart_notices.tell(slot, reason)
        self.save_status(slot)
        return slot
    def deactivate(self, slot: PluginSlot, reason: str, state: PluginState) -> None:
        """Deactivate one plugin, close its records, leave it in ``state`` (``activation``)."""
        self.activation.deactivate(slot, reason, state)

    # -- the plugin table (``PluginTable``) --------------------------------
    @property
    def running(self) -> bool:
        return self.started

    def get(self, plugin_id: str) -> PluginSlot | None:
        return self.slots.get(plugin_id)

    def all(self) -> list[PluginSlot]:
        return list(self.slots.values())

    def active(self) -> list[PluginSlot]:
        return [self.slots[pid] for pid in self.order
                if pid in self.slots and self.slots[pid].state is PluginState.ACTIVE]

    def save_status(self, slot: PluginSlot) -> None:
        self.store.set_status(slot.plugin_id, slot.record.distribution, slot.version,
                              slot.state.value, slot.reason, self.clocks.wall())

    # -- bars, fills, pauses (``feeding``) and rounds (``rounds``, ``loop``) ----
    def on_bar(self, bar: Bar) -> list[Intent]:
        """Feed one closed bar; returns the active plugins' checked intents."""
        return self.feeding.feed([bar])

    def feed(self, bars: Sequence[Bar]) -> list[Intent]:
        """Feed ``bars`` in order (``feeding.Feeding.feed``); returns the intents."""
        return self.feeding.feed(bars)

    def report_fill(self, fill: Fill) -> Intent:
        """Book a fill the bot executed and tell the plugin; ``IntentError`` if unknown."""
        return self.feeding.report_fill(fill)

    @property
    def pauses(self) -> dict[str, PauseRow]:
        return self.paused.rows  # plugin id -> reason, actor, paused_at

    def refresh_pauses(self) -> dict[str, PauseRow]:
        return self.paused.refresh()

    def is_paused(self, plugin_id: str) -> bool:
        return plugin_id in self.paused.rows

    def round(self) -> str:
        """One monitoring round; its one-line summary (``rounds.Rounds.round``)."""
        return self.pipeline.round()

    def interval(self, override: float | None = None) -> float:
        return float(override if override is not None else self.config.host["interval"])

    def rounds(self, period: float, on_round: Callable[[str], None] | None = None, *,
               once: bool = False, duration: float | None = None,
               step: Callable[[], str] | None = None) -> None:
        """A round every ``period`` seconds until told to stop (``host.loop``)."""
        self.loop.run(period, step or self.round, on_round, once=once, duration=duration)

    def run(self, *, once: bool = False, duration: float | None = None,
            interval: float | None = None,
            on_start: Callable[[list[PluginSlot]], None] | None = None,
            on_round: Callable[[str], None] | None = None) -> None:
        """The seeded replay on this thread (``host.replay``): tests and the author kit."""
        self.replay.run(once=once, duration=duration, interval=interval, on_start=on_start,
                        on_round=on_round)

    def work(self) -> tuple[int, int]:
        """One round's seeded replay bars (``host.replay``)."""
        return self.replay.work()

    def warm_up(self) -> None:
        self.replay.warm_up()

    # -- stop --------------------------------------------------------------
    def release(self) -> None:
        """Stop every runner without deactivation hooks (after a discovery-only use)."""
        for slot in self.slots.values():
            slot.release()

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
        self.feeding.drop_backlog(save=self.started)  # bars kept in checks: never offered
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
