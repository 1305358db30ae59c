"""``/metrics``: one collector reads the host's state at scrape time.

Every series name and label lives here. Labels are bounded: plugin id, hook,
state, status, level; never a message or a version string.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from zepix_core.contract.model import BreakerState, HealthStatus, PluginState
from zepix_core.host.host import Host
from zepix_core.storage import Store


class HostCollector(Collector):
    def __init__(self, host: Host, store: Store) -> None:
        self.host = host
        self.store = store

    def collect(self) -> Iterator[Metric]:
        yield from self._states()
        yield from self._latency()
        yield from self._work()
        yield from self._alerts()
        yield from self._rounds()
        yield from self._retries()

    def _states(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("zepix_plugin_state", "1 for the plugin's lifecycle state",
                                  labels=["plugin", "state"])
        status = GaugeMetricFamily("zepix_plugin_health_status",
                                   "1 for the plugin's latest health status",
                                   labels=["plugin", "status"])
        breaker = GaugeMetricFamily("zepix_breaker_state", "1 for the circuit breaker's state",
                                    labels=["plugin", "state"])
        latest = self.host.monitor.latest
        for pid, slot in sorted(self.host.slots.items()):
            for s in PluginState:
                state.add_metric([pid, s.value], float(slot.state is s))
            now = latest.get(pid, {}).get("status", HealthStatus.UNKNOWN.value)
            if slot.state is not PluginState.ACTIVE:
                now = HealthStatus.UNKNOWN.value
            for h in HealthStatus:
                status.add_metric([pid, h.value], float(now == h.value))
            current = self.host.supervisor.snapshot_fields(pid)["breaker"]
            for b in BreakerState:
                breaker.add_metric([pid, b.value], float(current == b.value))
        yield from (state, status, breaker)

    def _latency(self) -> Iterator[Metric]:
        family = HistogramMetricFamily("zepix_hook_latency_seconds",
                                       "hook call duration as the host saw it",
                                       labels=["plugin", "hook"])
        for (pid, hook), hist in sorted(self.host.monitor.latency.snapshot().items()):
            family.add_metric([pid, hook], hist.cumulative(), hist.total)
        yield family

    def _work(self) -> Iterator[Metric]:
        errors = CounterMetricFamily("zepix_hook_errors", "hook errors since the plugin's "
                                     "activation (exceptions, timeouts, wrong shapes)",
                                     labels=["plugin", "hook"])
        for pid, w in sorted(self.host.monitor.watched.items()):
            for hook, e in sorted(w.health.errors.items()):
                errors.add_metric([pid, hook], e.count)
        restarts = CounterMetricFamily("zepix_plugin_restarts", "restarts by the supervisor",
                                       labels=["plugin"])
        for pid, n in sorted(self.store.event_counts("restart").items()):
            restarts.add_metric([pid], n)
        intents = CounterMetricFamily("zepix_intents", "trade intents returned by on_bar",
                                      labels=["plugin"])
        for pid, n in sorted(self.host.monitor.intents.items()):
            intents.add_metric([pid], n)
        yield from (errors, restarts, intents)

    def _alerts(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily("zepix_alerts_firing", "alerts not yet resolved",
                                   labels=["plugin", "level"])
        counts: dict[tuple[str, str], int] = {}
        for row in self.store.alerts(unresolved=True, limit=10_000):
            key = (row["plugin_id"], row["level"])
            counts[key] = counts.get(key, 0) + 1
        for (pid, level), n in sorted(counts.items()):
            firing.add_metric([pid, level], n)
        yield firing

    def _rounds(self) -> Iterator[Metric]:
        monitor = self.host.monitor
        rounds = CounterMetricFamily("zepix_rounds", "monitoring rounds run by this host")
        rounds.add_metric([], monitor.rounds)
        took = GaugeMetricFamily("zepix_round_duration_seconds", "the last round's duration")
        age = GaugeMetricFamily("zepix_round_age_seconds", "seconds since the last round ended")
        if monitor.last_round is not None:
            ended, seconds = monitor.last_round
            took.add_metric([], seconds)
            age.add_metric([], max(0.0, time.time() - ended))
        yield from (rounds, took, age)


    def _retries(self) -> Iterator[Metric]:
        """The retry framework's statistics per operation (a bounded set of names)."""
        families = {name: CounterMetricFamily(f"zepix_retry_{name}", help_text,
                                              labels=["operation"])
                    for name, help_text in RETRY_COUNTERS.items()}
        for row in self.store.retry_stats():
            for name, family in families.items():
                family.add_metric([row["operation"]], float(row[name] or 0))
        yield from families.values()


RETRY_COUNTERS = {
    "attempts": "tries of retried outbound operations",
    "first_try_successes": "operations that succeeded at the first try",
    "retry_successes": "operations that succeeded after retrying",
    "exhausted": "operations that ran out of attempts",
    "permanent_failures": "operations that failed in a way never retried",
}


def registry(host: Host, store: Store) -> CollectorRegistry:
    """A registry of its own per app: nothing global, nothing updated elsewhere."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(HostCollector(host, store))
    return reg
