"""What the monitor keeps per plugin and writes per round: ``Watched`` (one plugin
under watch), ``Checks`` (one round's planned calls), the thresholds that apply to
a plugin, the persisted snapshot record and the round's summary line.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from zepix_core.contract.logs import fields
from zepix_core.execution.calls import HookCall
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.ports import PortsOf
from zepix_core.execution.runner import Runner
from zepix_core.health.baselines import PluginBaseline, settings_for
from zepix_core.health.resources import ResourceSample
from zepix_core.health.rules import Thresholds, Verdict
from zepix_core.health.shapes import PluginHealth
from zepix_core.health.sketch import LatencySnapshot
from zepix_core.loading.config import Config, require_valid
from zepix_core.storage.repos import MonitorRepo

__all__ = ["Checks", "Watched", "baseline", "check_settings", "restore_window", "snapshot",
           "summary", "thresholds_for"]

log = logging.getLogger("zepix.monitor")


def check_settings(config: Config) -> None:
    """Validate every table when the config is loaded, not at activation (a config built
    in code skipped the file's checks); the error names file and key."""
    require_valid(config)


def thresholds_for(config: Config, plugin_id: str) -> Thresholds:
    """Defaults, then ``[thresholds]``, then ``[plugins.<id>.thresholds]``."""
    limits = Thresholds().merged(config.sections.get("thresholds", {}))
    own = config.plugins.get(plugin_id, {}).get("thresholds", {})
    return limits.merged(own, plugin_id) if own else limits


@dataclass
class Watched:
    """One active plugin under watch. ``next_self_test`` and ``next_version``
    are the round counts at which those checks are due; ``stuck`` is a call
    that missed its deadline and is still running, ``stuck_since`` when it was
    given up on (monotonic)."""

    slot: PluginSlot
    health: PluginHealth
    limits: Thresholds
    baseline: Version | None
    rounds: int = 0
    next_self_test: int = 0
    next_version: int = 0
    seen_version: Version | None = None
    stuck: Future[object] | None = None
    stuck_hook: str = ""
    stuck_since: float = 0.0
    anomaly: PluginBaseline | None = None


@dataclass
class Checks:
    """One round's health calls, planned on the loop: the plugins watched then, those
    still stuck in an earlier call (not called), and the calls of the others."""

    started: float
    now: float
    watched: list[Watched]
    stuck: set[str]
    plans: list[tuple[Runner, list[HookCall]]]
    checked: list[Watched]

def snapshot(w: Watched, verdict: Verdict, resources: ResourceSample,
             now: float) -> dict[str, Any]:
    """The persisted record of one plugin in one round (the ``zepix health`` row)."""
    health = w.health
    metrics = dict(health.metrics.values) if health.metrics else {}
    latency = health.latency or health.work.snapshot()
    return {
        "plugin_id": w.slot.plugin_id, "version": w.slot.version,
        "status": verdict.status.value, "timestamp": now,
        "reasons": [b.message for b in verdict.reasons],
        **{k: metrics.get(k) for k in ("signals_processed", "orders_placed", "wins", "losses")},
        "win_rate": health.metrics.win_rate if health.metrics else None,
        "metrics": metrics,
        "latency_ms": {"p50": latency.p50_ms, "p95": latency.p95_ms, "p99": latency.p99_ms},
        "calls": latency.calls, "errors": latency.errors, "error_rate": latency.error_rate,
        "resources": {"scope": resources.scope, "pid": resources.pid,
                      "rss_bytes": resources.rss_bytes, "cpu_percent": resources.cpu_percent,
                      "threads": resources.threads, "fds": resources.fds,
                      "note": resources.note},
        "hook_errors": health.error_records(), "critical_errors": health.critical_errors,
        "ping_misses": health.misses, "last_activity": health.last_activity,
        "self_test_passed": health.self_test_passed,
    }


def summary(rounds: int, snapshots: Sequence[Mapping[str, object]], took_ms: float) -> str:
    """The round's line: ``round N: 2 HEALTHY, 1 HUNG [x=HUNG] (12 ms)``."""
    counts = Counter(s["status"] for s in snapshots)
    bad = [f"{s['plugin_id']}={s['status']}" for s in snapshots
           if s["status"] != "HEALTHY"]
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    tail = f" [{' '.join(bad)}]" if bad else ""
    return f"round {rounds}: {parts or 'no active plugins'}{tail} ({took_ms:.0f} ms)"


def baseline(ports: PortsOf[MonitorRepo], plugin_id: str) -> PluginBaseline:
    """The plugin's anomaly feed, with the baselines an earlier run saved."""
    settings = settings_for(ports.config, plugin_id)
    feed = PluginBaseline(settings, ports.clocks.monotonic)
    try:
        feed.detector.restore(ports.store.baseline(plugin_id) or {})
    except ValueError as exc:  # learn afresh rather than refuse to watch
        log.warning("baseline not restored", extra=fields(plugin=plugin_id, error=str(exc)))
        feed = PluginBaseline(settings, ports.clocks.monotonic)
    return feed


def restore_window(ports: PortsOf[MonitorRepo], plugin_id: str, health: PluginHealth) -> None:
    """Seed the latency and error window from the plugin's latest snapshot, when it
    is recent enough to still be inside the window."""
    snap = ports.store.latest_snapshot(plugin_id)
    if snap is None or not snap.get("calls"):
        return
    latency = snap.get("latency_ms") or {}
    health.work.seed(ports.clocks.wall() - float(snap["timestamp"]), LatencySnapshot(
        latency.get("p50"), latency.get("p95"), latency.get("p99"), int(snap["calls"]),
        int(snap.get("errors") or 0), float(snap.get("error_rate") or 0.0)))
