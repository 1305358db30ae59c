"""Repositories: the part of the store one subsystem may use, as a ``Protocol``.

``Store`` implements every one of them; a subsystem declares the repository it
needs (through ``execution.ports.PortsOf``), so the type checker refuses a query
outside it and a reader sees at once which tables a subsystem touches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from zepix_core.contract.model import Alert
from zepix_core.storage.db import Row
from zepix_core.storage.rows import (
    AlertRow,
    DesiredRow,
    EventRow,
    ProbationRow,
    RequestRow,
    SilenceRow,
    StatusRow,
)


class EventLog(Protocol):
    def record_event(self, plugin_id: str, kind: str, detail: str, now: float,
                     version: str | None = None, actor: str = "host") -> None: ...


class RequestQueue(Protocol):
    """Operator requests a running host applies."""

    def pending_requests(self, action: str | None = None,
                         plugin_id: str | None = None) -> list[RequestRow]: ...

    def finish_request(self, request_id: int, now: float, outcome: str) -> bool: ...

    def request(self, request_id: int) -> RequestRow | None: ...


class OperatorRepo(EventLog, RequestQueue, Protocol):
    """What supervision's operator reads and writes: requests, marks, plugin states."""

    def statuses(self) -> dict[str, StatusRow]: ...

    def last_event(self, plugin_id: str, kinds: Sequence[str]) -> EventRow | None: ...

    def set_status(self, plugin_id: str, distribution: str, version: str, state: str,
                   reason: str | None, now: float) -> None: ...


class GateRepo(EventLog, Protocol):
    """What the version gate reads and writes: probations and the desired version."""

    def save_probation(self, plugin_id: str, version: str, previous: str | None, rounds: int,
                       rounds_ok: int, now: float) -> None: ...

    def end_probation(self, plugin_id: str, version: str, passed: bool | None) -> None: ...

    def end_probations(self, ended: Sequence[tuple[str, str, bool | None]]) -> None: ...

    def all_versions(self) -> dict[str, dict[str, Row]]: ...

    def set_desired_if(self, plugin_id: str, version: str, previous: str | None, actor: str,
                       reason: str, now: float, expect: str | None,
                       request_id: int | None = None) -> bool: ...


class AlertRepo(Protocol):
    """What health's alerting records: alert events, deliveries, and silences read."""

    def record_alerts(self, alerts: Sequence[Alert]) -> list[int]: ...

    def alerts(self, plugin_id: str | None = None, unresolved: bool = False,
               limit: int = 100, since: float | None = None) -> list[AlertRow]: ...

    def record_delivery(self, fingerprint: str, sink: str, delivered: bool, error: str | None,
                        ts: float) -> None: ...

    def silence_for(self, plugin_id: str, kind: str, now: float) -> SilenceRow | None: ...


class CanaryRepo(EventLog, RequestQueue, Protocol):
    """What a canary run records: the run, its figures and intents, its request."""

    def open_canaries(self) -> list[Row]: ...

    def canary_runs(self, plugin_id: str, limit: int = 20) -> list[Row]: ...

    def canary_started(self, canary_id: int, baseline: str | None, now: float) -> None: ...

    def save_canary(self, canary_id: int, stats: Mapping[str, object],
                    intents: Sequence[tuple[str, float, str, str, float, float | None, str]]
                    ) -> None: ...

    def finish_canary(self, canary_id: int, state: str, actor: str, reason: str,
                      now: float) -> bool: ...


class VersionsRepo(GateRepo, CanaryRepo, Protocol):
    """What version management reads and writes (it hands the gate and canaries theirs)."""

    @property
    def path(self) -> Path:
        """The database file (the plugin store lives beside it)."""

    def desired_versions(self) -> dict[str, DesiredRow]: ...

    def deprecated_versions(self) -> set[tuple[str, str]]: ...

    def probations(self) -> dict[str, ProbationRow]: ...

    def record_release(self, plugin_id: str, version: str, release: Mapping[str, str | None]
                       ) -> None: ...

    def record_store_digest(self, directory: str, sha256: str, now: float) -> None: ...

    def store_digest(self, directory: str) -> str | None: ...


class SnapshotLog(Protocol):
    def save_snapshots(self, ts: float, snapshots: Sequence[Mapping[str, object]]) -> None: ...


class MonitorRepo(AlertRepo, EventLog, SnapshotLog, Protocol):
    """What health monitoring writes and reads back: snapshots, baselines, retention."""

    def latest_snapshot(self, plugin_id: str) -> Row | None: ...

    def baseline(self, plugin_id: str) -> dict[str, object] | None: ...

    def save_baseline(self, plugin_id: str, state: Mapping[str, object], ts: float) -> None: ...

    def save_baselines(self, saved: Sequence[tuple[str, Mapping[str, object], float]]) -> None: ...

    def prune_snapshots(self, before: float) -> int: ...

    def prune_alerts(self, before: float) -> int: ...

    def prune_config_changes(self, before: float) -> int: ...


class SupervisorRepo(OperatorRepo, SnapshotLog, Protocol):
    """What supervision writes: its events, a DEAD snapshot, the operator's share."""
