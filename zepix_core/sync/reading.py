"""What the operator reads: sync status with live lag, trades and daily statistics.

The CLI (and later the HTTP API and Telegram) are thin edges over these.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from zepix_core.contract.errors import StorageError
from zepix_core.loading.paths import data_dir
from zepix_core.plugindb import PluginDatabase, oldest_change
from zepix_core.storage import Store
from zepix_core.sync.manager import plugin_databases, target_of


def _reader(path: Path, plugin_id: str) -> PluginDatabase:
    return PluginDatabase(path, plugin_id, track=False, lock_wait=2.0)


#: Seconds a plugin database's oldest pending change is taken as read while its cursor
#: stays: the dashboard polls the status every 2 s and Prometheus scrapes /metrics, and
#: one read costs about 1 ms a database (a second at 1,000 plugins). A sync moves the
#: cursor, which reads again at once; a change made since shows within this time.
FRESH_FOR = 10.0


class _Oldest:
    """The oldest pending change per (database, target), read at most every FRESH_FOR s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.seen: dict[tuple[Path, str], tuple[float, int, float | None]] = {}

    def read(self, path: Path, target: str, cursor: int) -> float | None:
        now = self.clock()
        with self.lock:
            hit = self.seen.get((path, target))
        if hit is not None and hit[1] == cursor and now - hit[0] < FRESH_FOR:
            return hit[2]
        oldest = oldest_change(path, cursor)  # StorageError: not kept, read again next time
        with self.lock:
            self.seen[(path, target)] = (now, cursor, oldest)
        return oldest


_OLDEST = _Oldest()


def sync_lags(store: Store, plugins_dir: Path, now: float,
              target: str) -> dict[str, float | None]:
    """Per plugin database: the age at ``now`` of its oldest change not yet in ledger
    ``target`` (0 when none; the last sync's figure when the file cannot be read).
    The one computation behind ``zepix sync status``, ``sync_lag_seconds`` of
    ``zepix status`` and ``GET /api/v1/status`` (the largest), and /metrics'
    ``zepix_sync_lag_seconds``, so they never disagree."""
    stored = {r["plugin_id"]: r["lag_seconds"] for r in store.sync_status()}
    cursors = store.sync_cursors(target)
    lags: dict[str, float | None] = {}
    for plugin_id, path in plugin_databases(plugins_dir).items():
        try:
            oldest = _OLDEST.read(path, target, cursors.get(plugin_id, 0))
            lags[plugin_id] = 0.0 if oldest is None else max(0.0, now - oldest)
        except StorageError:
            lags[plugin_id] = stored.get(plugin_id)
    return lags


def ledger_lags(store: Store, url: str, now: float) -> dict[str, float | None]:
    """:func:`sync_lags` of the plugin databases in the data directory, for the ledger at
    ``url`` (``[sync] url``)."""
    return sync_lags(store, data_dir() / "plugins", now, target_of(url))


def largest(lags: Mapping[str, float | None]) -> float | None:
    """The largest known lag (``sync_lag_seconds``), None when none is known."""
    known = [lag for lag in lags.values() if lag is not None]
    return max(known) if known else None


def sync_status(store: Store, plugins_dir: Path, now: float,
                target: str) -> list[dict[str, object]]:
    """Per plugin database: last success, rows copied, lag (:func:`sync_lags`) and
    consecutive failures."""
    state = {r["plugin_id"]: r for r in store.sync_status()}
    lags = sync_lags(store, plugins_dir, now, target)
    rows = []
    for plugin_id, path in plugin_databases(plugins_dir).items():
        known = state.get(plugin_id, {})
        rows.append({"plugin_id": plugin_id, "last_success": known.get("last_success"),
                     "rows": int(known.get("rows") or 0), "lag_seconds": lags.get(plugin_id),
                     "consecutive_failures": int(known.get("consecutive_failures") or 0),
                     "last_attempt": known.get("last_attempt"),
                     "last_error": known.get("last_error"),
                     "last_failure": known.get("last_failure"), "database": str(path),
                     "target": target})
    return rows


def trades(plugins_dir: Path, plugin_id: str | None = None, *, open_only: bool = False,
           limit: int | None = None) -> list[dict[str, object]]:
    """Trades of every plugin database (or one), newest first."""
    found: list[dict[str, object]] = []
    for pid, path in plugin_databases(plugins_dir).items():
        if plugin_id in (None, pid):
            db = _reader(path, pid)
            try:
                found.extend({"plugin_id": pid, **t.as_dict()}
                             for t in db.trades(open_only=open_only, limit=limit))
            finally:
                db.close()
    found.sort(key=lambda t: (t["updated_at"], t["id"]), reverse=True)
    return found if limit is None else found[:limit]


def stats(plugins_dir: Path, plugin_id: str | None = None,
          day: str | None = None) -> list[dict[str, object]]:
    """Daily statistics per plugin: of ``day``, else the last 30 days with activity."""
    found: list[dict[str, object]] = []
    for pid, path in plugin_databases(plugins_dir).items():
        if plugin_id in (None, pid):
            db = _reader(path, pid)
            try:
                days = [db.daily_stats(day)] if day else db.days(30)
                found.extend({"plugin_id": pid, **d.as_dict()} for d in days)
            finally:
                db.close()
    return found
