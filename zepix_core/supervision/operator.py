"""What operators do about supervision: restart requests, and the give-up mark.

``zepix restart ID`` writes a request. A running host applies it within one
round (``apply_requests``): it forgets the plugin's failures and reloads it.
When a host gives up on a plugin it records a ``gave_up`` event holding a
digest of the plugin's config table; the plugin's status is FAILED. That pair
is the mark: the next host keeps the plugin down (``admits``) until an
``operator_restart`` event (a request, or ``clear_mark`` when no host ran) or
a new version or config comes after it (then a ``retry`` event).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.logs import fields
from zepix_core.contract.model import PluginState
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.ports import PortsOf
from zepix_core.loading.config import load_config
from zepix_core.storage import EventRow, RequestRow, StatusRow
from zepix_core.storage.repos import OperatorRepo
from zepix_core.supervision.guard import RestartRecord, SupervisionLimits

log = logging.getLogger("zepix.supervisor")

#: Events that set (``gave_up``) or clear the mark that keeps a plugin down across starts.
MARK_KINDS = ("gave_up", "operator_restart", "retry")


def config_fingerprint(table: Mapping[str, object]) -> str:
    """A short digest of a plugin's config table, to notice that it changed."""
    text = json.dumps(table, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Supervised(Protocol):
    """What the operator needs of the supervisor it serves (``Supervisor`` is one);
    a protocol, so the two modules do not import each other."""

    @property
    def ports(self) -> PortsOf[OperatorRepo]: ...

    guards: dict[str, RestartRecord]

    def forgive(self, plugin_id: str, request_id: int, actor: str) -> None: ...

    def keep_down(self, plugin_id: str, why: str) -> None: ...

    def open_breaker(self, plugin_id: str, actor: str) -> None: ...

    def reset_breaker(self, plugin_id: str, actor: str) -> None: ...

    def event(self, plugin_id: str, kind: str, detail: str, actor: str = "host") -> None: ...


class RestartRequests:
    """Applies restart requests and the give-up mark for one host's supervisor."""

    def __init__(self, supervisor: Supervised) -> None:
        self.supervisor = supervisor
        self.ports = supervisor.ports
        self._statuses: dict[str, StatusRow] | None = None

    def apply_requests(self) -> None:
        """Every pending restart request, in order (the loop thread, once a round)."""
        store = self.ports.store
        for request in store.pending_requests("restart"):
            outcome = self._restart(request)
            store.finish_request(request["id"], self.ports.clocks.wall(), outcome)
            log.info("request applied", extra=fields(id=request["id"],
                                                     plugin=request["plugin_id"],
                                                     outcome=outcome))
        for action in ("breaker_open", "breaker_reset"):
            for request in store.pending_requests(action):
                outcome = self._breaker(request)
                store.finish_request(request["id"], self.ports.clocks.wall(), outcome)

    def _breaker(self, request: RequestRow) -> str:
        """Apply ``zepix breaker open|reset ID``."""
        plugin_id, actor = request["plugin_id"], str(request["actor"])
        if self.ports.plugins.get(plugin_id) is None:
            return f"not applied: no plugin {plugin_id} in this host"
        if request["action"] == "breaker_open":
            self.supervisor.open_breaker(plugin_id, actor)
            return "breaker OPEN until reset"
        self.supervisor.reset_breaker(plugin_id, actor)
        return "breaker CLOSED"

    def _restart(self, request: RequestRow) -> str:
        plugin_id = request["plugin_id"]
        slot = self.ports.plugins.get(plugin_id)
        if slot is None:
            return f"not restarted: no plugin {plugin_id} is installed"
        note = self._reread(plugin_id)
        if not self.ports.config.plugin(plugin_id).enabled:
            return note + "not restarted: disabled in config (enabled = false)"
        self.supervisor.forgive(plugin_id, request["id"], str(request["actor"]))
        reason = f"operator restart (request {request['id']} by {request['actor']})"
        slot = self.ports.plugins.reload(plugin_id, reason)
        return note + slot.state.value + (f": {slot.reason}" if slot.reason else "")

    def _reread(self, plugin_id: str) -> str:
        """Take the plugin's ``[plugins.ID]`` table from the config file as it is now
        (isolation, pin, limits, its own keys); the rest of the file waits for a host
        restart. Returns a note for the outcome: what changed, or why it was kept."""
        config = self.ports.config
        if config.path is None:
            return ""
        try:
            table = load_config(config.path).plugins.get(plugin_id)
            plugins = {k: v for k, v in config.plugins.items() if k != plugin_id}
            updated = replace(config, plugins={**plugins, **(
                {plugin_id: table} if table is not None else {})})
            SupervisionLimits.of(updated, plugin_id)
        except ZepixError as exc:
            log.warning("plugin config kept", extra=fields(plugin=plugin_id, why=str(exc)))
            return f"config not re-read, the old table stays ({exc}); "
        old, new = dict(config.plugins.get(plugin_id, {})), dict(table or {})
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if not changed:
            return ""
        self.ports.config = updated
        self.supervisor.guards.pop(plugin_id, None)  # rebuilt with the new limits
        log.info("plugin config re-read", extra=fields(plugin=plugin_id, changed=changed))
        return f"[plugins.{plugin_id}] re-read ({', '.join(changed)} changed); "

    def admits(self, slot: PluginSlot) -> bool:
        """Whether startup may activate ``slot``: not when a previous host gave up on it
        and neither an operator (``zepix restart``) nor a new version or config has
        acted since. A restart request still pending is applied here."""
        store, plugin_id = self.ports.store, slot.plugin_id
        if self._statuses is None:  # as the previous host left them
            self._statuses = store.statuses()
        for request in store.pending_requests("restart", plugin_id):
            self.supervisor.forgive(plugin_id, request["id"], str(request["actor"]))
            store.finish_request(request["id"], self.ports.clocks.wall(),
                                 "applied at host start")
        mark = store.last_event(plugin_id, MARK_KINDS)
        row = self._statuses.get(plugin_id)
        if (mark is None or mark["kind"] != "gave_up" or row is None
                or row["state"] != PluginState.FAILED.value):
            return True
        changed = _changed(slot, row, mark)
        if changed:
            self.supervisor.event(plugin_id, "retry",
                                  f"{changed} since it was given up on; activating")
            return True
        self.supervisor.keep_down(plugin_id, mark["detail"])
        slot.mark(PluginState.FAILED, row["reason"])
        slot.release()
        log.warning("kept down", extra=fields(plugin=plugin_id, reason=row["reason"]))
        return False


def clear_mark(store: OperatorRepo, request_id: int, status: StatusRow, now: float) -> None:
    """``zepix restart`` while no host runs: apply the request at once by clearing the
    give-up mark (an ``operator_restart`` event), so the next start activates the plugin."""
    plugin_id, failed = status["plugin_id"], status["state"] == PluginState.FAILED.value
    outcome = ("no host running: FAILED mark cleared; the next start activates it" if failed
               else "no host running: the next start activates it")
    if not store.finish_request(request_id, now, outcome):
        return  # a host that started meanwhile took it
    request = store.request(request_id)
    actor = "operator" if request is None else request["actor"]
    store.record_event(plugin_id, "operator_restart", f"request {request_id}: {outcome}", now,
                       version=status["version"], actor=actor)
    if failed:
        store.set_status(plugin_id, status["distribution"], status["version"],
                         PluginState.INACTIVE.value,
                         f"restart requested by {actor}; the next start activates it", now)


def _changed(slot: PluginSlot, row: StatusRow, mark: EventRow) -> str | None:
    """What changed since the give-up ``mark``: the installed version or the config."""
    if row["version"] != slot.version:
        return f"version {slot.version} installed (was {row['version']})"
    if f"[config {config_fingerprint(slot.config.table)}]" not in mark["detail"]:
        return "its config changed"
    return None
