"""The one typed door of the edges (api, telegram, cli, app) into a running host.

The edges read slots and figures, run something under the host's loop, ask for a
reload, raise a host alert or register an alert sink through ``Facade`` only, never
through a subsystem's attributes (``host.loop.busy``, ``host.reconfig.force``,
``host.hooks``, ``host.monitor.alerting``, ...), so a subsystem can
change its insides without touching an edge. ``of(host)`` gives it; it keeps no
state of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from zepix_core.contract.model import AlertLevel
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.health.alerting import HOST_ALERTS
from zepix_core.health.histogram import Histogram
from zepix_core.health.watched import Watched
from zepix_core.host.hooks import SectionRestart
from zepix_core.host.host import Host
from zepix_core.host.reconfig import LastReload

__all__ = ["Facade", "of"]


class Facade:
    """What the edges may see and do of one host."""

    def __init__(self, host: Host) -> None:
        self._host = host

    # -- reads -------------------------------------------------------------
    def slots(self) -> list[PluginSlot]:
        return list(self._host.slots.values())

    def breaker_fields(self, plugin_id: str) -> dict[str, Any]:
        """``breaker`` and ``breaker_detail`` of the plugin, as its snapshot has them."""
        return self._host.supervisor.snapshot_fields(plugin_id)

    def latest_snapshots(self) -> Mapping[str, Mapping[str, Any]]:
        """Each watched plugin's latest round record, by plugin id."""
        return self._host.monitor.latest

    def watched(self) -> list[tuple[str, Watched]]:
        """The plugins under watch now and what the monitor keeps of each."""
        return sorted(self._host.monitor.watched.items())

    def hook_latency(self) -> dict[tuple[str, str], Histogram]:
        return self._host.monitor.latency.snapshot()

    def intents_counted(self) -> Mapping[str, int]:
        return self._host.monitor.intents

    def last_round(self) -> tuple[float, float] | None:
        """(wall time the last round ended, its duration in seconds), or None."""
        return self._host.monitor.last_round

    def rounds(self) -> int:
        return self._host.monitor.rounds

    def round_latency(self) -> Histogram:
        """Durations of this host's rounds."""
        return self._host.monitor.round_latency.snapshot().get(("host", "round"), Histogram())

    def risk_desk(self, plugin_id: str, now: float) -> dict[str, Any]:
        """The plugin's risk limits and where it stands against them (``host.risk``)."""
        return self._host.risk.desk(plugin_id, now)

    def realised_between(self, plugin_id: str, start: float, end: float) -> tuple[float, int]:
        """Realised P&L and trades of the plugin between two wall times."""
        return self._host.risk.realised_between(plugin_id, start, end)

    def probation_rounds(self) -> int:
        return self._host.versions.settings.probation_rounds

    def config_in_force(self) -> dict[str, object]:
        return self._host.reconfig.in_force()

    def last_reload(self) -> LastReload:
        return self._host.reconfig.last_reload

    # -- the loop ----------------------------------------------------------
    @contextmanager
    def under_loop(self) -> Iterator[None]:
        """Run the block between bars and rounds (the host's loop lock)."""
        with self._host.loop.busy:
            yield

    def loop_lock(self) -> threading.RLock:
        """The loop lock itself, for a caller that must try it without blocking."""
        return self._host.loop.busy

    def persist_now(self) -> list[dict[str, Any]]:
        """A snapshot of every watched plugin now (take ``under_loop`` first)."""
        return self._host.monitor.persist_now()

    def round_restarts(self) -> int:
        """How often a round raised and the rounds went on (``host.loop``)."""
        return self._host.loop.restarts

    # -- actions -----------------------------------------------------------
    def round_died(self, exc: Exception) -> None:
        """Rounds ended by ``exc`` outside a round: counted, CRITICAL ``zepix:rounds``."""
        self._host.loop.died(exc)

    def rounds_alert(self, message: str, firing: bool) -> None:
        """Raise or resolve the host's ``zepix:rounds`` alert."""
        self._host.loop.alert(message, firing)

    def open_breaker(self, plugin_id: str, actor: str) -> None:
        self._host.supervisor.open_breaker(plugin_id, actor)

    def any_breaker_open(self) -> bool:
        """Whether any plugin's circuit breaker is open now (a backtest then feeds
        one close time at a time)."""
        return self._host.supervisor.any_breaker_open()

    def reset_breaker(self, plugin_id: str, actor: str) -> None:
        self._host.supervisor.reset_breaker(plugin_id, actor)

    def sync_now(self, actor: str) -> bool:
        """Start a ledger sync now; False when one is already running."""
        return self._host.sync.start(actor)

    def request_reload(self) -> None:
        """Look at the config file at the next chance (as SIGHUP does)."""
        self._host.reconfig.force = True

    def on_config_change(self, section: str, restart: Callable[[], str]) -> None:
        """``restart`` (returning what it did, in words) carries out a change of
        ``[section]`` in a running host (the HTTP server, the Telegram bot)."""
        self._host.hooks.register(SectionRestart(section, restart), f"zepix.section.{section}")

    def raise_alert(self, kind: str, level: AlertLevel, message: str,
                    firing: bool = True) -> None:
        """A host alert (``zepix:<kind>``), raised between bars and rounds."""
        with self.under_loop():
            self._host.monitor.alerting.raise_event(HOST_ALERTS, kind, level, message, firing)

    def test_alerts(self, actor: str) -> list[dict[str, object]]:
        """``zepix alerts test``: one test alert through every sink; what each said."""
        return self._host.monitor.alerting.test(actor)

    def register_sink(self, sink: object, name: str) -> None:
        """An ``alert_sink`` plugin on the host's own plugin manager."""
        self._host.monitor.alerting.pm.register(sink, name=name)

    def unregister_sink(self, sink: object) -> None:
        pm = self._host.monitor.alerting.pm
        if pm.is_registered(sink):
            pm.unregister(sink)


def of(host: Host) -> Facade:
    """The façade of ``host``."""
    return Facade(host)
