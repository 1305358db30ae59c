"""The rows the host's own tables hand back, typed: one ``TypedDict`` per table.

``schema.py`` owns the tables; each class here mirrors one ``CREATE TABLE``
(SQLite affinity: INTEGER -> ``int``, REAL -> ``float``, TEXT -> ``str``; a
nullable column is ``... | None``). Only this package writes these tables, so
the shape read back is the shape declared: ``Database.rows_as`` is the one place
a plain row becomes a typed one.
"""

from __future__ import annotations

from typing import TypedDict

from zepix_core.contract.jsondoc import JSON


class HostRow(TypedDict):
    host_id: str
    pid: int
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    stop_reason: str | None


class RequestRow(TypedDict):
    """An operator request (``zepix restart``, ``upgrade``, ...)."""

    id: int
    plugin_id: str
    action: str
    version: str | None
    force: int
    actor: str
    requested_at: float
    applied_at: float | None
    outcome: str | None


class EventRow(TypedDict):
    id: int
    ts: float
    plugin_id: str
    kind: str
    version: str | None
    actor: str
    detail: str


class StatusRow(TypedDict):
    """A plugin's current state as the last host recorded it."""

    plugin_id: str
    distribution: str
    version: str
    state: str
    reason: str | None
    updated_at: float


class PauseRow(TypedDict):
    plugin_id: str
    reason: str
    actor: str
    paused_at: float


class SilenceRow(TypedDict):
    id: int
    plugin_id: str
    kind: str | None
    until: float
    reason: str
    actor: str
    created_at: float
    removed_at: float | None


class AlertRow(TypedDict):
    """An alert; ``details`` (JSON text in the table) comes back decoded."""

    id: int
    fingerprint: str
    plugin_id: str
    kind: str
    level: str
    message: str
    fired_at: float
    last_sent_at: float
    repeats: int
    resolved: int
    resolved_at: float | None
    details: JSON


class DesiredRow(TypedDict):
    """The version a plugin should run, and who asked for it."""

    plugin_id: str
    version: str
    previous: str | None
    request_id: int | None
    actor: str
    reason: str
    set_at: float


class ProbationRow(TypedDict):
    """A version on probation: ``rounds`` to pass, ``rounds_ok`` passed so far."""

    plugin_id: str
    version: str
    previous: str | None
    rounds: int
    rounds_ok: int
    started_at: float


class RetryOutcome(TypedDict):
    """How one retried operation ended, as ``record_retry_outcome`` adds it up."""

    operation: str
    result: str
    attempts: int
    delay: float
    last_error: str | None
    at: float
    streak: int


#: Columns stored as JSON text and handed back decoded.
DECODED = frozenset({("alerts", "details")})

#: Each table and its row type (a test checks them against the migrated schema).
TABLES: dict[str, type] = {"hosts": HostRow, "requests": RequestRow, "events": EventRow,
                           "plugin_status": StatusRow, "pauses": PauseRow,
                           "silences": SilenceRow, "alerts": AlertRow,
                           "desired_versions": DesiredRow, "probations": ProbationRow}
