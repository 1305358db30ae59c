"""The host's side of version management: which version runs, and the requests that
change it.

``HostVersions`` is the host's ``versions``. At discovery it picks each
plugin's version among the environment and the store (the desired version
first, ``_versions.choose``) and has store versions built in workers. After
every monitoring round, ``reconcile`` advances probations with that round's
verdicts, runs the canaries' round, applies the upgrade, rollback and
promote requests the command line recorded, and warns about active
deprecated versions. Only the plugin a request names is touched.

The probation gate and its automatic rollback are ``_gate``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from packaging.version import Version

from zepix_core.contract.errors import PluginError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES, hookimpl
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel, BreakerState, Intent, PluginState
from zepix_core.execution.lifecycle import PluginSlot, RunnerFactory
from zepix_core.execution.ports import PortsOf
from zepix_core.execution.runner import CallResult, Runner, call
from zepix_core.health.monitor import Monitor
from zepix_core.loading.config import PluginConfig
from zepix_core.loading.discovery import EntryRecord, LoadFailure
from zepix_core.loading.paths import store_dir
from zepix_core.loading.resolution import Candidate, PluginMeta, parse_meta
from zepix_core.storage import DesiredRow, RequestRow
from zepix_core.storage.repos import VersionsRepo
from zepix_core.versions.canary import Canaries
from zepix_core.versions.gate import GATE, Gate
from zepix_core.versions.origin import copies
from zepix_core.versions.policy import MOVES, StoreSettings
from zepix_core.versions.release import from_distribution, from_meta, merged
from zepix_core.versions.rules import admission_problem, same, select
from zepix_core.versions.store import PluginStore, declared_meta, store_paths

log = logging.getLogger("zepix.versions")
#: Start a worker for ``record`` with ``extra_paths`` on its import path (the supervisor's).
Spawn = Callable[[EntryRecord, Sequence[str]], Runner]
#: The log event of an applied request, by its action.
MOVED = {"upgrade": "plugin upgraded", "rollback": "plugin rolled back",
         "canary_promote": "canary promoted"}


class HostVersions:
    """Version management inside a running host (see the module docstring)."""

    def __init__(self, ports: PortsOf[VersionsRepo], monitor: Monitor, *,
                 factories: Mapping[str, RunnerFactory], spawn: Spawn,
                 breaker: Callable[[str], BreakerState]) -> None:
        self.ports = ports
        self.monitor = monitor
        self.factories = factories
        self.spawn = spawn
        self.settings = StoreSettings.from_config(ports.config)
        self.plugins = PluginStore(store_dir(ports.store.path), clock=ports.clocks.wall)
        self.env: dict[str, EntryRecord] = {}
        self.seen_desired: dict[str, DesiredRow] = {}  # as discovery saw them
        self.canaries = Canaries(ports, monitor, self.settings, self.lookup, self.factory_for,
                                 self.admit)
        self.gate = Gate(ports, monitor, breaker, self.settings.probation_rounds, self.installed,
                         self._move)
        self.adopted = False

    # -- discovery ---------------------------------------------------------
    def select(self, records: list[EntryRecord]) -> list[EntryRecord]:
        """Discovery's environment records, each plugin's version chosen among them
        and the store."""
        self.plugins.clean_staging()  # left by an install that was killed
        self.env = {r.plugin_id: r for r in records if r.state is PluginState.DISCOVERED}
        stored: dict[str, dict[str, EntryRecord]] = {}
        for version in self.plugins.versions():
            for rec in version.records:
                stored.setdefault(rec.plugin_id, {})[rec.dist_version] = rec
        db = self.ports.store
        self.seen_desired = db.desired_versions()
        pins = {pid: self.ports.config.plugin(pid).version for pid in {*stored, *self.env}}
        return select(records, stored, db.all_versions(), self.seen_desired, pins)

    def in_store(self, record: EntryRecord) -> bool:
        return self.plugins.holds(record)

    def factory_for(self, record: EntryRecord) -> RunnerFactory:
        """Store versions and canaries always run in a worker of their own."""
        if self.plugins.holds(record):
            return self.factories.get("store", self.store_runner)
        return self.factories["process"]

    def store_runner(self, record: EntryRecord, config: PluginConfig) -> Runner:
        """A store version's worker, started by the supervisor like any other, once
        its files are still those that were installed."""
        changed = self.integrity_problem(record)
        if changed is not None:
            self.monitor.alerting.raise_event(
                record.plugin_id, "store_integrity", AlertLevel.CRITICAL,
                f"{record.distribution} {record.dist_version} not loaded: {changed}")
            raise LoadFailure(record, PluginState.FAILED, changed)
        return self.spawn(record, store_paths(record))

    def integrity_problem(self, record: EntryRecord) -> str | None:
        """Why the store copy of ``record`` may not run: its files hash to other than
        the digest this database recorded when it was installed, or None."""
        db, key = self.ports.store, self.plugins.key(record)
        expected = db.store_digest(key)
        if expected is None:  # installed before the database kept digests
            expected = self.plugins.legacy_digest(record)
            if expected is None:
                return (f"no digest of {key} was recorded when it was installed, and its "
                        "files do not match its install marker; install it again with "
                        "'zepix install SOURCE --reinstall'")
            db.record_store_digest(key, expected, self.ports.clocks.wall())
        return self.plugins.verify(record, expected)

    def record_release(self, slot: PluginSlot) -> None:
        """Keep what the version ``slot`` runs says about itself (``release``): its
        ``plugin_version`` reply first, then its distribution's files."""
        release = merged(from_meta(slot.meta), from_distribution(slot.record))
        self.ports.store.record_release(slot.plugin_id, slot.version, release)

    def installed(self, plugin_id: str) -> dict[str, EntryRecord]:
        return copies(self.plugins.records(plugin_id), self.env.get(plugin_id))

    def lookup(self, plugin_id: str, version: str) -> EntryRecord | None:
        return next((r for v, r in self.installed(plugin_id).items() if same(v, version)), None)

    def admit(self, plugin_id: str, record: EntryRecord, meta: PluginMeta) -> str | None:
        """Why ``record`` with ``meta`` cannot join the active plugins, or None."""
        others = {s.plugin_id: Candidate(s.plugin_id, Version(s.version), s.meta)
                  for s in self.ports.plugins.active() if s.meta is not None and s.plugin_id != plugin_id}
        policies = {pid: self.ports.config.plugin(pid).policy() for pid in [*others, plugin_id]}
        return admission_problem(plugin_id, record.dist_version, meta, others,
                                 self.ports.api_version, policies)

    # -- work, relayed to the canaries -------------------------------------
    def shadow_runners(self) -> list[Runner]:
        return self.canaries.runners()

    @hookimpl
    def on_work(self, result: CallResult, problem: str | None) -> None:
        self.canaries.on_work(result, problem)

    @hookimpl
    def on_answers(self, plugin_id: str, durations: Sequence[float]) -> None:
        if self.canaries.runs:  # the active arm of a canary compares every call
            for took in durations:
                self.canaries.on_work(CallResult(plugin_id, "on_bar", duration=took), None)

    def on_intents(self, intents: Sequence[Intent]) -> None:
        self.canaries.on_intents(intents)

    # -- the round ---------------------------------------------------------
    @hookimpl(specname="after_round")
    def reconcile(self) -> None:
        """Called by the host after each monitoring round."""
        if not self.adopted:
            self.adopted = True
            self._adopt()
        self.gate.advance()
        self.canaries.round()
        self._apply_moves()
        self._warn_deprecated()

    def close(self) -> None:
        self.canaries.close()

    def _adopt(self) -> None:
        """Record what the host started as desired, and put every version that
        never passed its gate on probation. A desired version recorded since
        discovery read them is a request, applied as such."""
        db, now = self.ports.store, self.ports.clocks.wall()
        saved, rows = db.probations(), db.all_versions()
        for slot in self.ports.plugins.all():
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
                self.gate.begin(slot, kept["previous"])
            elif wish and wished and wish["previous"] and wish["actor"] not in ("startup", GATE):
                self.gate.begin(slot, wish["previous"])  # a change asked for while no host ran
            else:
                self.gate.begin(slot, None, quiet=True)

    # -- requests ----------------------------------------------------------
    def _apply_moves(self) -> None:
        db = self.ports.store
        groups: dict[str, list[RequestRow]] = {}
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
                db.finish_request(int(request["id"]), self.ports.clocks.wall(),
                                  f"superseded by request {last['id']}")
            outcome = self._move_to_desired(pid, desired.get(pid), str(last["action"]))
            db.finish_request(int(last["id"]), self.ports.clocks.wall(), outcome)
            log.debug("request applied", extra=fields(plugin=pid, request=last["id"],
                                                      outcome=outcome))

    def _move_to_desired(self, pid: str, wish: DesiredRow | None, action: str) -> str:
        if wish is None:
            return "nothing to do: no desired version is recorded"
        version = str(wish["version"])
        slot = self.ports.plugins.get(pid)
        running = slot.version if slot and slot.state is PluginState.ACTIVE else None
        if same(running, version):
            return f"{pid} {version} is running"
        record = self.lookup(pid, version)
        problem = "is not installed" if record is None else self._precheck(pid, record)
        if problem is not None or record is None:
            return self._refuse(pid, version, running, problem or "is not installed")
        reason = f"{wish['actor']}: {wish['reason']} (request {wish['request_id']})"
        new = self._move(pid, record, reason)
        gated = self.ports.store.all_versions().get(pid, {}).get(version, {}).get("gate_passed")
        said = {"plugin": pid, "old": running, "new": version, "by": wish["actor"],
                "request": wish["request_id"]}
        event = MOVED.get(action, "plugin version changed")
        if new.state is PluginState.ACTIVE and gated:
            log.info(event, extra=fields(**said, probation_rounds=0))
            return f"applied: {version} is active (it passed its gate before)"
        p = self.gate.begin(new, running)
        if new.state is PluginState.ACTIVE:
            log.info(event, extra=fields(**said, probation_rounds=p.rounds))
            return f"applied: {version} is active, on probation for {p.rounds} round(s)"
        self.gate.fail(p, f"it is {new.state.value}: {new.reason}")
        after = self.ports.plugins.get(pid) or new
        return (f"failed: {version} is {new.state.value} ({new.reason}); now {after.version} "
                f"is {after.state.value}")

    def _refuse(self, pid: str, version: str, running: str | None, problem: str) -> str:
        db, now = self.ports.store, self.ports.clocks.wall()
        why = f"refused {version}: it {problem}"
        if running is not None:
            db.set_desired_if(pid, running, version, "host", why, now, expect=version)
        db.record_event(pid, "request_refused", why, now, version, "host")
        log.warning("version change refused", extra=fields(plugin=pid, version=version,
                                                           running=running, why=problem))
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
        config = self.ports.config.plugin(record.plugin_id)
        try:
            runner = self.factory_for(record)(record, config)
        except LoadFailure as exc:
            raise PluginError(f"cannot load: {exc.cause}") from None
        try:
            answer = call(runner, "plugin_version", DEFAULT_DEADLINES["plugin_version"], {},
                          self.ports.clocks.monotonic)
        finally:
            runner.close(0.5)
        if not answer.ok:
            raise PluginError(f"plugin_version failed: {answer.error}")
        return parse_meta(answer.value)

    def _move(self, pid: str, record: EntryRecord, reason: str) -> PluginSlot:
        # A plugin installed while the host runs has no slot yet: reload adds one.
        return self.ports.plugins.reload(pid, reason, record)

    def _warn_deprecated(self) -> None:
        """Each active plugin's ``deprecated_version`` alert fires while the version it
        runs is deprecated (another process may mark it, so it is read every round).
        Only the plugins that run a deprecated version or have the alert open are
        told: for the others not firing is a no-op (``AlertManager.observe``)."""
        deprecated = self.ports.store.deprecated_versions()
        suffix = ":deprecated_version"
        opened = {fp.removesuffix(suffix) for fp in self.monitor.alerting.open_fingerprints()
                  if fp.endswith(suffix)}
        if not deprecated and not opened:
            return
        versions = {pid for pid, _ in deprecated}
        for slot in self.ports.plugins.active():
            if slot.plugin_id not in versions and slot.plugin_id not in opened:
                continue
            deprecated_now = (slot.plugin_id, slot.version) in deprecated
            self.monitor.alerting.raise_event(
                slot.plugin_id, "deprecated_version", AlertLevel.WARNING,
                f"{slot.plugin_id} runs {slot.version}, which is deprecated; move off it with "
                f"'zepix rollback {slot.plugin_id}' or 'zepix upgrade'", firing=deprecated_now)
