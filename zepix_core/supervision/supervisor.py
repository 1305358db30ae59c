"""Supervision: keep each active plugin running, within its limits.

The supervisor connects the pure pieces, one ``RestartPolicy`` and one
``CircuitBreaker`` per plugin, to the host. It learns that a plugin went down
from a worker's ``on_exit`` (a crash) and from each monitoring round's
verdict (HUNG, memory over its limit), schedules a restart by the policy,
performs it through ``host.reload`` when due, gives up when the policy says
so, and applies operator restart requests. docs/supervision.md has the design.

Threads: a crash arrives on the worker's watcher thread, where the event, the
DEAD snapshot and the restart decision are recorded at once. Whatever changes
the host's plugins (restart, give up, requests) runs on the host's loop
thread; an alert raised while the loop is busy waits for it (``_loopthread``).
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable, Sequence

import psutil

from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel, HealthStatus, PluginState
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.ports import PortsOf
from zepix_core.execution.runner import Runner
from zepix_core.execution.worker import ProcessRunner
from zepix_core.health.monitor import Monitor
from zepix_core.health.resources import ResourceSample
from zepix_core.health.rules import Breach, Verdict
from zepix_core.health.watched import snapshot
from zepix_core.loading.config import PluginConfig
from zepix_core.loading.discovery import EntryRecord
from zepix_core.storage.repos import SupervisorRepo
from zepix_core.supervision.breakers import WorkAndBreakers, _pending
from zepix_core.supervision.guard import RestartRecord, SupervisionLimits, new_breaker, new_guard
from zepix_core.supervision.loopthread import LoopThread
from zepix_core.supervision.operator import RestartRequests, config_fingerprint

log = logging.getLogger("zepix.supervisor")

#: Longest wait between two looks at crash reports while worker processes run.
TICK = 0.05
MB = 2**20
_UP = (HealthStatus.HEALTHY, HealthStatus.DEGRADED)


class Supervisor(WorkAndBreakers):
    """Restarts, gives up and circuit-breaks for one host; the host calls ``admits`` at
    start, ``admits_work`` per bar, ``after_round`` after each round and ``service``
    between rounds (when ``next_due``)."""

    def __init__(self, ports: PortsOf[SupervisorRepo], monitor: Monitor,
                 rand: Callable[[], float] = random.random,
                 loop: LoopThread | None = None) -> None:
        self.ports = ports
        self.monitor = monitor
        self.rand = rand
        self.guards: dict[str, RestartRecord] = {}
        self._lock = threading.Lock()  # guards' fields: crashes arrive on watcher threads
        #: The loop lock and the alerts held while it is taken; the host's scheduler
        #: (``host.loop``) owns it and hands it in.
        self.loop = loop or LoopThread(self._raise)
        self._stopping = False
        self.operator = RestartRequests(self)
        for plugin_id in ("", *ports.config.plugins):
            limits = SupervisionLimits.of(ports.config, plugin_id)  # stops the start, not a later restart
            if (plugin_id and limits.memory_limit_mb is not None
                    and ports.config.plugin(plugin_id).isolation != "process"):
                log.warning("memory limit applies only in a worker: set isolation = "
                            "\"process\" (versions from the plugin store always run in one)",
                            extra=fields(plugin=plugin_id))

    def guard(self, plugin_id: str) -> RestartRecord:
        with self._lock:
            guard = self.guards.get(plugin_id)
            if guard is None:
                guard = new_guard(self.ports.config, plugin_id, self.ports.clocks.monotonic,
                                  self.rand, lambda t: self._transition(plugin_id, t))
                self.guards[plugin_id] = guard
            return guard

    def admits(self, slot: PluginSlot) -> bool:
        """Whether startup may activate ``slot`` (see ``RestartRequests.admits``)."""
        return self.operator.admits(slot)

    # -- worker processes ----------------------------------------------------
    def process_runner(self, record: EntryRecord, config: PluginConfig) -> Runner:
        """``RunnerFactory`` for ``isolation = "process"`` (see ``spawn``)."""
        return self.spawn(record)

    def spawn(self, record: EntryRecord, extra_paths: Sequence[str] = ()) -> ProcessRunner:
        """Every worker the host starts, for an environment or a store version: stopped
        with the plugin's ``stop_grace``, and an exit nobody asked for is reported to
        ``crashed``, so crash handling does not depend on where the plugin came from."""
        return ProcessRunner(
            record, extra_paths, grace=self.guard(record.plugin_id).limits.stop_grace,
            on_exit=self.exited, max_frame=self.ports.config.plugin(record.plugin_id).max_frame)

    def exited(self, runner: ProcessRunner, code: int | None, sig: int | None) -> None:
        """``on_exit`` of every worker ``spawn`` made: the runner passes itself."""
        self.crashed(runner.plugin_id, runner, code, sig)

    def crashed(self, plugin_id: str, runner: ProcessRunner, code: int | None,
                sig: int | None) -> None:
        """A worker exited by itself (its watcher thread): DEAD, recorded with its exit
        code or signal, alerted, and a restart scheduled, within milliseconds."""
        slot = self.ports.plugins.get(plugin_id)
        if (self._stopping or not self.ports.plugins.running or slot is None
                or slot.runner is not runner):
            log.info("exit ignored (not the running instance)",
                     extra=fields(plugin=plugin_id, code=code, signal=sig))
            return
        how = f"exited with code {code}" if sig is None else f"was killed by {_signame(sig)}"
        if runner.kill_reason:  # the host killed it: protocol broken
            how = f"{how} ({runner.kill_reason})"
        cause = f"crash: worker pid {runner.pid} {how}"
        decision = self._fail(slot, cause)
        # The alert first: the round's own DEAD verdict shares its fingerprint, and the
        # first to fire sets the message operators see.
        self.loop.alert(plugin_id, "liveness", AlertLevel.CRITICAL, f"worker {how}; {decision}")
        self._mark_dead(slot, cause)
        self.event(plugin_id, "crashed", f"worker pid {runner.pid} {how}; {decision}")
        log.warning("crash", extra=fields(plugin=plugin_id, pid=runner.pid, code=code,
                                          signal=sig, decision=decision))

    def _mark_dead(self, slot: PluginSlot, cause: str) -> None:
        """Write a DEAD snapshot now rather than at the next round."""
        watched = self.monitor.watched.get(slot.plugin_id)
        if watched is None:
            return
        now = self.ports.clocks.wall()
        verdict = Verdict(HealthStatus.DEAD, (Breach("dead", HealthStatus.DEAD, cause),))
        gone = ResourceSample(slot.runner.pid or 0 if slot.runner else 0, False, None, None, None, None,
                              "process", cause)
        record = {**snapshot(watched, verdict, gone, now), **self.snapshot_fields(slot.plugin_id)}
        self.ports.store.save_snapshots(now, [record])

    # -- decisions -------------------------------------------------------------
    def _fail(self, slot: PluginSlot, cause: str) -> str:
        """Ask the policy about one failure of ``slot`` (any thread); returns the decision
        in words."""
        guard = self.guard(slot.plugin_id)
        now = self.ports.clocks.monotonic()
        with self._lock:
            guard.cause, guard.instance = cause, slot
            guard.hung_since, guard.over_limit, guard.dead_rounds = None, 0, 0
            decision = guard.policy.on_failure(now)
            if decision.restart:
                guard.due, guard.attempt = now + decision.delay, decision.attempt
                return decision.reason
            guard.due, guard.gave_up = None, decision.reason
            return f"no restart: {decision.reason}"

    @hookimpl
    def after_round(self) -> None:
        """After each monitoring round: act on the verdicts, apply operator requests, then
        restart or give up what is due."""
        now = self.ports.clocks.monotonic()
        for slot in self.ports.plugins.active():
            self._judge(slot, now)
        self.operator.apply_requests()
        self.service()

    def _judge(self, slot: PluginSlot, now: float) -> None:
        guard = self.guard(slot.plugin_id)
        watched = self.monitor.watched.get(slot.plugin_id)
        if watched is None or _pending(guard, slot) or guard.gave_up is not None:
            return
        health = watched.health
        if health.status is HealthStatus.HUNG:
            guard.hung_since = now if guard.hung_since is None else guard.hung_since
            held = now - guard.hung_since
            if held >= guard.limits.hung_grace:
                why = next((b.message for b in health.reasons if b.kind == "hung"), "no answer")
                self._stop(slot, f"hung: {why}; HUNG for {held:.0f}s", "hung")
            return
        guard.hung_since = None
        if health.status is HealthStatus.STALE and guard.limits.restart_on_stale is not None:
            guard.stale_since = now if guard.stale_since is None else guard.stale_since
            held = now - guard.stale_since
            if held >= guard.limits.restart_on_stale:
                why = next((b.message for b in health.reasons if b.kind == "stale"),
                           "no activity")
                guard.stale_since = None
                self._stop(slot, f"stale: {why}; STALE for {held:.0f}s", "stale")
            return
        guard.stale_since = None
        if health.status is HealthStatus.DEAD:
            # A worker's exit arrives through ``crashed`` within milliseconds; DEAD in two
            # rounds with no report is a runner that reports nothing.
            guard.dead_rounds += 1
            if guard.dead_rounds >= 2:
                self._stop(slot, f"dead: {'; '.join(b.message for b in health.reasons)}",
                           "dead")
            return
        guard.dead_rounds = 0
        over = self._over_memory(slot, guard)
        if over is not None:
            self.loop.alert(slot.plugin_id, "memory_limit", AlertLevel.HIGH, over)
            self._stop(slot, over, "memory_limit")
        elif health.status in _UP:
            with self._lock:
                ended = guard.policy.observe_healthy(now)
            if ended:
                self.event(slot.plugin_id, "stable", f"up for {guard.limits.stable_after:g}s; "
                           "the next failure starts a new incident")

    def _over_memory(self, slot: PluginSlot, guard: RestartRecord) -> str | None:
        limit, pid = guard.limits.memory_limit_mb, slot.runner.pid if slot.runner else None
        if limit is None or pid is None:
            return None  # in process the host's memory is everybody's: no limit can act
        rss = _rss(pid)
        if rss is None or rss <= limit * MB:
            guard.over_limit = 0
            return None
        guard.over_limit += 1
        if guard.over_limit < guard.limits.memory_samples:
            return None
        return (f"memory limit: RSS {rss / MB:.0f} MiB above {limit:g} MiB in "
                f"{guard.over_limit} rounds in a row")

    def _stop(self, slot: PluginSlot, cause: str, kind: str) -> None:
        """Count a failure and stop the plugin now; the restart follows when due. A worker
        is killed (SIGTERM, grace, SIGKILL); in process the stuck call is abandoned when
        the fresh instance is loaded."""
        decision = self._fail(slot, cause)
        self.event(slot.plugin_id, kind, f"{cause}; {decision}")
        log.warning("stopping", extra=fields(plugin=slot.plugin_id, cause=cause,
                                             decision=decision))
        if isinstance(slot.runner, ProcessRunner):
            slot.runner.kill()

    # -- the loop thread -------------------------------------------------------
    def service(self) -> None:
        """Deliver alerts held back while the loop was busy; give up or restart what is due."""
        self.flush()
        if self._stopping:
            return
        now = self.ports.clocks.monotonic()
        for plugin_id, guard in list(self.guards.items()):
            if guard.gave_up is not None and not guard.down:
                self._give_up(plugin_id, guard)
            elif guard.due is not None and guard.due <= now:
                self._restart(plugin_id, guard)

    def _restart(self, plugin_id: str, guard: RestartRecord) -> None:
        with self._lock:
            attempt, cause, failed, guard.due = guard.attempt, guard.cause, guard.instance, None
        if self.ports.plugins.get(plugin_id) is not failed:
            # Another owner (a version rollback) replaced the failed instance meanwhile;
            # its outcome stands, whether the replacement activated or not.
            log.info("restart cancelled: the instance that failed was replaced",
                     extra=fields(plugin=plugin_id, attempt=attempt))
            return
        reason = f"restart {attempt} of {guard.limits.max_restarts} after {cause}"
        self.event(plugin_id, "restart", reason)
        slot = self.ports.plugins.reload(plugin_id, reason)  # a fresh instance: ``started``
        if slot.state is PluginState.ACTIVE:
            log.info("restarted", extra=fields(plugin=plugin_id, attempt=attempt))
            return
        decision = self._fail(slot, f"restart failed: {slot.reason}")
        self.event(plugin_id, "restart_failed", f"{slot.reason}; {decision}")

    def started(self, plugin_id: str) -> None:
        """A fresh instance runs, whoever loaded it: its stable period starts, with a
        closed breaker, and a restart still due for the instance it replaced is off."""
        guard = self.guard(plugin_id)
        with self._lock:
            if guard.due is not None:
                log.info("restart cancelled: a fresh instance runs",
                         extra=fields(plugin=plugin_id, attempt=guard.attempt))
            guard.due = None
            guard.policy.on_started(self.ports.clocks.monotonic())
            guard.hung_since, guard.over_limit, guard.dead_rounds = None, 0, 0
        guard.breaker = new_breaker(guard.limits, self.ports.clocks.monotonic,
                                    lambda t: self._transition(plugin_id, t))

    def forgive(self, plugin_id: str, request_id: int, actor: str) -> None:
        """Forget every failure of the plugin: an operator brought it back."""
        guard = self.guard(plugin_id)
        with self._lock:
            guard.policy.reset()
            guard.due, guard.gave_up, guard.down = None, None, False
            guard.hung_since, guard.over_limit, guard.cause = None, 0, ""
        self.loop.alert(plugin_id, "gave_up", AlertLevel.CRITICAL, f"restarted by {actor}",
                    firing=False)
        self.event(plugin_id, "operator_restart", f"request {request_id}: restart",
                   actor=actor)

    def keep_down(self, plugin_id: str, why: str) -> None:
        """A previous host gave up on the plugin and nothing changed since."""
        guard = self.guard(plugin_id)
        guard.gave_up, guard.down = why, True

    def _give_up(self, plugin_id: str, guard: RestartRecord) -> None:
        """FAILED with the reason and a CRITICAL alert; down until an operator restarts it
        or its config changes (``admits`` at the next start)."""
        guard.down = True
        slot = self.ports.plugins.get(plugin_id)
        if slot is None:
            return
        why = guard.gave_up or ""
        reason = (f"{why if why.startswith('gave up') else f'gave up: {why}'}; "
                  f"last failure: {guard.cause}")
        until = f"down until `zepix restart {plugin_id}` or a change of its config"
        self._mark_dead(slot, f"FAILED: {reason}; {until}")
        slot.fail(PluginState.FAILED, f"{reason}; {until}")
        if slot.activation_id is not None:
            self.ports.plugins.deactivate(slot, reason, PluginState.FAILED)
        else:
            slot.release()
            self._save(slot)
        self.event(plugin_id, "gave_up",
                   f"{reason} [config {config_fingerprint(slot.config.table)}]")
        self.loop.alert(plugin_id, "gave_up", AlertLevel.CRITICAL, f"{reason}; FAILED, {until}")
        log.error("gave up", extra=fields(plugin=plugin_id, reason=reason))

    def next_due(self, now: float) -> float | None:
        """When ``service`` has work next (the host's scheduler waits at most that
        long): the earliest restart due, or ``TICK`` from ``now`` while workers run
        (a crash may schedule a restart sooner); None when nothing is pending."""
        due = [g.due for g in list(self.guards.values()) if g.due is not None]
        if self._workers():
            due.append(now + TICK)
        return min(due) if due else None

    def _workers(self) -> bool:
        """Whether an active plugin runs in a worker, alive or not: a worker that has
        exited stays ACTIVE until its watcher has reported the exit (``crashed``), and
        the wait must not sleep through the restart that report schedules."""
        return any(isinstance(s.runner, ProcessRunner) for s in self.ports.plugins.active())

    def flush(self) -> None:
        """Raise the alerts held back while the loop thread was busy (loop thread)."""
        self.loop.flush()

    def stop(self) -> None:
        """The host shuts down: no more restarts; exits of its workers are expected."""
        self._stopping = True

    # -- records ---------------------------------------------------------------
    def event(self, plugin_id: str, kind: str, detail: str, actor: str = "host") -> None:
        slot = self.ports.plugins.get(plugin_id)
        self.ports.store.record_event(plugin_id, kind, detail, self.ports.clocks.wall(),
                                     version=slot.version if slot else None, actor=actor)

    def _save(self, slot: PluginSlot) -> None:
        self.ports.plugins.save_status(slot)

    def _raise(self, plugin_id: str, kind: str, level: AlertLevel, message: str,
               firing: bool) -> None:
        self.monitor.alerting.raise_event(plugin_id, kind, level, message, firing)


def _rss(pid: int) -> int | None:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
