"""Canary: a candidate version in shadow beside the active one, on the same bars.

The candidate runs in a worker of its own, activated with a data directory of
its own, so it shares nothing with the active instance. The host hands it
every bar it hands the active plugins, in the same dispatch, so both see a
bar at the same moment; its trade intents are recorded in ``canary_intents``
and go nowhere else. Each round the host pings the candidate, reads its
metrics, judges it with the same health rules and thresholds as an active
plugin, and compares both sides: on_bar latency percentiles, errors, signals
and intents. Any health breach, or an on_bar p95 above ``canary_p95_ratio``
times the active version's and above ``canary_p95_floor_ms``, aborts the
canary by itself. Promotion and operator aborts are recorded by the command
line; the host stops the shadow worker at its next round.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel, HealthStatus, Intent, PluginState
from zepix_core.execution.calls import HookCall, run_calls
from zepix_core.execution.lifecycle import PluginSlot, RunnerFactory, bring_up
from zepix_core.execution.ports import PortsOf
from zepix_core.execution.runner import CallResult, Runner, call
from zepix_core.health.monitor import Monitor
from zepix_core.health.resources import ResourceSampler
from zepix_core.health.shapes import MetricsReply, PluginHealth
from zepix_core.health.watched import thresholds_for
from zepix_core.loading.discovery import EntryRecord
from zepix_core.loading.paths import data_dir
from zepix_core.loading.resolution import PluginMeta
from zepix_core.storage import Row
from zepix_core.storage.repos import CanaryRepo
from zepix_core.versions.policy import StoreSettings

log = logging.getLogger("zepix.canary")

SHADOW = "~canary"
#: Latency window of a canary: its whole run, for any practical run length.
WINDOW = 7 * 86400.0
Admit = Callable[[str, EntryRecord, PluginMeta], "str | None"]


class ShadowRunner:
    """The candidate's runner under an id of its own (``<id>~canary``), so its
    work results are told apart from the active plugin's."""

    def __init__(self, runner: Runner, plugin_id: str) -> None:
        self.runner = runner
        self.plugin_id = plugin_id + SHADOW

    @property
    def pid(self) -> int | None:
        return self.runner.pid

    @property
    def hooks(self) -> Sequence[str]:
        return self.runner.hooks

    @property
    def warnings(self) -> Sequence[str]:
        return self.runner.warnings

    @property
    def kill_reason(self) -> str | None:
        return self.runner.kill_reason

    @property
    def exit_description(self) -> str | None:
        return self.runner.exit_description

    def submit(self, hook: str, kwargs: Mapping[str, object]) -> Future[object]:
        return self.runner.submit(hook, kwargs)

    def alive(self) -> bool:
        return self.runner.alive()

    def busy(self) -> bool:
        return self.runner.busy()

    def wait_exited(self, timeout: float) -> bool:
        return self.runner.wait_exited(timeout)

    def close(self, timeout: float = 1.0) -> None:
        self.runner.close(timeout)


@dataclass
class Arm:
    """One side of the comparison: its work calls, intents and signals.

    ``signals_base`` is the side's ``signals_processed`` when the canary
    started, so both sides count the signals of the same bars."""

    health: PluginHealth
    intents: Counter[str] = field(default_factory=Counter)
    keys: set[tuple[float, str, str]] = field(default_factory=set)
    signals_base: float | None = None
    signals_now: float | None = None

    def record(self, intent: Intent) -> None:
        self.intents[intent.side] += 1
        self.keys.add((intent.bar_time, intent.symbol, intent.side))

    def read_signals(self, metrics: MetricsReply | None) -> None:
        value = metrics.values.get("signals_processed") if metrics else None
        if value is None:
            return
        if self.signals_base is None or value < self.signals_base:  # a restarted instance
            self.signals_base = float(value) if self.signals_base is None else 0.0
        self.signals_now = float(value) - self.signals_base

    def stats(self, version: str | None) -> dict[str, object]:
        work = self.health.work.snapshot()
        return {"version": version, "bars": work.calls, "errors": work.errors,
                "error_rate": work.error_rate, "p50_ms": work.p50_ms, "p95_ms": work.p95_ms,
                "p99_ms": work.p99_ms, "signals": self.signals_now,
                "intents": sum(self.intents.values()), "buy": self.intents["buy"],
                "sell": self.intents["sell"]}


