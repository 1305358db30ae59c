"""The monitoring round: call every active plugin's health hooks under deadlines,
sample resources, judge, and persist one snapshot per plugin in one transaction.

Each round sends every plugin ``health_ping`` and ``get_metrics`` (deadline
``ping_timeout``), and every ``self_test_every`` rounds ``plugin_version``
(2 s) and ``self_test`` (10 s); ``self_test`` also runs in the first round
after activation. All plugins are checked side by side and each plugin's
calls one after another (``_checks``), so a round waits at most for the
slowest plugin's own deadlines: ``2 x ping_timeout`` on an ordinary round,
plus 2 s + 10 s on a self-test round, and a plugin that misses a deadline
costs the round only that one deadline. A plugin still stuck in a call from
an earlier round gets no calls at all: its ping counts as missed at once.
Snapshots and resolved alerts past ``retention_days`` are pruned (``prune``)
at the first round and then once per hour of monotonic time: the ``snapshots``
timer of the host's scheduler (``host.loop``, run by ``host.rounds``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from zepix_core.contract.errors import PluginBusy, PluginError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel
from zepix_core.execution.calls import ChecksOutcome, HookCall, run_calls
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.ports import PortsOf
from zepix_core.execution.runner import CallResult
from zepix_core.health.alerting import Alerting
from zepix_core.health.baselines import (
    breaches,
    with_anomalies,
)
from zepix_core.health.histogram import HookLatency
from zepix_core.health.resources import ResourceSample, ResourceSampler
from zepix_core.health.rules import Verdict
from zepix_core.health.shapes import PluginHealth
from zepix_core.health.watched import (
    Checks,
    Watched,
    baseline,
    check_settings,
    restore_window,
    snapshot,
    summary,
    thresholds_for,
)
from zepix_core.loading.config import Config
from zepix_core.loading.resolution import parse_meta
from zepix_core.retry import Retrier
from zepix_core.storage.repos import MonitorRepo

log = logging.getLogger("zepix.monitor")

#: Seconds a round waits for a worker's watcher to reap a worker seen gone.
REAP_WAIT = 0.25

#: Seconds of monotonic time between two retention prunes (the host's ``snapshots`` timer).
PRUNE_EVERY = 3600.0
DAY = 86400.0
#: Rounds between two saves of a plugin's anomaly baselines (and at detach).
SAVE_BASELINES_EVERY = 10


class Monitor:
    """Keeps the health of every active plugin; the host calls ``round`` each interval."""

    def __init__(self, ports: PortsOf[MonitorRepo], retrier: Retrier | None = None) -> None:
        check_settings(ports.config)
        self.ports = ports
        self.sampler = ResourceSampler()
        self.alerting = Alerting(ports.store, ports.config.sections.get("alerts", {}),
                                 ports.clocks.monotonic, ports.clocks.wall, retrier=retrier)
        self.watched: dict[str, Watched] = {}
        self.rounds = 0
        self.every = max(1, int(ports.config.host["self_test_every"]))
        self.stopping = False
        #: What /metrics reads at scrape time: hook latencies, intents per plugin, the
        #: last round (wall time it ended, its duration in seconds) and each plugin's
        #: latest snapshot record.
        self.latency = HookLatency()
        #: Round durations (one series, key ("host", "round")), for the histogram.
        self.round_latency = HookLatency()
        self.intents: Counter[str] = Counter()
        self.last_round: tuple[float, float] | None = None
        self.latest: dict[str, dict[str, Any]] = {}
        self.host_sample: ResourceSample | None = None  # the last round's, for open files
        self.baselines: list[tuple[str, Mapping[str, object], float]] = []

    def fields(self, plugin_id: str) -> dict[str, Any]:
        """The ``snapshot_fields`` of every owner on the host's plugin manager, merged."""
        merged: dict[str, Any] = {}
        for found in reversed(self.alerting.pm.hook.snapshot_fields(plugin_id=plugin_id)):
            merged.update(found or {})
        return merged

    def retune(self, config: Config) -> None:
        """A new config in force (hot reload): thresholds and the alert cooldown apply
        from the next round on, to every plugin watched now."""
        for pid, watched in self.watched.items():
            watched.limits = thresholds_for(config, pid)
        cooldown = config.sections.get("alerts", {}).get("cooldown", 300.0)
        self.alerting.manager.cooldown = float(cooldown)

    # -- membership --------------------------------------------------------
    def attach(self, slot: PluginSlot) -> None:
        clocks = self.ports.clocks
        health = PluginHealth(slot.plugin_id, clock=clocks.monotonic, wall=clocks.wall)
        health.note_activity(clocks.wall())
        if self.rounds == 0:  # the host is starting: carry the windows over a restart
            restore_window(self.ports, slot.plugin_id, health)
        reported = slot.meta.version if slot.meta else None
        self.watched[slot.plugin_id] = Watched(
            slot, health, thresholds_for(self.ports.config, slot.plugin_id), reported,
            next_version=self.every, seen_version=reported,
            anomaly=baseline(self.ports, slot.plugin_id))

    def detach(self, plugin_id: str) -> str | None:
        """Stop watching a plugin; its open alerts resolve, unless the host is
        stopping (``stop``). Returns why no further call can reach the plugin
        (it is stuck in a call given up on), or None."""
        watched = self.watched.pop(plugin_id, None)
        if watched is not None and watched.anomaly is not None:
            self.ports.store.save_baseline(plugin_id, watched.anomaly.detector.state(),
                                          self.ports.clocks.wall())
        if not self.stopping:
            self.alerting.forget(plugin_id, "plugin deactivated")
        if watched is None or not self._stuck(watched):
            return None
        held = self.ports.clocks.monotonic() - watched.stuck_since
        return f"stuck in {watched.stuck_hook} for {held:.1f}s"

    def stop(self) -> None:
        """The host is shutting down: firing alerts stay open, since their
        conditions were never seen to clear; the next host restores them."""
        self.stopping = True

    def close(self) -> None:
        self.alerting.close()

    def accepts_work(self, plugin_id: str) -> bool:
        """Work goes only to a plugin that answers: bars sent to one that missed
        its last ping would queue behind a call that may never return."""
        watched = self.watched.get(plugin_id)
        return watched is not None and watched.health.misses == 0 and not self._stuck(watched)

    def stuck_in(self, plugin_id: str, hook: str, call: Future[Any], held: float) -> None:
        """A call the host gave up on (an inline ``on_bar`` past its deadline) still
        runs: the plugin gets no further calls until ``call`` is done, and its
        pings count as missed meanwhile, so it turns HUNG."""
        watched = self.watched.get(plugin_id)
        if watched is not None:
            watched.stuck, watched.stuck_hook = call, hook
            watched.stuck_since = self.ports.clocks.monotonic() - held

    def on_hook(self, result: CallResult) -> None:
        """One call of an occasional hook (``on_fill``): errors and timeouts counted."""
        watched = self.watched.get(result.plugin_id)
        if watched is not None:
            watched.health.record_call(result)

    def on_answers(self, plugin_id: str, durations: Sequence[float]) -> None:
        """Several work calls of one plugin that answered in shape (one feed)."""
        watched = self.watched.get(plugin_id)
        if watched is not None:
            watched.health.record_answers(durations)
            if watched.anomaly is not None:
                watched.anomaly.record_answers(durations)
            self.latency.observe_many(plugin_id, "on_bar", durations)
            watched.health.note_activity(self.ports.clocks.wall())

    def on_work(self, result: CallResult, problem: str | None) -> None:
        watched = self.watched.get(result.plugin_id)
        if watched is None:
            return
        watched.health.record_work(result, problem)
        if watched.anomaly is not None:
            watched.anomaly.record_work(result, problem)
        self.latency.observe(result.plugin_id, result.hook, result.duration)
        if result.ok and problem is None:
            watched.health.note_activity(self.ports.clocks.wall())

    # -- the round ---------------------------------------------------------
    def round(self, slots: Sequence[PluginSlot]) -> str:
        """One round over ``slots``; every call is bounded, so the round is too."""
        checks = self.plan(slots)
        return self.finish(checks, self.call(checks))

    def plan(self, slots: Sequence[PluginSlot]) -> Checks:
        """A round's first step (on the loop): who gets which health hooks now."""
        clocks = self.ports.clocks
        started, now = clocks.monotonic(), clocks.wall()
        watched = [self.watched[s.plugin_id] for s in slots if s.plugin_id in self.watched]
        stuck = {w.slot.plugin_id for w in watched if self._stuck(w)}
        checked = [(w, w.slot.runner) for w in watched
                   if w.slot.runner is not None and w.slot.plugin_id not in stuck]
        return Checks(started, now, watched, stuck,
                      [(runner, self._plan(w, now)) for w, runner in checked],
                      [w for w, _ in checked])

    def call(self, checks: Checks,
             on_done: Callable[[str], None] | None = None) -> list[ChecksOutcome]:
        """A round's plugin calls: the only step that waits on plugins, so the host runs
        it with its loop let go (bars go on meanwhile). ``on_done(plugin_id)`` as soon as
        a plugin's checks are over (not for one whose call missed its deadline)."""
        ids = [w.slot.plugin_id for w in checks.checked]
        done = None if on_done is None else (lambda i: on_done(ids[i]))
        return run_calls(checks.plans, self.ports.clocks.monotonic, done)

    def finish(self, checks: Checks, outcomes: Sequence[ChecksOutcome]) -> str:
        """A round's last step (on the loop): record the answers, sample, judge and
        persist. A plugin detached meanwhile is left out."""
        clocks = self.ports.clocks
        now = checks.now
        self.rounds += 1
        for w, outcome in zip(checks.checked, outcomes, strict=True):
            if self.watched.get(w.slot.plugin_id) is w:  # not detached meanwhile
                self._record(w, outcome)
        watched = [w for w in checks.watched if self.watched.get(w.slot.plugin_id) is w]
        for w in (w for w in watched if w.slot.plugin_id in checks.stuck):
            self._still_stuck(w)
        # One host sample per round: every in-process plugin shares it, and a
        # second cpu_percent() read moments later would measure nothing.
        self.host_sample = host_sample = self.sampler.sample_host()
        self.baselines = []  # saved in one go, after the round's assessments
        snapshots = [self._assess(w, now, host_sample) for w in watched]
        self.ports.store.save_baselines(self.baselines)
        self.ports.store.save_snapshots(now, snapshots)
        if self.rounds == 1:
            self._forget_inactive()
        took = (clocks.monotonic() - checks.started) * 1000
        self.last_round = (clocks.wall(), took / 1000)
        self.round_latency.observe("host", "round", took / 1000)
        self.latest = {s["plugin_id"]: s for s in snapshots}
        return summary(self.rounds, snapshots, took)

    def persist_now(self) -> list[dict[str, Any]]:
        """Write a snapshot of every watched plugin now, without calling it: its last
        round's record with the latency window, error counts and annotations as of
        now (the caller holds the host's loop, so no round runs meanwhile)."""
        now = self.ports.clocks.wall()
        records = []
        for pid, w in list(self.watched.items()):
            last = self.latest.get(pid)
            if last is None:
                continue
            latency = w.health.work.snapshot()
            record = {**last, "timestamp": now, "persisted": "on request",
                      "latency_ms": {"p50": latency.p50_ms, "p95": latency.p95_ms,
                                     "p99": latency.p99_ms},
                      "calls": latency.calls, "errors": latency.errors,
                      "error_rate": latency.error_rate, "ping_misses": w.health.misses,
                      "last_activity": w.health.last_activity}
            record.update(self.fields(pid))
            records.append(record)
        if records:
            self.ports.store.save_snapshots(now, records)
            self.latest.update({r["plugin_id"]: r for r in records})
        return records

    def _plan(self, w: Watched, now: float) -> list[HookCall]:
        timeout = w.slot.config.ping_timeout
        checks = [HookCall("health_ping", timeout, {"now": now}), HookCall("get_metrics", timeout)]
        if w.rounds >= w.next_version:
            checks.append(HookCall("plugin_version", DEFAULT_DEADLINES["plugin_version"]))
        if w.rounds >= w.next_self_test:
            checks.append(HookCall("self_test", DEFAULT_DEADLINES["self_test"]))
        return checks

    def _stuck(self, w: Watched) -> bool:
        if w.stuck is not None and w.stuck.done():
            w.stuck = None
        return w.stuck is not None

    def _still_stuck(self, w: Watched) -> None:
        """A plugin inside a call it was given up on is not called again: the
        ping it could not answer counts as missed, without waiting."""
        held = self.ports.clocks.monotonic() - w.stuck_since
        w.health.record_ping(CallResult(
            w.slot.plugin_id, "health_ping",
            error=f"{PluginBusy.__name__}: {w.stuck_hook} still running after {held:.1f}s"))

    def count_intents(self, plugin_ids: Sequence[str]) -> None:
        counted = Counter(plugin_ids)
        self.intents.update(counted)
        for pid, count in counted.items():
            watched = self.watched.get(pid)
            if watched is not None and watched.anomaly is not None:
                watched.anomaly.record_intents(count)

    def _record(self, w: Watched, outcome: ChecksOutcome) -> None:
        for result in outcome.results:
            self.latency.observe(result.plugin_id, result.hook, result.duration)
            if result.hook == "health_ping":
                w.health.record_ping(result)
            elif result.hook == "get_metrics":
                w.health.record_metrics(result)
            elif result.hook == "self_test":
                w.health.record_self_test(result)
                w.next_self_test = w.rounds + self.every
            elif result.hook == "plugin_version":
                self._check_version(w, result)
                w.next_version = w.rounds + self.every
        if outcome.stuck is not None:
            given_up = outcome.results[-1]
            w.stuck, w.stuck_hook = outcome.stuck, given_up.hook
            w.stuck_since = self.ports.clocks.monotonic() - given_up.duration

    def _check_version(self, w: Watched, result: CallResult) -> None:
        """Notice a plugin that now reports another version than at activation:
        an event in the history and a WARNING alert while it differs."""
        if not w.health.record_call(result):
            return
        try:
            reported = parse_meta(result.value).version
        except PluginError as exc:
            w.health.record_error(result.hook, "wrong_shape", str(exc))
            return
        pid, slot = w.slot.plugin_id, w.slot
        message = (f"plugin_version reports {reported}; it reported {w.baseline} at "
                   f"activation (distribution {slot.record.distribution} {slot.version})")
        if reported != w.seen_version:
            again = f"plugin_version reports {reported} again, as at activation"
            detail = message if reported != w.baseline else again
            self.ports.store.record_event(pid, "version_changed", detail,
                                         self.ports.clocks.wall(), version=str(reported))
            log.warning("version changed", extra=fields(plugin=pid, reported=str(reported),
                                                         activated=str(w.baseline)))
            w.seen_version = reported
        self.alerting.raise_event(pid, "version_changed", AlertLevel.WARNING, message,
                                  firing=reported != w.baseline)

    def _assess(self, w: Watched, now: float, host_sample: ResourceSample) -> dict[str, Any]:
        w.rounds += 1
        runner = w.slot.runner
        pid = runner.pid if runner is not None else None
        resources = self.sampler.sample(pid) if pid else host_sample
        if pid and not resources.running and runner is not None and runner.alive():
            # The process is gone (a zombie) in the moment before the runner's watcher,
            # woken by its exit, reaps it; then the verdict can say how it ended.
            runner.wait_exited(REAP_WAIT)
        verdict = w.health.assess(alive=runner is not None and runner.alive(), now=now,
                                  limits=w.limits, resources=resources,
                                  exit_detail=runner.exit_description if runner is not None else None)
        verdict = self._anomalies(w, verdict, now, resources)
        self.alerting.observe(w.slot.plugin_id, verdict)
        if verdict.reasons:
            log.info("health", extra=fields(
                plugin=w.slot.plugin_id, status=verdict.status.value,
                reasons="; ".join(b.message for b in verdict.reasons)))
        record = snapshot(w, verdict, resources, now)
        record.update(self.fields(w.slot.plugin_id))
        if w.anomaly is not None:
            record["anomaly"] = w.anomaly.record()
        record["reasons"] = [*record["reasons"], *record.pop("notes", [])]
        return record

    def _anomalies(self, w: Watched, verdict: Verdict, now: float,
                   resources: ResourceSample) -> Verdict:
        """Judge the round against the plugin's own baselines too (health/anomaly.py)."""
        feed = w.anomaly
        if feed is None or not feed.enabled or not w.slot.runner or not w.slot.runner.alive():
            return verdict
        metrics = w.health.metrics.values if w.health.metrics else None
        found = feed.assess(feed.sample(now, metrics, resources, w.limits.memory_mb))
        if w.rounds % SAVE_BASELINES_EVERY == 0:
            self.baselines.append((w.slot.plugin_id, feed.detector.state(), now))
        verdict = with_anomalies(verdict, breaches(found.findings))
        w.health.status, w.health.reasons = verdict.status, verdict.reasons
        return verdict

    def _forget_inactive(self) -> None:
        """Alerts a previous host left open for plugins that are not active now
        (uninstalled, disabled, failed to start) can no longer clear: resolve them."""
        for fingerprint in self.alerting.open_fingerprints():
            plugin_id = fingerprint.split(":", 1)[0]
            if plugin_id not in self.watched:
                self.alerting.forget(plugin_id, "plugin not active after restart")

    # -- retention ---------------------------------------------------------
    def prune(self) -> tuple[int, int]:
        """Delete snapshots and resolved alerts older than ``retention_days``;
        each plugin's newest snapshot is kept however old. Returns the counts."""
        days = float(self.ports.config.host["retention_days"])
        before = self.ports.clocks.wall() - days * DAY
        store = self.ports.store
        counts = store.prune_snapshots(before), store.prune_alerts(before)
        store.prune_config_changes(before)
        if any(counts):
            log.info("retention pruned", extra=fields(snapshots=counts[0], alerts=counts[1],
                                                      days=days))
        return counts
