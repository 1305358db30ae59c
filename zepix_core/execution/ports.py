"""The narrow interfaces the host hands its subsystems, instead of itself.

Monitoring, supervision and version management never see the ``Host``. Each gets
the plugin table (``PluginTable``: read the slots, ask the host to replace or stop
one), the clocks, the config and the store (``Ports``), plus the collaborators it
works with (the monitor, a breaker lookup) as explicit arguments. What changes a
slot goes through the table, so only the host and the lifecycle write plugin state.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from zepix_core.contract.model import PluginState
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.runner import Clock
from zepix_core.loading.config import Config
from zepix_core.loading.discovery import EntryRecord
from zepix_core.storage import Store


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


class PluginTable(Protocol):
    """The host's plugin slots, as a subsystem may see and change them."""

    @property
    def running(self) -> bool:
        """Whether the host has started and not yet shut down."""

    def get(self, plugin_id: str) -> PluginSlot | None:
        """The current slot of ``plugin_id`` (any state), or None."""

    def all(self) -> list[PluginSlot]:
        """Every slot, in discovery order."""

    def active(self) -> list[PluginSlot]:
        """The ACTIVE slots in dependency order."""

    def reload(self, plugin_id: str, reason: str,
               record: EntryRecord | None = None) -> PluginSlot:
        """Replace the plugin's instance (``record``: another version); see ``Host.reload``."""

    def deactivate(self, slot: PluginSlot, reason: str, state: PluginState) -> None:
        """Deactivate ``slot``, close its activation and leave it in ``state``."""

    def save_status(self, slot: PluginSlot) -> None:
        """Record ``slot``'s state and reason as the plugin's current status."""


S_co = TypeVar("S_co", covariant=True)


class PortsOf(Protocol[S_co]):
    """``Ports`` as one subsystem sees it: ``store`` narrowed to the repository it uses
    (a ``storage.repos`` protocol); only ``config`` may be replaced (a re-read)."""

    config: Config

    @property
    def plugins(self) -> PluginTable: ...

    @property
    def store(self) -> S_co: ...

    @property
    def clocks(self) -> Clocks: ...

    @property
    def api_version(self) -> str: ...

    @property
    def host_id(self) -> str: ...


@dataclass
class Ports:
    """What every subsystem of one host shares: its plugins, config, store and time.

    One instance per host, shared by its subsystems: when the host takes a new config
    it replaces ``config`` here and every subsystem reads the new one.
    """

    plugins: PluginTable
    config: Config
    store: Store
    clocks: Clocks
    api_version: str
    host_id: str
