"""What a plugin database hands back: trades and daily statistics as frozen records."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


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
    extra: dict[str, Any] = field(default_factory=dict)
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

    def as_dict(self) -> dict[str, Any]:
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

    def as_dict(self) -> dict[str, Any]:
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
