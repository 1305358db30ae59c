"""``/metrics``: one collector reads the host's state at scrape time.

Every series name and label lives here. Labels are bounded: plugin id, hook,
state, status, level, operation; never a message. Label values are lower case
(``status="healthy"``, ``level="critical"``), as Alertmanager's are. Every
series of a plugin exists from its activation (counters at 0), so ratios and
counts need no ``or vector(0)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib import metadata

from prometheus_client import ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from zepix_core.contract.model import AlertLevel, BreakerState, HealthStatus, PluginState
from zepix_core.health.histogram import Histogram
from zepix_core.host.facade import of
from zepix_core.host.host import Host
from zepix_core.storage import Store
from zepix_core.sync.reading import ledger_lags

#: Hooks whose error counters and latency histograms exist from activation: the ones
#: every round or every bar calls.
WATCHED_HOOKS = ("on_bar", "health_ping", "get_metrics")


def _lower(value: str) -> str:
    return value.lower()


class HostCollector(Collector):
    def __init__(self, host: Host, store: Store) -> None:
        self.host = host
        self.store = store

    def collect(self) -> Iterator[Metric]:
        yield from self._info()
        yield from self._states()
        yield from self._latency()
        yield from self._work()
        yield from self._alerts()
        yield from self._rounds()
        yield from self._retries()
        yield from self._sync()
        yield from self._config()
        yield from self._trading()

    def _active(self) -> list[str]:
        return sorted(pid for pid, s in self.host.slots.items()
                      if s.state is PluginState.ACTIVE)

    def _info(self) -> Iterator[Metric]:
        build = GaugeMetricFamily("zepix_build_info", "always 1; the zepix-core version",
                                  labels=["version"])
        build.add_metric([_core_version()], 1)
        plugin = GaugeMetricFamily("zepix_plugin_info", "always 1 per discovered plugin; the "
                                   "installed version and distribution",
                                   labels=["plugin", "version", "distribution"])
        for pid, slot in sorted(self.host.slots.items()):
            plugin.add_metric([pid, slot.version, slot.record.distribution], 1)
        yield from (build, plugin)

    def _states(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("zepix_plugin_state", "1 for the plugin's lifecycle state",
                                  labels=["plugin", "state"])
        status = GaugeMetricFamily("zepix_plugin_health_status",
                                   "1 for the plugin's latest health status",
                                   labels=["plugin", "status"])
        breaker = GaugeMetricFamily("zepix_breaker_state", "1 for the circuit breaker's state",
                                    labels=["plugin", "state"])
        latest = of(self.host).latest_snapshots()
        for pid, slot in sorted(self.host.slots.items()):
            for s in PluginState:
                state.add_metric([pid, _lower(s.value)], float(slot.state is s))
            now = latest.get(pid, {}).get("status", HealthStatus.UNKNOWN.value)
            if slot.state is not PluginState.ACTIVE:
                now = HealthStatus.UNKNOWN.value
            for h in HealthStatus:
                status.add_metric([pid, _lower(h.value)], float(now == h.value))
            current = of(self.host).breaker_fields(pid)["breaker"]
            for b in BreakerState:
                breaker.add_metric([pid, _lower(b.value)], float(current == b.value))
        yield from (state, status, breaker)

    def _latency(self) -> Iterator[Metric]:
        family = HistogramMetricFamily("zepix_hook_latency_seconds",
                                       "hook call duration as the host saw it",
                                       labels=["plugin", "hook"])
        series = {(pid, hook): Histogram() for pid in self._active() for hook in WATCHED_HOOKS}
        series.update(of(self.host).hook_latency())
        for (pid, hook), hist in sorted(series.items()):
            family.add_metric([pid, hook], hist.cumulative(), hist.total)
        yield family

    def _work(self) -> Iterator[Metric]:
        errors = CounterMetricFamily("zepix_hook_errors", "hook errors since the plugin's "
                                     "activation (exceptions, timeouts, wrong shapes)",
                                     labels=["plugin", "hook"])
        for pid, w in of(self.host).watched():
            counts = dict.fromkeys(WATCHED_HOOKS, 0)
            counts.update({hook: e.count for hook, e in w.health.errors.items()})
            for hook, n in sorted(counts.items()):
                errors.add_metric([pid, hook], n)
        critical = CounterMetricFamily("zepix_plugin_critical_errors", "errors of critical "
                                       "severity since the plugin's activation: its trading "
                                       "work (on_bar, on_fill) failed", labels=["plugin"])
        for pid, w in of(self.host).watched():
            critical.add_metric([pid], w.health.critical_errors)
        active = self._active()
        restarts = CounterMetricFamily("zepix_plugin_restarts", "restarts by the supervisor",
                                       labels=["plugin"])
        counted = {**dict.fromkeys(active, 0), **self.store.event_counts("restart")}
        for pid, n in sorted(counted.items()):
            restarts.add_metric([pid], n)
        intents = CounterMetricFamily("zepix_intents", "trade intents returned by on_bar",
                                      labels=["plugin"])
        for pid, n in sorted({**dict.fromkeys(active, 0), **of(self.host).intents_counted()}.items()):
            intents.add_metric([pid], n)
        yield from (errors, critical, restarts, intents)

    def _alerts(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily("zepix_alerts_firing", "alerts not yet resolved",
                                   labels=["plugin", "level"])
        counts = {(pid, level.value): 0 for pid in self._active() for level in AlertLevel}
        for row in self.store.alerts(unresolved=True, limit=10_000):
            key = (row["plugin_id"], row["level"])
            counts[key] = counts.get(key, 0) + 1
        for (pid, level), n in sorted(counts.items()):
            firing.add_metric([pid, _lower(level)], n)
        yield firing

    def _rounds(self) -> Iterator[Metric]:
        host = of(self.host)
        rounds = CounterMetricFamily("zepix_rounds", "monitoring rounds run by this host")
        rounds.add_metric([], host.rounds())
        took = HistogramMetricFamily("zepix_round_duration_seconds",
                                     "monitoring round durations")
        hist = host.round_latency()
        took.add_metric([], hist.cumulative(), hist.total)
        age = GaugeMetricFamily("zepix_round_age_seconds", "seconds since the last round ended")
        last = GaugeMetricFamily("zepix_last_round_timestamp_seconds",
                                 "when the last round ended (Unix time)")
        last_round = host.last_round()
        if last_round is not None:
            ended, _ = last_round
            age.add_metric([], max(0.0, time.time() - ended))
            last.add_metric([], ended)
        yield from (rounds, took, age, last)

    def _retries(self) -> Iterator[Metric]:
        """The retry framework's statistics per operation (a bounded set of names)."""
        families = {name: CounterMetricFamily(f"zepix_retry_{series}", help_text,
                                              labels=["operation"])
                    for name, (series, help_text) in RETRY_COUNTERS.items()}
        for row in self.store.retry_stats():
            for name, family in families.items():
                family.add_metric([row["operation"]], float(row[name] or 0))
        yield from families.values()

    def _sync(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily("zepix_sync_lag_seconds", "age of the oldest trade not yet "
                                "in the ledger, now (0: all in)",
                                labels=["plugin"])
        failures = GaugeMetricFamily("zepix_sync_consecutive_failures",
                                     "ledger syncs of the plugin that failed in a row",
                                     labels=["plugin"])
        success = GaugeMetricFamily("zepix_sync_last_success_timestamp_seconds",
                                    "when the plugin's trades last reached the ledger",
                                    labels=["plugin"])
        now = time.time()
        for pid, seconds in ledger_lags(self.store, self.host.config.sync().url, now).items():
            if seconds is not None:  # unknown is no series, not 0
                lag.add_metric([pid], seconds)
        for row in self.store.sync_status():
            pid = row["plugin_id"]
            failures.add_metric([pid], float(row["consecutive_failures"] or 0))
            if row["last_success"] is not None:
                success.add_metric([pid], float(row["last_success"]))
        yield from (lag, failures, success)

    def _config(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily("zepix_config_last_reload_successful",
                               "1 when the last look at a changed config file applied it, "
                               "0 when it was rejected (the config in force stays)")
        at = GaugeMetricFamily("zepix_config_last_reload_success_timestamp_seconds",
                               "when the config in force was loaded or last applied")
        reload = of(self.host).last_reload()
        ok.add_metric([], float(reload.ok))
        at.add_metric([], reload.applied_at)
        yield from (ok, at)

    def _trading(self) -> Iterator[Metric]:
        paused = GaugeMetricFamily("zepix_plugin_paused", "1 while the plugin is paused",
                                   labels=["plugin"])
        pnl = GaugeMetricFamily("zepix_plugin_realized_pnl", "realised P&L (fees included) "
                                "of the fills the host booked, in quote currency",
                                labels=["plugin"])
        positions = GaugeMetricFamily("zepix_plugin_open_positions",
                                      "symbols with an open position from booked fills",
                                      labels=["plugin"])
        for pid in self._active():
            measured = self.host.trades.fields(pid)["host_measured"]
            paused.add_metric([pid], float(self.host.is_paused(pid)))
            pnl.add_metric([pid], float(measured["realised_pnl"]))
            positions.add_metric([pid], float(len(measured["positions"])))
        yield from (paused, pnl, positions)


#: Column of ``retry_stats`` -> (series name after ``zepix_retry_``, help).
RETRY_COUNTERS = {
    "attempts": ("attempts", "tries of retried outbound operations"),
    "first_try_successes": ("first_try_successes", "operations that succeeded at the first try"),
    "retry_successes": ("successes_after_retry", "operations that succeeded after retrying"),
    "exhausted": ("exhausted", "operations that ran out of attempts"),
    "permanent_failures": ("permanent_failures", "operations that failed, never retried"),
}


def _core_version() -> str:
    try:
        return metadata.version("zepix-core")
    except metadata.PackageNotFoundError:
        return "unknown"


def registry(host: Host, store: Store) -> CollectorRegistry:
    """A registry of its own per app: nothing global, nothing updated elsewhere. The
    host's ``process_*`` series come from prometheus-client's own collector."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(HostCollector(host, store))
    ProcessCollector(registry=reg)
    return reg
