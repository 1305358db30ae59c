"""What a plugin's own database is to its author: the records it hands back and the
``PluginDatabaseAPI`` protocol that ``PluginContext.database`` is typed by.

``zepix_core.plugindb.PluginDatabase`` implements it (CONTRACT section 12,
docs/plugin-databases.md); the protocol lives here, below the package that owns
the SQL, so the context and plugins can name it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from zepix_core.contract.jsondoc import JSON

#: One step of ``migrate``: SQL text, or a function of the connection.
Migration = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Trade:
    """One row of ``trades``. ``ref`` is the broker's ticket, when there is one."""

    id: int
    symbol: str
    side: str
    quantity: float
    entry_price: float
    opened_at: float
    status: str = "open"
    ref: str | None = None
    stop: float | None = None
    target: float | None = None
    exit_price: float | None = None
    closed_at: float | None = None
    pnl: float | None = None
    fee: float = 0.0
    reason: str | None = None
    close_reason: str | None = None
    extra: dict[str, JSON] = field(default_factory=dict)
    updated_at: float = 0.0
    rev: int = 0

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Trade:
        values = dict(row)
        values["extra"] = json.loads(values.get("extra") or "{}")
        return cls(**values)

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class DailyStats:
    """One UTC day of a plugin's activity, kept up to date by every write."""

    day: str
    signals: int = 0
    trades_opened: int = 0
    trades_closed: int = 0
    wins: int = 0
    losses: int = 0
    pnl: float = 0.0
    fees: float = 0.0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DailyStats:
        return cls(**dict(row))

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def day_of(ts: float) -> str:
    """The UTC day (``YYYY-MM-DD``) of epoch seconds ``ts``."""
    return datetime.fromtimestamp(ts, tz=UTC).date().isoformat()


def day_text(day: str | date | datetime) -> str:
    """``day`` as ``YYYY-MM-DD``; ``ValueError`` when it is not a date."""
    if isinstance(day, datetime):
        return day.astimezone(UTC).date().isoformat()
    if isinstance(day, date):
        return day.isoformat()
    return date.fromisoformat(day).isoformat()


class PluginDatabaseAPI(Protocol):
    """A plugin's own SQLite database, as ``context.database`` offers it.

    Errors are ``StorageError`` naming the file and the fix; a file locked by
    another process is retried first (``DatabaseLocked`` when it stays locked).
    """

    def record_signal(self, symbol: str, kind: str, *, side: str | None = None,
                      price: float | None = None, ts: float | None = None,
                      trade_id: int | None = None,
                      detail: Mapping[str, object] | None = None) -> int:
        """Log one signal (``kind``: the plugin's name for it); returns its id."""

    def open_trade(self, symbol: str, side: str, quantity: float, price: float, *,
                   ref: str | None = None, stop: float | None = None,
                   target: float | None = None, ts: float | None = None,
                   reason: str | None = None,
                   extra: Mapping[str, object] | None = None) -> Trade:
        """Record an entry fill; the same (``symbol``, ``side``, ``ts``) again records
        nothing and returns the trade recorded first."""

    def update_trade(self, trade_id: int, **changes: object) -> Trade:
        """Change ``ref``, ``quantity``, ``stop``, ``target``, ``reason`` or ``extra``."""

    def close_trade(self, trade_id: int, price: float, *, ts: float | None = None,
                    reason: str | None = None, fee: float = 0.0,
                    pnl: float | None = None) -> Trade:
        """Record the exit of an open trade (the same exit again is a no-op)."""

    def trade(self, trade_id: int) -> Trade | None: ...

    def trade_by_ref(self, ref: str) -> Trade | None:
        """The trade with the broker's ticket ``ref``, or None."""

    def open_trades(self, symbol: str | None = None) -> list[Trade]: ...

    def trades(self, *, open_only: bool = False, limit: int | None = None) -> list[Trade]:
        """Trades newest first (all of them unless ``limit``)."""

    def daily_stats(self, day: str | date | datetime) -> DailyStats:
        """The statistics of UTC day ``day``; zeros for a quiet day."""

    def days(self, limit: int = 30) -> list[DailyStats]: ...

    def connection(self) -> AbstractContextManager[sqlite3.Connection]:
        """Lend a connection for the plugin's own tables, within the block."""

    def migrate(self, name: str, steps: Sequence[Migration]) -> int:
        """Bring the plugin's own tables called ``name`` up to ``len(steps)``."""

    @property
    def schema_version(self) -> int: ...
