"""The host's own ``snapshot_fields`` (a ``HostSpec`` hook on the host's plugin manager):
``uptime_seconds`` of the plugin's current activation and the ``db_*`` figures of its
own database, in every health snapshot."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from zepix_core.contract.hookspecs import hookimpl
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.plugindb import health_fields

__all__ = ["SlotFields"]


class SlotFields:
    """Registered as ``zepix.host``; reads the slots and activation times it is given."""

    name = "zepix.host"

    def __init__(self, slot: Callable[[str], PluginSlot | None],
                 activated_at: Mapping[str, float], wall: Callable[[], float]) -> None:
        self._slot = slot
        self._activated_at = activated_at
        self._wall = wall

    @hookimpl
    def snapshot_fields(self, plugin_id: str) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        since = self._activated_at.get(plugin_id)
        if since is not None:  # how long the plugin's current activation has run
            fields["uptime_seconds"] = max(0.0, self._wall() - since)
        slot = self._slot(plugin_id)
        if slot is not None and slot.database is not None:
            fields.update(health_fields(slot.database))
        return fields
