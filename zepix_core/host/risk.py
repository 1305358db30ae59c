"""The host's risk watch: each plugin's realised P&L against its ``[risk]`` limits.

Figures come from the fills the host has seen: bot fills (``report_fill``, kept by
``Trades``) and paper trades the plugin closed in its own database (read only for a
plugin with a limit set, a few rows a round: only what changed since the last look).
A breach raises a CRITICAL alert of kind ``risk`` naming the figure and the limit and,
with ``action = "pause"``, pauses the plugin with that reason (once per breach: a
plugin an operator resumes stays resumed until it breaches again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from zepix_core.contract.errors import StorageError, ZepixError
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel
from zepix_core.health.monitor import Monitor
from zepix_core.host.trades import Trades
from zepix_core.loading.config import Config
from zepix_core.plugindb import PluginDatabase
from zepix_core.storage import PauseRow, Store
from zepix_core.trading.risk import PnlEvents, RiskFigures, RiskLimits, breach

log = logging.getLogger("zepix.risk")

#: Who a pause for a breached limit is recorded as.
ACTOR = "risk"


class Desk(Protocol):
    """What the risk watch uses of the host (no import of it: no cycle)."""

    @property
    def config(self) -> Config: ...
    @property
    def trades(self) -> Trades: ...
    @property
    def store(self) -> Store: ...
    @property
    def monitor(self) -> Monitor: ...
    def refresh_pauses(self) -> dict[str, PauseRow]: ...


class RiskWatch:
    def __init__(self, host: Desk, plugins_dir: Callable[[], Path]) -> None:
        self.host = host
        self.plugins_dir = plugins_dir
        self.paper: dict[str, PnlEvents] = {}
        self._rev: dict[str, int] = {}
        self._closed: dict[str, set[int]] = {}
        self.breached: dict[str, str] = {}
        #: Paper round trips closed (``wins``, ``trips``) and open now, per plugin.
        self.paper_trips: dict[str, list[int]] = {}
        self.paper_open: dict[str, int] = {}
        self._lock = threading.RLock()  # the round thread and the API's readers
        #: Limits as read from ``_limits_of`` (a reload brings a new config object).
        self._limits_of: object = None
        self._limits: dict[str, RiskLimits] = {}

    def limits(self, plugin_id: str) -> RiskLimits:
        config = self.host.config
        if config is not self._limits_of:  # parsed once per config, not per round
            self._limits_of, self._limits = config, {}
        found = self._limits.get(plugin_id)
        if found is None:
            table = config.plugins.get(plugin_id, {})
            found = RiskLimits.of(config.sections.get("risk", {}), table.get("risk"),
                                  str(config.path or "<defaults>"), plugin_id)
            self._limits[plugin_id] = found
        return found

    def figures(self, plugin_id: str, now: float,
                limits: RiskLimits | None = None) -> RiskFigures:
        """Today's and total realised P&L, equity and drawdown of ``plugin_id``."""
        limits = limits or self.limits(plugin_id)
        return self.events(plugin_id).figures(now, limits.starting_equity)

    def events(self, plugin_id: str) -> PnlEvents:
        """Every realised P&L event of ``plugin_id``: bot fills, then its paper trades."""
        events = PnlEvents(self.host.trades.pnl_events(plugin_id))
        with self._lock:
            self._read_paper(plugin_id)
            events.events.extend(self.paper.get(plugin_id, PnlEvents()).events)
        return events

    def realised_between(self, plugin_id: str, start: float, end: float) -> tuple[float, int]:
        """Realised P&L of ``plugin_id`` within ``[start, end)`` and how many realisations
        made it (paper trades closed, bot fills that closed or reduced a position)."""
        events = self.host.trades.pnl_events(plugin_id)
        with self._lock:
            self._read_paper(plugin_id)
            events.extend(self.paper.get(plugin_id, PnlEvents()).events)
        hits = [pnl for ts, pnl in events if start <= ts < end]
        return sum(hits), len(hits)

    def desk(self, plugin_id: str, now: float) -> dict[str, Any]:
        """What the dashboard shows of a plugin's trading: today's and total realised
        P&L, open positions, win rate over closed round trips (paper and bot fills), and
        ``equity_curve``: ``[time, cumulative realised P&L]`` pairs, oldest first."""
        events = self.events(plugin_id)
        figures = events.figures(now, self.limits(plugin_id).starting_equity)
        ledger = self.host.trades.fields(plugin_id)["host_measured"]
        with self._lock:
            wins, trips = self.paper_trips.get(plugin_id, [0, 0])
            paper_open = self.paper_open.get(plugin_id, 0)
        wins += int(ledger.get("wins") or 0)
        trips += int(ledger.get("round_trips") or 0)
        return {"pnl_today": figures.today_pnl, "pnl_total": figures.total_pnl,
                "equity": figures.equity, "drawdown_pct": figures.drawdown_pct,
                "open_positions": paper_open + len(ledger.get("positions") or {}),
                "win_rate": wins / trips if trips else None, "round_trips": trips,
                "equity_curve": [[ts, round(pnl, 10)] for ts, pnl in events.curve()]}

    def _read_paper(self, plugin_id: str) -> None:
        """Paper trades closed since the last look, from the plugin's database."""
        path = self.plugins_dir() / plugin_id / f"zepix_{plugin_id}.db"
        if not path.is_file():
            return
        db = PluginDatabase(path, plugin_id, track=False, lock_wait=2.0)
        try:
            rows = db.closed_since(self._rev.get(plugin_id, 0))
            self.paper_open[plugin_id] = len(db.open_trades())
        except (StorageError, ZepixError, OSError) as exc:
            log.warning("risk: plugin database not read", extra=fields(plugin=plugin_id,
                                                                       error=str(exc)))
            return
        finally:
            db.close()
        seen = self._closed.setdefault(plugin_id, set())
        book = self.paper.setdefault(plugin_id, PnlEvents())
        for row in rows:
            self._rev[plugin_id] = max(self._rev.get(plugin_id, 0), row.rev)
            if row.id in seen or row.pnl is None or row.closed_at is None:
                continue
            seen.add(row.id)
            book.add(row.closed_at, row.pnl)
            trips = self.paper_trips.setdefault(plugin_id, [0, 0])
            trips[0] += row.pnl > 0
            trips[1] += 1

    def check(self, plugin_ids: Iterable[str], now: float) -> None:
        """Judge every plugin with a limit; alert, pause, or resolve the alert."""
        for plugin_id in plugin_ids:
            try:
                limits = self.limits(plugin_id)
            except ZepixError as exc:  # checked at load; a plugin table set live may not be
                log.warning("risk limits ignored", extra=fields(plugin=plugin_id,
                                                                error=str(exc)))
                continue
            if not limits.active:
                self._clear(plugin_id)
                continue
            over = breach(limits, self.figures(plugin_id, now, limits))
            if over is None:
                self._clear(plugin_id)
            elif plugin_id not in self.breached:
                self._breach(plugin_id, over, limits, now)

    def _breach(self, plugin_id: str, over: str, limits: RiskLimits, now: float) -> None:
        self.breached[plugin_id] = over
        act = limits.action == "pause"
        message = f"risk limit: {over}" + ("; plugin paused" if act else "")
        log.error("risk limit breached", extra=fields(plugin=plugin_id, breach=over,
                                                      action=limits.action))
        if act:
            self.host.store.pause(plugin_id, f"risk: {over}", ACTOR, now)
            self.host.refresh_pauses()
        self.host.monitor.alerting.raise_event(plugin_id, "risk", AlertLevel.CRITICAL,
                                               message)

    def _clear(self, plugin_id: str) -> None:
        if self.breached.pop(plugin_id, None) is not None:
            self.host.monitor.alerting.raise_event(plugin_id, "risk", AlertLevel.CRITICAL,
                                                   "risk limits respected again",
                                                   firing=False)
