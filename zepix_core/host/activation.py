"""Start-up and activation: discovery to resolution, one plugin brought up or down.

``Activation.discover`` enumerates, loads and reads every plugin's metadata and
settings (each read for all plugins at once) and resolves the load order;
``bring_up`` activates one plugin and records it (activation row, the monitor's
watch); ``admit`` resolves a plugin loaded while the host runs against the active
ones; ``deactivate`` stops one and closes its records. ``Host`` sequences them
(``start``, ``reload``, ``shutdown``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from packaging.version import Version

from zepix_core.contract.errors import StorageError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.logs import fields
from zepix_core.contract.model import PluginState
from zepix_core.execution.calls import call_many
from zepix_core.execution.dispatch import IntentLimits
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
from zepix_core.execution.runner import Runner
from zepix_core.host.parts import HostParts
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.loading.resolution import Candidate, resolve

log = logging.getLogger("zepix.host")

__all__ = ["Activation"]


class Activation:
    """Loads, resolves, activates and deactivates the host's plugins."""

    def __init__(self, host: HostParts) -> None:
        self.host = host

    def discover(self) -> list[PluginSlot]:
        """Enumerate, load and read metadata of every plugin, then resolve; no activation."""
        host = self.host
        slots = [PluginSlot(record=rec, config=host.config.plugin(rec.plugin_id),
                            state=rec.state, reason=rec.reason and f"{rec.label}: {rec.reason}")
                 for rec in host.versions.select(enumerate_plugins(host.paths))]
        # A duplicated id is REJECTED in every record; keep the first for reporting.
        host.slots.clear()
        for slot in slots:
            host.slots.setdefault(slot.plugin_id, slot)
        loadable = [s for s in slots if s.state is PluginState.DISCOVERED]
        for slot in loadable:
            if not slot.config.enabled:
                slot.mark(PluginState.INACTIVE, "disabled in config (enabled = false)")
                continue
            load(slot, self.factory(slot))
        self._read("plugin_version", [s for s in loadable if s.runner is not None])
        self._read("plugin_settings", [s for s in loadable if s.runner is not None
                                       and s.state is PluginState.DISCOVERED])
        self._resolve()
        return slots

    def record_versions(self, slots: list[PluginSlot], now: float) -> None:
        """Every discovered plugin's version and release, as the history keeps them."""
        for slot in slots:
            self.host.store.record_version(slot.plugin_id, slot.version,
                                           slot.record.distribution,
                                           slot.record.location or "environment", now)
            self.host.versions.record_release(slot)

    def factory(self, slot: PluginSlot) -> RunnerFactory:
        versions = self.host.versions
        if versions.in_store(slot.record):  # never in process: see _pluginstore
            return versions.factory_for(slot.record)
        return self.host.factories.get(slot.config.isolation, inprocess_runner)

    def _read(self, hook: str, slots: list[PluginSlot]) -> None:
        """Every plugin's ``plugin_version`` or ``plugin_settings`` at once, each checked."""
        calls: list[tuple[Runner, str, Mapping[str, object], float]] = [
            (s.runner, hook, {}, DEFAULT_DEADLINES[hook]) for s in slots if s.runner is not None]
        slots = [s for s in slots if s.runner is not None]
        check = read_meta if hook == "plugin_version" else read_settings
        for slot, result in zip(slots, call_many(calls, self.host.clocks.monotonic),
                                strict=True):
            check(slot, result)
            if slot.state is PluginState.REJECTED:
                slot.release()

    def _resolve(self) -> None:
        ready = {s.plugin_id: s for s in self.host.slots.values()
                 if s.meta is not None and s.state is PluginState.DISCOVERED}
        # The distribution's version is authoritative: it is what pip installed and
        # what pins refer to; a differing self-reported version is only noted.
        candidates = {pid: Candidate(pid, Version(s.version), s.meta)
                      for pid, s in ready.items() if s.meta is not None}
        res = resolve(candidates, self.host.api_version,
                      {pid: s.config.policy() for pid, s in ready.items()})
        for pid, (state, why) in res.verdicts.items():
            ready[pid].fail(state, why)
            ready[pid].release()
        self.host.order[:] = res.order

    def bring_up(self, slot: PluginSlot, reason: str, admit: Admit) -> bool:
        """``lifecycle.bring_up``, then the host's records: the activation row and the
        monitor's watch."""
        host = self.host
        if not bring_up(slot, self.factory(slot), host.api_version, host.clocks.monotonic,
                        admit=admit):
            if slot.state is PluginState.FAILED:
                log.warning("activation failed", extra=fields(plugin=slot.plugin_id,
                                                              reason=slot.reason))
            return False
        host.dispatcher.limits[slot.plugin_id] = IntentLimits.of(slot.config.table)
        now = host.clocks.wall()
        slot.activation_id = host.store.open_activation(
            slot.plugin_id, slot.version, slot.record.distribution, host.host_id, now, reason)
        host.activated_at[slot.plugin_id] = now
        host.monitor.attach(slot)
        log.info("activated", extra=fields(plugin=slot.plugin_id, version=slot.version,
                                           reason=reason))
        return True

    def requires_active(self, slot: PluginSlot) -> None:
        """At startup: the plugins it requires were activated before it."""
        table = self.host.slots
        blocked = [dep for dep in (slot.meta.requires if slot.meta else {})
                   if table.get(dep) is None or table[dep].state is not PluginState.ACTIVE]
        if blocked:
            slot.fail(PluginState.FAILED, f"required plugin(s) {', '.join(blocked)} did not "
                      "activate")

    def admit(self, slot: PluginSlot) -> None:
        """Resolve one plugin against the plugins active now; record the version seen."""
        assert slot.meta is not None
        host = self.host
        others = {s.plugin_id: Candidate(s.plugin_id, Version(s.version), s.meta)
                  for s in host.active() if s.meta is not None and s is not slot}
        own = Candidate(slot.plugin_id, Version(slot.version), slot.meta)
        res = resolve({**others, slot.plugin_id: own}, host.api_version,
                      {slot.plugin_id: slot.config.policy()})
        if slot.plugin_id in res.verdicts:
            state, why = res.verdicts[slot.plugin_id]
            slot.fail(state, why)
            return
        host.store.record_version(slot.plugin_id, slot.version, slot.record.distribution,
                                  slot.record.location or "environment", host.clocks.wall())
        host.versions.record_release(slot)

    def deactivate(self, slot: PluginSlot, reason: str, state: PluginState) -> None:
        """Deactivate one plugin, close its activation record and set its new state.

        The plugin is deactivated first; a failed write of the records is logged
        and does not stop it (or, at shutdown, the plugins after it).
        """
        host = self.host
        try:
            stuck = host.monitor.detach(slot.plugin_id)
        except StorageError as exc:
            stuck = None
            host.outage.failed("deactivate", exc)
        if stuck is not None:  # its deactivate hook would only queue behind that call
            log.warning("deactivate skipped", extra=fields(plugin=slot.plugin_id, reason=stuck))
            slot.release()
        error = deactivate(slot, reason, host.clocks.monotonic, state)
        if error:
            log.warning("deactivate raised", extra=fields(plugin=slot.plugin_id, error=error))
        activation, slot.activation_id = slot.activation_id, None
        try:
            if activation is not None:
                host.store.close_activation(activation, host.clocks.wall(), reason)
            host.save_status(slot)
        except StorageError as exc:
            host.outage.failed("deactivate", exc)
