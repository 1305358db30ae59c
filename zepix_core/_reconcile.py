"""The host's side of version management: what runs, probation, automatic rollback.

``HostVersions`` is the host's ``versions``. At discovery it picks each
plugin's version among the environment and the store (the desired version
first, ``_versions.choose``) and has store versions built in workers. After
every monitoring round, ``reconcile`` advances probations with that round's
verdicts, runs the canaries' round, applies the upgrade, rollback and
promote requests the command line recorded, and warns about active
deprecated versions. Only the plugin a request names is touched.

The gate: a version that never passed it must pass ``self_test`` and stay
HEALTHY, with its circuit breaker closed, through ``probation_rounds``
monitoring rounds. Any other status, a failed self-test, an open breaker, or
the plugin leaving ACTIVE fails it: the host returns to the version that ran
before (unless that is deprecated, then to the last known good one), records
why with the actor ``gate``, and raises a HIGH alert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.version import Version

from ._canary import Canaries
from ._config import STORE_DEFAULTS, Config, PluginConfig
from ._discovery import EntryRecord, LoadFailure
from ._dispatch import Intent
from ._errors import PluginError
from ._hookspecs import DEFAULT_DEADLINES
from ._lifecycle import PluginSlot, RunnerFactory
from ._model import AlertLevel, HealthStatus, PluginState
from ._paths import store_dir
from ._pluginstore import PluginStore, declared_meta, store_runner
from ._resolution import Candidate, PluginMeta, parse_meta
from ._runner import CallResult, Runner, call
from ._storage import Row
from ._versions import (
    MOVES,
    VersionFacts,
    admission_problem,
    find,
    gather,
    last_known_good,
    select,
    skipped_below,
)
from ._worker import ProcessRunner

if TYPE_CHECKING:
    from ._host import Host

log = logging.getLogger("zepix.versions")
GATE = "gate"

@dataclass(frozen=True)
class StoreSettings:
    """The ``[store]`` settings (validated with the config, ``_config.STORE_DEFAULTS``)."""

    probation_rounds: int
    canary_p95_ratio: float
    canary_p95_floor_ms: float

    @classmethod
    def from_config(cls, config: Config) -> StoreSettings:
        return cls(**{**STORE_DEFAULTS, **config.sections.get("store", {})})


@dataclass
class Probation:
    """A version on probation, judged on one activation (``activation``).

    ``quiet``: the version started as it did before, nobody asked for a change.
    It earns its gate after ``rounds`` healthy rounds in a row, counted from the
    monitor's round ``base``, without events, alerts or rollback: there is
    nothing to roll back to, and the monitor already alerts on its health.
    """

    plugin_id: str
    version: str
    previous: str | None
    rounds: int
    activation: int | None
    quiet: bool = False
    rounds_ok: int = 0
    base: int = 0


def same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and Version(a) == Version(b)


class HostVersions:
    """Version management inside a running host (see the module docstring)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings = StoreSettings.from_config(host.config)
        self.plugins = PluginStore(store_dir(), clock=host.clocks.wall)
        self.env: dict[str, EntryRecord] = {}
        self.probations: dict[str, Probation] = {}
        self.seen_desired: dict[str, Row] = {}  # as discovery saw them
        self.canaries = Canaries(host, self.settings, self.lookup, self.factory_for, self.admit)
        self.adopted = False

    # -- discovery ---------------------------------------------------------
    def select(self, records: list[EntryRecord]) -> list[EntryRecord]:
        """Discovery's environment records, each plugin's version chosen among them
        and the store."""
        self.env = {r.plugin_id: r for r in records if r.state is PluginState.DISCOVERED}
        stored: dict[str, dict[str, EntryRecord]] = {}
        for version in self.plugins.versions():
            for rec in version.records:
                stored.setdefault(rec.plugin_id, {})[rec.dist_version] = rec
        db = self.host.store
        self.seen_desired = db.desired_versions()
        return select(records, stored, db.all_versions(), self.seen_desired)

    def in_store(self, record: EntryRecord) -> bool:
        return self.plugins.holds(record)

    def factory_for(self, record: EntryRecord) -> RunnerFactory:
        """Store versions and canaries always run in a worker of their own."""
        if self.plugins.holds(record):
            return self.host.factories.get("store", self.store_runner)
        return self.host.factories["process"]

    def store_runner(self, record: EntryRecord, config: PluginConfig) -> Runner:
        """A store version's worker; an exit nobody asked for is a crash the
        supervisor handles, as for any worker."""
        supervisor = self.host.supervisor
        box: list[ProcessRunner] = []
        runner = store_runner(
            record, config, grace=supervisor.guard(record.plugin_id).limits.stop_grace,
            on_exit=lambda code, sig: supervisor.crashed(record.plugin_id, box, code, sig))
        box.append(runner)
        return runner

    def installed(self, plugin_id: str) -> dict[str, EntryRecord]:
        env = self.env.get(plugin_id)
        return {**self.plugins.records(plugin_id), **({env.dist_version: env} if env else {})}

    def lookup(self, plugin_id: str, version: str) -> EntryRecord | None:
        return next((r for v, r in self.installed(plugin_id).items() if same(v, version)), None)

    def admit(self, plugin_id: str, record: EntryRecord, meta: PluginMeta) -> str | None:
        """Why ``record`` with ``meta`` cannot join the active plugins, or None."""
        others = {s.plugin_id: Candidate(s.plugin_id, Version(s.version), s.meta)
                  for s in self.host.active() if s.meta is not None and s.plugin_id != plugin_id}
        policies = {pid: self.host.config.plugin(pid).policy() for pid in [*others, plugin_id]}
        return admission_problem(plugin_id, record.dist_version, meta, others,
                                 self.host.api_version, policies)

    # -- work, relayed to the canaries -------------------------------------
    def shadow_runners(self) -> list[Runner]:
        return self.canaries.runners()

    def on_work(self, result: CallResult, problem: str | None) -> None:
        self.canaries.on_work(result, problem)

    def on_intents(self, intents: Sequence[Intent]) -> None:
        self.canaries.on_intents(intents)

    # -- the round ---------------------------------------------------------
    def reconcile(self) -> None:
        """Called by the host after each monitoring round."""
        if not self.adopted:
            self.adopted = True
            self._adopt()
        self._advance()
        self.canaries.round()
        self._apply_moves()
        self._warn_deprecated()

    def close(self) -> None:
        self.canaries.close()

    def _adopt(self) -> None:
        """Record what the host started as desired, and put every version that
        never passed its gate on probation. A desired version recorded since
        discovery read them is a request, applied as such."""
        db, now = self.host.store, self.host.clocks.wall()
        saved, rows = db.probations(), db.all_versions()
        for slot in list(self.host.slots.values()):
            pid, wish = slot.plugin_id, self.seen_desired.get(slot.plugin_id)
            wanted = wish["version"] if wish else None
            wished = same(wanted, slot.version)
            if slot.state is PluginState.ACTIVE and not wished:
                why = f"startup: running {slot.version}" + (
                    f"; the desired {wanted} is deprecated or not installed" if wish else "")
                db.set_desired_if(pid, slot.version, wanted, "startup", why, now, expect=wanted)
                if wish:
                    db.record_event(pid, "desired_replaced", why, now, slot.version, "startup")
            gated = rows.get(pid, {}).get(slot.version, {}).get("gate_passed")
            if gated or not (slot.state is PluginState.ACTIVE or wished):
                continue
            kept = saved.get(pid)
            if kept and same(kept["version"], slot.version):  # a host stopped mid-probation
                self._begin(slot, kept["previous"])
            elif wish and wished and wish["previous"] and wish["actor"] not in ("startup", GATE):
                self._begin(slot, wish["previous"])  # a change asked for while no host ran
            else:
                self._begin(slot, None, quiet=True)

    # -- probation ---------------------------------------------------------
    def _begin(self, slot: PluginSlot, previous: str | None, quiet: bool = False) -> Probation:
        p = Probation(slot.plugin_id, slot.version, previous, self.settings.probation_rounds,
                      slot.activation_id, quiet)
        self.probations[p.plugin_id] = p
        if quiet:
            return p
        now = self.host.clocks.wall()
        self.host.store.save_probation(p.plugin_id, p.version, previous, p.rounds, 0, now)
        self.host.store.record_event(
            p.plugin_id, "probation_started", f"{p.version} on probation for {p.rounds} "
            f"round(s)" + (f"; falls back to {previous}" if previous else ""), now, p.version,
            GATE)
        return p

    def _advance(self) -> None:
        for p in list(self.probations.values()):
            slot = self.host.slots.get(p.plugin_id)
            if slot is None or slot.version != p.version:
                del self.probations[p.plugin_id]
                self.host.store.end_probation(p.plugin_id, p.version, None)
                continue
            watched = self.host.monitor.watched.get(p.plugin_id)
            trouble = self._trouble(slot, p)
            if trouble is not None and p.quiet:  # start counting again
                p.activation, p.rounds_ok = slot.activation_id, 0
                p.base = watched.rounds if watched else 0
                continue
            if trouble is not None:
                self._fail(p, trouble)
                continue
            rounds = min(watched.rounds - p.base, p.rounds) if watched else 0
            if rounds > p.rounds_ok:
                p.rounds_ok = rounds
                if not p.quiet:
                    self.host.store.save_probation(p.plugin_id, p.version, p.previous,
                                                   p.rounds, rounds, self.host.clocks.wall())
            if watched and rounds >= p.rounds and watched.health.self_test_passed:
                self._pass(p)

    def _trouble(self, slot: PluginSlot, p: Probation) -> str | None:
        """What fails the gate this round, or None."""
        if slot.state is not PluginState.ACTIVE:
            return f"it is {slot.state.value}: {slot.reason}"
        if slot.activation_id != p.activation:
            return "it was restarted during its probation (see 'zepix history --events')"
        watched = self.host.monitor.watched.get(slot.plugin_id)
        if watched is None or watched.rounds == 0:
            return None  # activated after this round's checks: judged next round
        health = watched.health
        if health.self_test_passed is False:
            return "self_test failed"
        breaker = self.host.supervisor.snapshot_fields(slot.plugin_id).get("breaker")
        if breaker not in (None, "CLOSED"):  # bars stopped reaching it: its errors stop too
            return f"its circuit breaker is {breaker} after failed on_bar calls"
        if health.status is not HealthStatus.HEALTHY:
            return f"{health.status.value}: " + "; ".join(b.message for b in health.reasons)
        return None

    def _pass(self, p: Probation) -> None:
        del self.probations[p.plugin_id]
        self.host.store.end_probation(p.plugin_id, p.version, True)
        if p.quiet:
            log.info("gate passed plugin=%s version=%s (as started)", p.plugin_id, p.version)
            return
        message = f"{p.plugin_id} {p.version} passed its gate ({p.rounds} healthy rounds)"
        self.host.store.record_event(p.plugin_id, "gate_passed", message,
                                     self.host.clocks.wall(), p.version, GATE)
        self.host.monitor.alerting.raise_event(p.plugin_id, "version_gate", AlertLevel.INFO,
                                               message, firing=False)
        log.info("gate passed plugin=%s version=%s", p.plugin_id, p.version)

    def _fail(self, p: Probation, why: str) -> None:
        pid, db, now = p.plugin_id, self.host.store, self.host.clocks.wall()
        del self.probations[pid]
        db.end_probation(pid, p.version, False)
        message = (f"{pid} {p.version} failed its gate after {p.rounds_ok}/{p.rounds} "
                   f"healthy round(s): {why}")
        db.record_event(pid, "gate_failed", message, now, p.version, GATE)
        log.warning("gate failed plugin=%s version=%s why=%s", pid, p.version, why)
        facts = gather(self.installed(pid), db.all_versions().get(pid, {}))
        target = self._fallback(facts, p)
        alerting = self.host.monitor.alerting
        if target is None or target.record is None:
            skipped = "; ".join(skipped_below(facts, p.version)) or "no earlier version"
            alerting.raise_event(pid, "version_gate", AlertLevel.CRITICAL,
                                 f"{message}; no version to roll back to ({skipped})")
            return
        reason = f"gate: {message}; rollback to {target.version}"
        if not db.set_desired_if(pid, target.version, p.version, GATE, reason, now,
                                 expect=p.version):
            db.record_event(pid, "rollback_skipped", f"{message}; a newer request decides "
                            "what runs next", now, p.version, GATE)
            return
        slot = self._move(pid, target.record, reason)
        tail = "" if slot.state is PluginState.ACTIVE else (
            f"; {target.version} is {slot.state.value}: {slot.reason}")
        alerting.raise_event(pid, "version_gate", AlertLevel.HIGH, reason + tail)
        if slot.state is PluginState.ACTIVE and not target.gate_passed:
            self._begin(slot, None)

    @staticmethod
    def _fallback(facts: Sequence[VersionFacts], p: Probation) -> VersionFacts | None:
        previous = find(facts, p.previous)
        if (previous is not None and previous.record is not None and not previous.deprecated
                and not same(previous.version, p.version)):
            return previous
        return last_known_good(facts, p.version)

    # -- requests ----------------------------------------------------------
    def _apply_moves(self) -> None:
        db = self.host.store
        groups: dict[str, list[Row]] = {}
        for request in db.pending_requests():  # read before the desired versions: see below
            if request["action"] in MOVES:
                groups.setdefault(request["plugin_id"], []).append(request)
        if not groups:
            return
        # A request recorded after this read finds its desired version applied next round.
        desired = db.desired_versions()
        for pid, requests in groups.items():
            last = requests[-1]
            for request in requests[:-1]:
                db.finish_request(int(request["id"]), self.host.clocks.wall(),
                                  f"superseded by request {last['id']}")
            outcome = self._move_to_desired(pid, desired.get(pid))
            db.finish_request(int(last["id"]), self.host.clocks.wall(), outcome)
            log.info("request applied plugin=%s id=%s outcome=%s", pid, last["id"], outcome)

    def _move_to_desired(self, pid: str, wish: Row | None) -> str:
        if wish is None:
            return "nothing to do: no desired version is recorded"
        version = str(wish["version"])
        slot = self.host.slots.get(pid)
        running = slot.version if slot and slot.state is PluginState.ACTIVE else None
        if same(running, version):
            return f"{pid} {version} is running"
        record = self.lookup(pid, version)
        problem = "is not installed" if record is None else self._precheck(pid, record)
        if problem is not None or record is None:
            return self._refuse(pid, version, running, problem or "is not installed")
        reason = f"{wish['actor']}: {wish['reason']} (request {wish['request_id']})"
        new = self._move(pid, record, reason)
        gated = self.host.store.all_versions().get(pid, {}).get(version, {}).get("gate_passed")
        if new.state is PluginState.ACTIVE and gated:
            return f"applied: {version} is active (it passed its gate before)"
        p = self._begin(new, running)
        if new.state is PluginState.ACTIVE:
            return f"applied: {version} is active, on probation for {p.rounds} round(s)"
        self._fail(p, f"it is {new.state.value}: {new.reason}")
        after = self.host.slots[pid]
        return (f"failed: {version} is {new.state.value} ({new.reason}); now {after.version} "
                f"is {after.state.value}")

    def _refuse(self, pid: str, version: str, running: str | None, problem: str) -> str:
        db, now = self.host.store, self.host.clocks.wall()
        why = f"refused {version}: it {problem}"
        if running is not None:
            db.set_desired_if(pid, running, version, "host", why, now, expect=version)
        db.record_event(pid, "request_refused", why, now, version, "host")
        return f"{why}; " + (f"{running} keeps running" if running else "nothing runs")

    def _precheck(self, pid: str, record: EntryRecord) -> str | None:
        """Declared requirements (no code runs); without a declaration, the
        answer of ``plugin_version`` in a throwaway worker, before the running
        version is touched."""
        try:
            meta = declared_meta(record) or self._preflight(record)
        except PluginError as exc:
            return str(exc)
        return self.admit(pid, record, meta)

    def _preflight(self, record: EntryRecord) -> PluginMeta:
        config = self.host.config.plugin(record.plugin_id)
        try:
            runner = self.factory_for(record)(record, config)
        except LoadFailure as exc:
            raise PluginError(f"cannot load: {exc.cause}") from None
        try:
            answer = call(runner, "plugin_version", DEFAULT_DEADLINES["plugin_version"], {},
                          self.host.clocks.monotonic)
        finally:
            runner.close(0.5)
        if not answer.ok:
            raise PluginError(f"plugin_version failed: {answer.error}")
        return parse_meta(answer.value)

    def _move(self, pid: str, record: EntryRecord, reason: str) -> PluginSlot:
        if pid not in self.host.slots:  # installed while the host runs: nothing to stop
            self.host.slots[pid] = PluginSlot(record=record, config=self.host.config.plugin(pid),
                                              state=PluginState.INACTIVE)
        slot = self.host.reload(pid, reason, record)
        if slot.state is PluginState.ACTIVE:
            # Another version is a fresh instance: its breaker starts closed and its
            # restart budget full, as after the supervisor's own restarts.
            self.host.supervisor.started(pid)
        return slot

    def _warn_deprecated(self) -> None:
        rows = self.host.store.all_versions()
        for slot in self.host.active():
            deprecated = bool(rows.get(slot.plugin_id, {}).get(slot.version, {}).get("deprecated"))
            self.host.monitor.alerting.raise_event(
                slot.plugin_id, "deprecated_version", AlertLevel.WARNING,
                f"{slot.plugin_id} runs {slot.version}, which is deprecated; move off it with "
                f"'zepix rollback {slot.plugin_id}' or 'zepix upgrade'", firing=deprecated)
