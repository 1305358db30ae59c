"""``zepix status``: whether a host runs on this database, and how it is doing
(contract section 14), read from the database alone."""

from __future__ import annotations

from collections import Counter
from importlib import metadata
from typing import Any

from zepix_core.contract.model import PluginState
from zepix_core.host.lease import alive
from zepix_core.storage import HostRow, Store
from zepix_core.sync.reading import largest, ledger_lags

#: Rounds that may be missed before the host's rounds count as stale (as /healthz).
LATE_ROUNDS = 3


def running_host(store: Store) -> HostRow | None:
    """The host registered on ``store`` whose process is alive, or None."""
    for host in store.running_hosts():
        if alive(int(host["pid"]), float(host["started_at"])):
            return host
    return None


def no_host_line(store: Store) -> str:
    """The first line of a table read while no host runs."""
    return (f"no zepix host is running on {store.path}: what follows is the last recorded "
            "state, not a live one\n")


def host_status(store: Store, now: float, interval: float, ledger_url: str) -> dict[str, Any]:
    """The status document; ``interval`` is the host's round period (staleness),
    ``ledger_url`` the ledger whose lag it shows (``[sync] url``)."""
    host = running_host(store)
    latest = store.hosts(limit=2)
    current = host or (latest[0] if latest else None)
    before = [h for h in latest if current is not None and h["host_id"] != current["host_id"]]
    crashed = bool(before and str(before[0]["stop_reason"] or "").startswith("crash:"))
    last_round = None
    if host is not None and float(host["heartbeat_at"]) > float(host["started_at"]):
        last_round = float(host["heartbeat_at"])
    age = None if last_round is None else max(0.0, now - last_round)
    statuses = store.statuses()
    states = Counter(str(r["state"]) for r in statuses.values())
    active = {pid for pid, r in statuses.items() if r["state"] == PluginState.ACTIVE.value}
    health = Counter(str(s["status"]) for s in store.latest_snapshots()
                     if host is not None and s["plugin_id"] in active)
    return {
        "running": host is not None,
        "pid": None if host is None else int(host["pid"]),
        "started_at": None if host is None else float(host["started_at"]),
        "uptime_seconds": None if host is None else max(0.0, now - float(host["started_at"])),
        "version": _core_version(),
        "last_round_at": last_round,
        "round_age_seconds": age,
        "fresh": age is not None and age <= LATE_ROUNDS * interval + 10,
        "recovered_from_crash": crashed,
        "plugins": {"by_state": dict(sorted(states.items())),
                    "by_health": dict(sorted(health.items()))},
        "paused": sorted(store.pauses()),
        "sync_lag_seconds": largest(ledger_lags(store, ledger_url, now)),
    }


def _core_version() -> str:
    try:
        return metadata.version("zepix-core")
    except metadata.PackageNotFoundError:
        return "unknown"