@dataclass
class ShadowRun:
    row_id: int
    plugin_id: str
    version: str
    runner: ShadowRunner
    active: Arm
    candidate: Arm
    pending: list[tuple[str, float, str, str, float, float | None, str]] = field(
        default_factory=list)
    rounds: int = 0


class Canaries:
    """The host's open canaries; ``round`` is called once per monitoring round."""

    def __init__(self, ports: PortsOf[CanaryRepo], monitor: Monitor, settings: StoreSettings,
                 lookup: Callable[[str, str], EntryRecord | None],
                 factory_for: Callable[[EntryRecord], RunnerFactory], admit: Admit) -> None:
        self.ports = ports
        self.monitor = monitor
        self.settings = settings
        self.lookup = lookup
        self.factory_for = factory_for
        self.admit = admit
        self.runs: dict[str, ShadowRun] = {}
        self.sampler = ResourceSampler()

    # -- work, from the host's dispatch -----------------------------------
    def runners(self) -> list[Runner]:
        """Shadow runners that can take a bar now (none is stuck in a call)."""
        return [r.runner for r in self.runs.values() if r.runner.alive() and not r.runner.busy()]

    def on_work(self, result: CallResult, problem: str | None) -> None:
        if not self.runs:
            return
        pid, shadow = result.plugin_id.removesuffix(SHADOW), result.plugin_id.endswith(SHADOW)
        run = self.runs.get(pid)
        if run is not None:
            (run.candidate if shadow else run.active).health.record_work(result, problem)

    def on_intents(self, intents: Sequence[Intent]) -> None:
        if not self.runs:
            return
        for intent in intents:
            pid, shadow = intent.plugin_id.removesuffix(SHADOW), intent.plugin_id.endswith(SHADOW)
            run = self.runs.get(pid)
            if run is not None:
                (run.candidate if shadow else run.active).record(intent)
                run.pending.append(("candidate" if shadow else "active", intent.bar_time,
                                    intent.symbol, intent.side, intent.quantity, intent.price,
                                    intent.reason))

    # -- the round ---------------------------------------------------------
    def round(self) -> None:
        """Stop runs the operator ended, start requested ones, then probe, compare
        and judge every running candidate."""
        open_rows = {r["plugin_id"]: r for r in self.ports.store.open_canaries()}
        for pid in [p for p, run in self.runs.items()
                    if p not in open_rows or open_rows[p]["id"] != run.row_id]:
            run = self.runs.pop(pid)
            self._stop(run, "canary ended")
            self._ended(run)
        for pid, row in open_rows.items():
            if pid not in self.runs:
                self._start(row)
        for run in list(self.runs.values()):
            self._judge(run)

    def close(self) -> None:
        """Stop every shadow worker; open runs resume when a host starts again."""
        for run in self.runs.values():
            self._stop(run, "host shutdown")
        self.runs.clear()

    # -- starting ------------------------------------------------------------
    def _start(self, row: Row) -> None:
        pid, version = str(row["plugin_id"]), str(row["version"])
        record = self.lookup(pid, version)
        if record is None:
            self._fail_start(row, f"{version} is not installed any more")
            return
        slot = PluginSlot(record=record, config=self.ports.config.plugin(pid))
        factory = self.factory_for(record)
        folder = data_dir() / "canaries" / pid / version
        if not bring_up(slot, lambda r, c: ShadowRunner(factory(r, c), pid),
                        self.ports.api_version, self.ports.clocks.monotonic,
                        admit=lambda s: self._admit(s, record), data_dir=folder):
            self._fail_start(row, slot.reason or f"it is {slot.state.value}")
            return
        runner = slot.runner
        assert isinstance(runner, ShadowRunner)
        clocks = self.ports.clocks
        run = ShadowRun(int(row["id"]), pid, version, runner,
                        active=Arm(PluginHealth(pid, clock=clocks.monotonic, wall=clocks.wall,
                                                window=WINDOW)),
                        candidate=Arm(PluginHealth(runner.plugin_id, clock=clocks.monotonic,
                                                   wall=clocks.wall, window=WINDOW),
                                      signals_base=0.0))
        problem = self._self_test(run)
        if problem is not None:
            runner.close(0.5)
            self._fail_start(row, problem)
            return
        self._read_active(run)  # the active side's signal count at the start
        baseline = self._active_version(pid)
        self.ports.store.canary_started(run.row_id, baseline, clocks.wall())
        self.runs[pid] = run
        self._finish_requests(pid, f"started: {version} in shadow beside {baseline} "
                                   f"(worker pid {runner.pid})")
        self._event(pid, "canary_started", f"canary {version} running in shadow beside "
                                           f"{baseline}", version, "host")
        log.info("canary started", extra=fields(plugin=pid, version=version, beside=baseline,
                                                worker_pid=runner.pid))
        self.monitor.alerting.raise_event(pid, "canary", AlertLevel.WARNING,
                                               "a new canary started", firing=False)

    def _admit(self, slot: PluginSlot, record: EntryRecord) -> None:
        assert slot.meta is not None
        problem = self.admit(slot.plugin_id, record, slot.meta)
        if problem is not None:
            slot.fail(PluginState.REJECTED, problem)

    def _self_test(self, run: ShadowRun) -> str | None:
        """The activated candidate's self test; why it cannot run, or None."""
        reply = run.candidate.health.record_self_test(
            call(run.runner, "self_test", DEFAULT_DEADLINES["self_test"], {},
                 self.ports.clocks.monotonic))
        if not reply.passed:
            return f"self_test failed: {'; '.join(reply.problems) or 'it reported failure'}"
        return None

    def _fail_start(self, row: Row, why: str) -> None:
        pid = str(row["plugin_id"])
        reason = f"canary {row['version']} could not start: {why}"
        if self.ports.store.finish_canary(int(row["id"]), "aborted", "host", reason,
                                         self.ports.clocks.wall()):
            self._finish_requests(pid, f"failed: {why}")
            self._event(pid, "canary_aborted", reason, str(row["version"]), "host")
            self._alert(pid, reason, "host")

    # -- judging -------------------------------------------------------------
    def _judge(self, run: ShadowRun) -> None:
        now = self.ports.clocks.wall()
        breach = self._probe(run, now)
        run.rounds += 1
        stats = self.stats(run, breach)
        self.ports.store.save_canary(run.row_id, stats, run.pending)
        run.pending.clear()
        if breach is not None:
            reason = f"threshold breached: {breach}"
            self.runs.pop(run.plugin_id)
            self._stop(run, reason)
            if self.ports.store.finish_canary(run.row_id, "aborted", "canary", reason, now):
                told = f"canary {run.version} aborted automatically: {breach}"
                self._event(run.plugin_id, "canary_aborted", told, run.version, "canary")
                self._alert(run.plugin_id, told, "canary")

    def _probe(self, run: ShadowRun, now: float) -> str | None:
        """This round's checks of the candidate; the breach that aborts it, or None."""
        config = self.ports.config.plugin(run.plugin_id)
        checks = [HookCall("health_ping", config.ping_timeout, {"now": now}),
                  HookCall("get_metrics", config.ping_timeout)]
        [outcome] = run_calls([(run.runner, checks)], self.ports.clocks.monotonic)
        health = run.candidate.health
        for result in outcome.results:
            if result.hook == "health_ping":
                health.record_ping(result)
            else:
                health.record_metrics(result)
        self._read_active(run)
        run.candidate.read_signals(health.metrics)
        pid = run.runner.pid
        verdict = health.assess(alive=run.runner.alive(), now=now,
                                limits=thresholds_for(self.ports.config, run.plugin_id),
                                resources=self.sampler.sample(pid) if pid else None)
        if verdict.status is not HealthStatus.HEALTHY:
            return f"{verdict.status.value}: " + "; ".join(b.message for b in verdict.reasons)
        return self._slower(run)

    def _slower(self, run: ShadowRun) -> str | None:
        ours, theirs = run.candidate.health.work.snapshot(), run.active.health.work.snapshot()
        if ours.p95_ms is None or theirs.p95_ms is None:
            return None
        limit = max(self.settings.canary_p95_floor_ms, self.settings.canary_p95_ratio
                    * theirs.p95_ms)
        if ours.p95_ms > limit:
            mode = self._isolation(run.plugin_id)
            note = "" if mode == "process" else f"; {_like_with_like(mode)}"
            return (f"on_bar p95 {ours.p95_ms:.3g} ms > {limit:.3g} ms "
                    f"({self.settings.canary_p95_ratio:g} x the active {theirs.p95_ms:.3g} ms"
                    f"{note})")
        return None

    def _isolation(self, plugin_id: str) -> str:
        """How the active version runs now (the candidate always runs in a worker): a
        store version runs in a worker whatever its ``isolation`` setting says."""
        slot = self.ports.plugins.get(plugin_id)
        if slot is not None and slot.runner is not None and slot.runner.pid is not None:
            return "process"
        return str(self.ports.config.plugin(plugin_id).isolation)

    def stats(self, run: ShadowRun, breach: str | None = None) -> dict[str, object]:
        """The side-by-side comparison ``zepix canary status`` shows."""
        health = run.candidate.health
        candidate = {**run.candidate.stats(run.version), "status": health.status.value,
                     "reasons": [b.message for b in health.reasons],
                     "self_test": health.self_test_passed, "ping_misses": health.misses}
        both = run.active.keys & run.candidate.keys
        mode = self._isolation(run.plugin_id)
        return {"rounds": run.rounds,
                "active": {**run.active.stats(self._active_version(run.plugin_id)),
                           "isolation": mode},
                "candidate": {**candidate, "isolation": "process"},
                "latency_compared": _like_with_like(mode),
                "agreement": {"same": len(both),
                              "only_active": len(run.active.keys - both),
                              "only_candidate": len(run.candidate.keys - both)},
                "breach": breach}

    # -- helpers -------------------------------------------------------------
    def _read_active(self, run: ShadowRun) -> None:
        watched = self.monitor.watched.get(run.plugin_id)
        run.active.read_signals(watched.health.metrics if watched else None)

    def _active_version(self, plugin_id: str) -> str | None:
        slot = self.ports.plugins.get(plugin_id)
        return slot.version if slot is not None and slot.state is PluginState.ACTIVE else None

    def _stop(self, run: ShadowRun, reason: str) -> None:
        if run.runner.alive():
            call(run.runner, "deactivate", DEFAULT_DEADLINES["deactivate"], {"reason": reason},
                 self.ports.clocks.monotonic)
        run.runner.close(0.5)
        if run.pending:
            self.ports.store.save_canary(run.row_id, self.stats(run), run.pending)
        log.debug("canary worker stopped", extra=fields(plugin=run.plugin_id,
                                                        version=run.version, reason=reason))

    def _ended(self, run: ShadowRun) -> None:
        """Say how a run the command line ended ended; a promotion's move is logged by
        the request that applies it."""
        row = next((r for r in self.ports.store.canary_runs(run.plugin_id)
                    if r["id"] == run.row_id), None)
        if row is not None and row["state"] == "aborted":
            log.info("canary aborted", extra=fields(plugin=run.plugin_id, version=run.version,
                                                    by=row["end_actor"], why=row["end_reason"]))

    def _finish_requests(self, plugin_id: str, outcome: str) -> None:
        store, now = self.ports.store, self.ports.clocks.wall()
        for request in store.pending_requests("canary", plugin_id):
            store.finish_request(int(request["id"]), now, outcome)

    def _event(self, plugin_id: str, kind: str, detail: str, version: str, actor: str) -> None:
        self.ports.store.record_event(plugin_id, kind, detail, self.ports.clocks.wall(),
                                     version=version, actor=actor)

    def _alert(self, plugin_id: str, message: str, by: str) -> None:
        log.warning("canary aborted", extra=fields(plugin=plugin_id, by=by, why=message))
        self.monitor.alerting.raise_event(plugin_id, "canary", AlertLevel.WARNING, message)


def _like_with_like(active_isolation: str) -> str:
    """Whether the two p95 figures measure the same thing, and if not, the difference."""
    if active_isolation == "process":
        return "like with like: both sides run in a worker process"
    return (f"not like with like: the active runs {active_isolation}, the candidate in a "
            "worker process, so the candidate's latency includes the worker round trip "
            "(run the active with isolation = \"process\" to compare the code alone)")
