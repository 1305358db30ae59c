"""The monitoring round: call every active plugin's health hooks under deadlines,
sample resources, judge, and persist one snapshot per plugin in one transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._alerting import Alerting
from ._config import Config
from ._health import PluginHealth, Thresholds, Verdict
from ._hookspecs import DEFAULT_DEADLINES
from ._lifecycle import PluginSlot
from ._resources import ResourceSample, ResourceSampler
from ._runner import CallResult, call_many

log = logging.getLogger("zepix.monitor")


def thresholds_for(config: Config, plugin_id: str) -> Thresholds:
    """Defaults, then ``[thresholds]``, then ``[plugins.<id>.thresholds]``."""
    limits = Thresholds().merged(config.sections.get("thresholds", {}))
    own = config.plugins.get(plugin_id, {}).get("thresholds", {})
    return limits.merged(own, plugin_id) if own else limits


@dataclass
class Watched:
    slot: PluginSlot
    health: PluginHealth
    limits: Thresholds
    rounds: int = 0


class Monitor:
    """Keeps the health of every active plugin; the host calls ``round`` each interval."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.sampler = ResourceSampler()
        self.alerting = Alerting(host.store, host.config.sections.get("alerts", {}),
                                 host.clocks.monotonic, host.clocks.wall)
        self.watched: dict[str, Watched] = {}
        self.rounds = 0

    # -- membership --------------------------------------------------------
    def attach(self, slot: PluginSlot) -> None:
        clocks = self.host.clocks
        health = PluginHealth(slot.plugin_id, clock=clocks.monotonic, wall=clocks.wall)
        health.note_activity(clocks.wall())
        self.watched[slot.plugin_id] = Watched(
            slot, health, thresholds_for(self.host.config, slot.plugin_id))

    def detach(self, plugin_id: str) -> None:
        self.watched.pop(plugin_id, None)
        self.alerting.forget(plugin_id, "plugin deactivated")

    def close(self) -> None:
        self.alerting.close()

    def accepts_work(self, plugin_id: str) -> bool:
        return plugin_id in self.watched

    def on_work(self, result: CallResult, problem: str | None) -> None:
        watched = self.watched.get(result.plugin_id)
        if watched is None:
            return
        watched.health.record_work(result, problem)
        if result.ok and problem is None:
            watched.health.note_activity(self.host.clocks.wall())

    # -- the round ---------------------------------------------------------
    def _calls(self, w: Watched, now: float) -> list[tuple[Any, str, Mapping[str, Any], float]]:
        timeout = w.slot.config.ping_timeout
        calls = [(w.slot.runner, "health_ping", {"now": now}, timeout),
                 (w.slot.runner, "get_metrics", {}, timeout)]
        if w.rounds % int(self.host.config.host["self_test_every"]) == 0:
            calls.append((w.slot.runner, "self_test", {}, DEFAULT_DEADLINES["self_test"]))
        return calls

    def round(self, slots: Sequence[PluginSlot]) -> str:
        """One round over ``slots``; every call is bounded, so the round is too."""
        clocks = self.host.clocks
        started, now = clocks.monotonic(), clocks.wall()
        self.rounds += 1
        batch = [(self.watched[s.plugin_id], call)
                 for s in slots if s.plugin_id in self.watched and s.runner is not None
                 for call in self._calls(self.watched[s.plugin_id], now)]
        results = call_many([call for _, call in batch], clocks.monotonic)
        for (w, _), result in zip(batch, results):
            self._record(w, result)
        # One host sample per round: every in-process plugin shares it, and a
        # second cpu_percent() read moments later would measure nothing.
        host_sample = self.sampler.sample_host()
        snapshots = [self._assess(self.watched[s.plugin_id], now, host_sample)
                     for s in slots if s.plugin_id in self.watched]
        self.host.store.save_snapshots(now, snapshots)
        took = (clocks.monotonic() - started) * 1000
        return self._summary(snapshots, took)

    def _record(self, w: Watched, result: CallResult) -> None:
        if result.hook == "health_ping":
            w.health.record_ping(result)
        elif result.hook == "get_metrics":
            w.health.record_metrics(result)
        elif result.hook == "self_test":
            w.health.record_self_test(result)

    def _assess(self, w: Watched, now: float, host_sample: ResourceSample) -> dict[str, Any]:
        w.rounds += 1
        runner = w.slot.runner
        pid = getattr(runner, "pid", None)
        resources = self.sampler.sample(pid) if pid else host_sample
        verdict = w.health.assess(alive=runner is not None and runner.alive(), now=now,
                                  limits=w.limits, resources=resources)
        self.alerting.observe(w.slot.plugin_id, verdict)
        if verdict.reasons:
            log.info("health plugin=%s status=%s reasons=%s", w.slot.plugin_id,
                     verdict.status.value, "; ".join(b.message for b in verdict.reasons))
        return snapshot(w, verdict, resources, now)

    def _summary(self, snapshots: Sequence[Mapping[str, Any]], took_ms: float) -> str:
        counts = Counter(s["status"] for s in snapshots)
        bad = [f"{s['plugin_id']}={s['status']}" for s in snapshots
               if s["status"] != "HEALTHY"]
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        tail = f" [{' '.join(bad)}]" if bad else ""
        return f"round {self.rounds}: {parts or 'no active plugins'}{tail} ({took_ms:.0f} ms)"


def snapshot(w: Watched, verdict: Verdict, resources: ResourceSample,
             now: float) -> dict[str, Any]:
    """The persisted record of one plugin in one round (the ``zepix health`` row)."""
    health = w.health
    metrics = dict(health.metrics.values) if health.metrics else {}
    latency = health.work.snapshot()
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
        "hook_errors": {h: {"count": e.count, "exceptions": e.exceptions,
                            "timeouts": e.timeouts, "wrong_shape": e.wrong_shape,
                            "last_message": e.last_message, "last_error_at": e.last_time}
                        for h, e in health.errors.items()},
        "ping_misses": health.misses, "last_activity": health.last_activity,
        "self_test_passed": health.self_test_passed,
    }
