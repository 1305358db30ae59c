"""Applying a changed config file to a running host, and only what changed.

Every ``POLL`` seconds between rounds (and at once after SIGHUP or
``zepix config reload``) the host asks its ``ConfigWatcher``. A file that does
not validate is refused whole: the old config stays, a WARNING alert and a
history row name file, line and key. A valid one is applied per dotted key:
``enabled`` deactivates or activates that plugin alone, ``version`` and
``isolation`` reload it alone, a plugin's own keys go to its ``config_changed``
hook (reloaded alone when it does not apply them live), and the rest takes
effect at once through ``host.config``, which every subsystem reads.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from packaging.version import Version

from zepix_core.contract.errors import StorageError, ZepixError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES, hookimpl
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel, PluginState
from zepix_core.execution.dispatch import IntentLimits
from zepix_core.execution.runner import call
from zepix_core.health.alerting import HOST_ALERTS
from zepix_core.host.parts import HostParts
from zepix_core.loading.config import HOST_PLUGIN_KEYS
from zepix_core.loading.edit import effective, lookup, split_key
from zepix_core.loading.tables import hidden, read_at_start, redact
from zepix_core.loading.watch import POLL, Changed, ConfigWatcher, Rejected
from zepix_core.storage.configchanges import RELOAD
from zepix_core.versions.policy import VersionCommands

log = logging.getLogger(__name__)

#: Who changed the file, in the history (the host cannot know the editor).
BY = "file"
#: Keys read once at start: in the file at once, in effect at the next start.
AT_START = ("http.", "telegram.", *read_at_start())  # http/telegram: without a restarter

#: The reason of a change written to the file but not in force yet (status ``recorded``).
NOT_LIVE = "recorded, applies at restart"

#: Host keys of a plugin table the plugin reads too, so it hears of them.
TOLD = ("symbols",)

__all__ = ["POLL", "RELOAD", "LastReload", "Reconfigurer"]


@dataclass(frozen=True)
class LastReload:
    """The last look at a changed file: ``at`` when, ``ok`` whether it was applied
    (``reason`` why not); ``applied_at`` when the config in force was loaded."""

    at: float
    ok: bool
    applied_at: float
    reason: str | None = None


class Reconfigurer:
    def __init__(self, host: HostParts) -> None:
        self.host = host
        path = host.config.path
        self.watcher = ConfigWatcher(path) if path is not None else None
        #: Set from a signal handler (SIGHUP): check at the next poll whatever the stamp.
        self.force = False
        #: How the file in force came: ``loaded`` at start, ``applied`` by a reload.
        self._status = "loaded"
        #: The config in force before and after the change being applied, defaults in.
        self._before: dict[str, object] = {}
        self._after: dict[str, object] = {}
        started = host.clocks.wall()
        self.last_reload = LastReload(started, True, started)

    @hookimpl(specname="between_rounds")
    def poll(self) -> Changed | Rejected | None:
        """Look at the file (and pending reload requests); apply what changed. The
        host's scheduler calls it every ``POLL`` seconds between rounds."""
        if self.watcher is None:
            return None
        store, now = self.host.store, self.host.clocks.wall()
        requests = store.pending_requests(action=RELOAD)
        force, self.force = self.force or bool(requests), False
        result = self.watcher.check(self.host.config, force=force)
        if isinstance(result, Rejected):
            self._reject(result)
            self.last_reload = LastReload(now, False, self.last_reload.applied_at,
                                          result.message)
        elif isinstance(result, Changed):
            self._apply(result)
            self.last_reload = LastReload(now, True, now)
        outcome = ("rejected: " + result.message if isinstance(result, Rejected) else
                   f"applied {len(result.changes)} change(s)" if result else "no change")
        for request in requests:
            store.finish_request(request["id"], now, outcome)
        if result is not None:
            self._status = "applied" if isinstance(result, Changed) else "rejected"
            self.publish()
        return result

    def in_force(self) -> dict[str, object]:
        """The config this host uses now, every table with its defaults, secrets hidden,
        with ``file_valid`` and ``last_reload`` (contract section 16)."""
        path, last = self.host.config.path, self.last_reload
        status = self._status if last.ok else "rejected"
        return {**redact(effective(self.host.config)), "file": None if path is None else str(path),
                "file_valid": last.ok,
                "last_reload": {"at": _iso(last.at), "status": status,
                                "reason": last.reason or {"loaded": "read at start"}.get(
                                    status, "the changed file was applied")}}

    def publish(self) -> None:
        """Keep ``in_force`` in the database, for ``zepix config show --running``."""
        try:
            self.host.store.publish_config(self.host.host_id, self.in_force(),
                                           self.host.clocks.wall())
        except StorageError as exc:  # shown again at the next reload; trading goes on
            log.warning("config in force not recorded", extra=fields(error=str(exc)))

    def _reject(self, rejected: Rejected) -> None:
        log.warning("config rejected", extra=fields(error=rejected.message, key=rejected.key))
        self.host.store.add_config_change(self.host.clocks.wall(), rejected.key, None, None,
                                          "rejected", BY, reason=rejected.message)
        self._alert(rejected.message, firing=True)

    def _alert(self, message: str, firing: bool) -> None:
        self.host.monitor.alerting.raise_event(HOST_ALERTS, "config", AlertLevel.WARNING,
                                               message, firing=firing)

    def _apply(self, changed: Changed) -> None:
        old, self.host.ports.config = self.host.config, changed.config
        self._before, self._after = effective(old), effective(changed.config)
        self.host.monitor.retune(changed.config)
        per_plugin: dict[str, dict[str, tuple[object, object]]] = defaultdict(dict)
        sections: dict[str, list[tuple[str, object, object]]] = defaultdict(list)
        for key, (a, b) in changed.changes.items():
            parts = key.split(".", 2)
            if parts[0] == "plugins" and len(parts) == 3:
                per_plugin[parts[1]][parts[2]] = (a, b)
            else:
                sections[parts[0]].append((key, a, b))
        for section, keys in sections.items():
            how = self._restart_edge(section)  # the host's ``section_changed`` hook
            for key, a, b in keys:
                self._record(key, a, b, self._live(key) if how is None else how)
        for plugin_id, changes in per_plugin.items():
            self._plugin(plugin_id, changes)
        if changed.config.host["interval"] != old.host["interval"]:
            self.host.loop.period = float(changed.config.host["interval"])
        self._alert(f"config {changed.config.path} applied", firing=False)

    def _restart_edge(self, section: str) -> str | None:
        try:
            return self.host.hooks.section_changed(section)
        except Exception as exc:  # noqa: BLE001 - the host goes on; the history says why
            log.warning("config change not applied", extra=fields(section=section,
                                                                   error=str(exc)))
            return f"{NOT_LIVE}: restarting [{section}] failed ({exc}); the old one is off"

    @staticmethod
    def _live(key: str) -> str:
        if key.startswith(AT_START):
            return f"{NOT_LIVE}: read at start; takes effect when the host restarts"
        return "applied live"

    def _record(self, key: str, old: object, new: object, reason: str) -> None:
        """One history row: a value the file left unset is shown as its default in force,
        a secret as ``***``; a change not in force yet is ``recorded``, never ``applied``."""
        old, new = (hidden(key, _in_force(doc, key, value))
                    for doc, value in ((self._before, old), (self._after, new)))
        if reason.startswith(NOT_LIVE):
            log.warning("config change needs a restart", extra=fields(key=key, reason=reason))
            status = "recorded"
        else:
            log.info("config change applied", extra=fields(key=key, reason=reason))
            status = "applied"
        self.host.store.add_config_change(self.host.clocks.wall(), key, old, new, status,
                                          BY, reason=reason)

    def _plugin(self, plugin_id: str, changes: Mapping[str, tuple[object, object]]) -> None:
        host, slot = self.host, self.host.slots.get(plugin_id)
        prefix = f"plugins.{plugin_id}."
        own = {f"{prefix}{k}": [a, b] for k, (a, b) in changes.items()
               if k.split(".")[0] not in HOST_PLUGIN_KEYS or k in TOLD}
        enabled = changes.get("enabled")
        if slot is None:
            reason = "recorded; no such plugin discovered"
        elif enabled is not None and enabled[1] is False:
            if slot.state is PluginState.ACTIVE:
                host.deactivate(slot, "config: enabled = false", PluginState.INACTIVE)
            reason = "deactivated"
        elif slot.state is not PluginState.ACTIVE:
            slot.config = host.config.plugin(plugin_id)
            if enabled is not None or slot.state is PluginState.INACTIVE:
                slot = host.reload(plugin_id, "config: enabled")
                reason = f"activated: {slot.state.value}"
            else:
                reason = "recorded; the plugin is not active"
        elif "version" in changes and "isolation" not in changes:
            slot.config = host.config.plugin(plugin_id)
            reason = self._pin(plugin_id, slot.version)
        elif {"version", "isolation"} & changes.keys():
            slot = host.reload(plugin_id, "config: " + " and ".join(
                sorted({"version", "isolation"} & changes.keys())))
            reason = f"plugin reloaded alone: {slot.state.value}"
        elif own and not self._tell(plugin_id, own):
            slot = host.reload(plugin_id, "config: its settings changed")
            reason = f"plugin restarted alone (config_changed absent or false): {slot.state.value}"
        else:
            slot.config = host.config.plugin(plugin_id)
            host.dispatcher.limits[plugin_id] = IntentLimits.of(slot.config.table)
            reason = "applied live" + (" (config_changed)" if own else "")
        for key, (a, b) in changes.items():
            self._record(prefix + key, a, b, reason)

    def _pin(self, plugin_id: str, running: str) -> str:
        """A moved pin: the newest installed version it admits becomes the desired one,
        through the requests ``zepix upgrade`` makes (so the gate judges it)."""
        host = self.host
        pin = host.config.plugin(plugin_id).version
        if pin is None or pin.contains(running, prereleases=True):
            return f"applied live: the running {running} satisfies the pin"
        fits = [v for v in host.versions.installed(plugin_id)
                if pin.contains(v, prereleases=host.config.plugin(plugin_id).allow_prereleases)]
        if not fits:
            return f"{NOT_LIVE}: no installed version satisfies {pin}; {running} runs"
        target = str(max(fits, key=Version))
        operator = VersionCommands(host.store, host.versions.plugins, host.config,
                            list(host.versions.env.values()), host.api_version,
                            clock=host.clocks.wall, actor="config")
        try:
            recorded = operator.upgrade(plugin_id, target)
        except ZepixError as exc:
            return f"{NOT_LIVE}: {exc}"
        return f"requested {target} through the version gate (request {recorded.request_id})"

    def _tell(self, plugin_id: str, changes: Mapping[str, list[object]]) -> bool:
        """``config_changed(changes)``: True only when the plugin says it applied them."""
        slot = self.host.slots[plugin_id]
        if slot.runner is None:
            return False
        result = call(slot.runner, "config_changed", DEFAULT_DEADLINES["config_changed"],
                      {"changes": dict(changes)}, self.host.clocks.monotonic)
        self.host.monitor.on_hook(result)
        return result.ok and result.value is True


def _in_force(document: Mapping[str, object], key: str, value: object) -> object:
    """``value`` (None: the file did not set ``key``), else the default in force."""
    if value is not None:
        return value
    try:
        return lookup(document, split_key(key))
    except (KeyError, ZepixError):
        return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
