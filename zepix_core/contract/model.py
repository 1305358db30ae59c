"""Typed records shared across the host: states, statuses, bars, intents, fills, contexts,
alerts."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path

from zepix_core.contract.plugindata import PluginDatabaseAPI


class PluginState(enum.StrEnum):
    """Lifecycle state of a plugin (contract section 4)."""

    DISCOVERED = "DISCOVERED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class HealthStatus(enum.StrEnum):
    """Health of an active plugin (contract section 4), worst first in ``SEVERITY``."""

    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    STALE = "STALE"
    HUNG = "HUNG"
    DEAD = "DEAD"
    UNKNOWN = "UNKNOWN"


class AlertLevel(enum.StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True)
class Bar:
    """One closed OHLCV bar. ``ts`` is the bar's close time in epoch seconds."""

    symbol: str
    timeframe: str
    ts: float
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Intent:
    """A trade intent a strategy returned for a bar; the bot decides whether to execute it.

    ``id`` is assigned by the host and names the intent in a ``Fill``; ``bar_time``
    is the ``ts`` of the bar it answered. ``shadow`` marks a canary's intent, which
    the host records but never hands to the bot.
    """

    id: str
    plugin_id: str
    symbol: str
    side: str
    quantity: float
    price: float | None
    reason: str
    bar_time: float
    shadow: bool = False


@dataclass(frozen=True, slots=True)
class Fill:
    """What the bot really executed for an intent: ``quantity`` (> 0) at ``price``.

    ``time`` is the execution time in epoch seconds; ``fee`` is in quote currency.
    """

    intent_id: str
    quantity: float
    price: float
    time: float
    fee: float = 0.0
    #: Filled in by the host from the intent before ``on_fill`` (the bot may leave
    #: them out): the symbol and ``buy``/``sell``.
    symbol: str | None = None
    side: str | None = None


@dataclass(frozen=True)
class PluginContext:
    """What the host hands a plugin at activation. Picklable, so it crosses
    into worker processes unchanged.

    ``database`` is the plugin's own database (CONTRACT section 12), typed by
    the ``PluginDatabaseAPI`` protocol that ``zepix_core.PluginDatabase``
    implements; it crosses into a worker as its path and opens there. None when
    the host has none to give (a test harness).
    """

    plugin_id: str
    version: str
    api_version: str
    data_dir: str
    database: PluginDatabaseAPI | None = field(default=None, compare=False, repr=False)

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(f"zepix.plugin.{self.plugin_id}")

    @property
    def path(self) -> Path:
        return Path(self.data_dir)


@dataclass(frozen=True)
class Alert:
    """One alert event handed to alert sinks.

    ``kind`` is the condition (``status``, ``latency``, ``error_rate``,
    ``memory``, ``cpu``, ``restart``, ...); together with ``plugin_id`` it is
    the fingerprint alerts are deduplicated on. ``event`` is ``fired``,
    ``repeated`` or ``resolved``.
    """

    plugin_id: str
    kind: str
    level: AlertLevel
    message: str
    timestamp: float
    event: str = "fired"
    resolved: bool = False
    details: dict[str, object] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return f"{self.plugin_id}:{self.kind}"


class BreakerState(enum.StrEnum):
    """A plugin's circuit breaker around ``on_bar``: CLOSED lets bars through, OPEN stops
    them, HALF_OPEN admits a few trial calls."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
