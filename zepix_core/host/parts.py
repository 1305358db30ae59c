"""What a host is made of: its slot table and the subsystems ``compose.wire`` builds.

``HostParts`` is what the host's own modules (``activation``, ``feeding``,
``rounds``, ``reconfig``, ``compose``) use of the host, so none of them imports
``host.host`` (no cycle); ``Host`` is its one subclass. The host-side
modules that take a ``HostParts`` (activation, feed path, round pipeline, config
reloads, the loop) are built by ``Host`` itself after ``compose.wire``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from zepix_core.contract.model import PluginState
from zepix_core.execution.dispatch import Dispatcher
from zepix_core.execution.lifecycle import PluginSlot, RunnerFactory
from zepix_core.execution.ports import Clocks, Ports
from zepix_core.execution.runner import CallResult
from zepix_core.health.monitor import Monitor
from zepix_core.host.bars import BarAccounts
from zepix_core.host.hooks import Hooks
from zepix_core.host.loop import Loop
from zepix_core.host.outage import Outage
from zepix_core.host.pauses import Pauses
from zepix_core.host.risk import RiskWatch
from zepix_core.host.trades import Trades
from zepix_core.host.turns import Turns
from zepix_core.loading.config import Config
from zepix_core.loading.discovery import EntryRecord
from zepix_core.retry import Retrier
from zepix_core.storage import PauseRow, Store
from zepix_core.supervision.restarted import RestartNotices
from zepix_core.supervision.supervisor import Supervisor
from zepix_core.sync import SyncLoop
from zepix_core.versions.reconcile import HostVersions

__all__ = ["HostParts"]


class HostParts(ABC):
    """The slot table (``slots``, ``order``, ``active``) and the composed subsystems."""

    store: Store
    clocks: Clocks
    host_id: str
    api_version: str
    paths: Sequence[str] | None
    factories: dict[str, RunnerFactory]
    slots: dict[str, PluginSlot]
    order: list[str]
    activated_at: dict[str, float]
    work_listeners: list[Callable[[CallResult, str | None], None]]
    # -- built by ``compose.wire``, in this order --------------------------
    retrier: Retrier
    ports: Ports
    monitor: Monitor
    outage: Outage
    supervisor: Supervisor
    versions: HostVersions
    dispatcher: Dispatcher
    turns: Turns
    trades: Trades
    bar_accounts: BarAccounts
    sync: SyncLoop
    restart_notices: RestartNotices
    paused: Pauses
    hooks: Hooks
    loop: Loop
    risk: RiskWatch

    @property
    @abstractmethod
    def config(self) -> Config: ...
    @property
    @abstractmethod
    def running(self) -> bool: ...
    @abstractmethod
    def get(self, plugin_id: str) -> PluginSlot | None: ...
    @abstractmethod
    def all(self) -> list[PluginSlot]: ...
    @abstractmethod
    def active(self) -> list[PluginSlot]: ...
    @abstractmethod
    def save_status(self, slot: PluginSlot) -> None: ...
    @abstractmethod
    def reload(self, plugin_id: str, reason: str,
               record: EntryRecord | None = None) -> PluginSlot: ...
    @abstractmethod
    def deactivate(self, slot: PluginSlot, reason: str, state: PluginState) -> None: ...
    @abstractmethod
    def refresh_pauses(self) -> dict[str, PauseRow]: ...
