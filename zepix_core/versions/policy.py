"""Version policy: which version of a plugin runs, and how an operator changes it.

The rules are pure functions over ``VersionFacts``: the same-MAJOR rule,
last known good, and which installed version a starting host picks.
``Operator`` is the command side: it checks a command against the rules and
records it, with the desired version, in one ``BEGIN IMMEDIATE``
transaction. It never touches a running plugin; a running host applies the
recorded requests within one round (``_reconcile``), and a host that starts
later begins with the desired version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.model import PluginState
from zepix_core.loading.config import STORE_DEFAULTS, Config
from zepix_core.loading.discovery import EntryRecord
from zepix_core.loading.resolution import Candidate, PluginMeta, Policy, resolve
from zepix_core.storage import Row, Store, VersionBook
from zepix_core.versions.store import PluginStore, declared_meta

OPERATOR = "operator"
#: Request actions the version manager applies; other actions belong to others.
MOVES = ("upgrade", "rollback", "canary_promote")

# -- facts and rules ----------------------------------------------------------

@dataclass(frozen=True)
class VersionFacts:
    """One version of a plugin: where it is installed (``record``; None when it
    no longer is) and what the history says about it."""

    version: str
    record: EntryRecord | None
    deprecated: bool = False
    gate_passed: bool = False
    was_active: bool = False
    first_seen: float | None = None
    last_active: float | None = None

    @property
    def parsed(self) -> Version:
        return Version(self.version)

    def not_good(self) -> str | None:
        """Why this version cannot be a last known good one, or None."""
        if self.record is None:
            return "is no longer installed"
        if self.deprecated:
            return "is deprecated"
        if not self.was_active:
            return "was never active"
        if not self.gate_passed:
            return "never passed its gate"
        return None


def same(a: str | None, b: str | None) -> bool:
    """Whether two version strings, both given, name the same version (1.0 == 1.0.0)."""
    return a is not None and b is not None and Version(a) == Version(b)


def parse_version(plugin_id: str, text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise ZepixError(f"{plugin_id}: {text!r} is not a PEP 440 version (e.g. 1.2.0)",
                         plugin_id=plugin_id) from None


def gather(installed: Mapping[str, EntryRecord], rows: Mapping[str, Row]) -> list[VersionFacts]:
    """Facts of every version installed or recorded, oldest version first."""
    facts = []
    for version in sorted(set(installed) | set(rows), key=Version):
        row = rows.get(version, {})
        facts.append(VersionFacts(
            version=version, record=installed.get(version),
            deprecated=bool(row.get("deprecated")), gate_passed=bool(row.get("gate_passed")),
            was_active=row.get("last_active") is not None, first_seen=row.get("first_seen"),
            last_active=row.get("last_active")))
    return facts


def find(facts: Iterable[VersionFacts], version: str | Version | None) -> VersionFacts | None:
    if version is None:
        return None
    wanted = Version(str(version))
    return next((f for f in facts if f.parsed == wanted), None)


def last_known_good(facts: Iterable[VersionFacts], below: str) -> VersionFacts | None:
    """The highest version below ``below`` that was active, passed its gate and is
    not deprecated (and is still installed)."""
    limit = Version(below)
    good = [f for f in facts if f.parsed < limit and f.not_good() is None]
    return max(good, key=lambda f: f.parsed, default=None)


def skipped_below(facts: Iterable[VersionFacts], below: str) -> list[str]:
    limit = Version(below)
    return [f"{f.version} {why}" for f in sorted(facts, key=lambda f: f.parsed, reverse=True)
            if f.parsed < limit and (why := f.not_good()) is not None]


def crosses_major(current: str | None, target: str) -> bool:
    return current is not None and Version(current).major != Version(target).major


def choose(env: EntryRecord | None, facts: Sequence[VersionFacts],
           desired: str | None, pin: SpecifierSet | None = None) -> EntryRecord | None:
    """The record a starting host loads for one plugin.

    Among the installed versions that are not deprecated, and that the
    operator's ``pin`` admits when any does: the desired version when it is
    one of them; else the environment's copy; else the highest, passed gates
    first. None when every installed version is deprecated. (When no version
    fits the pin, resolution rejects what is chosen and says so.)
    """
    usable = [f for f in facts if f.record is not None and not f.deprecated]
    if pin is not None:
        fitting = [f for f in usable if pin.contains(f.parsed, prereleases=True)]
        usable = fitting or usable
    wanted = find(usable, desired)
    if wanted is not None:
        return wanted.record
    if env is not None and find(usable, env.dist_version) is not None:
        return env
    ranked = sorted(usable, key=lambda f: (f.gate_passed, not f.parsed.is_prerelease, f.parsed))
    return ranked[-1].record if ranked else None


def select(env_records: Sequence[EntryRecord], stored: Mapping[str, Mapping[str, EntryRecord]],
           rows: Mapping[str, Mapping[str, Row]], desired: Mapping[str, Row],
           pins: Mapping[str, SpecifierSet | None] | None = None) -> list[EntryRecord]:
    """Discovery's records with each plugin's version chosen among the environment
    and the store; environment records rejected at discovery are kept as they are."""
    out: list[EntryRecord] = []
    env = {r.plugin_id: r for r in env_records}
    for pid in [*env, *sorted(set(stored) - set(env))]:
        rec = env.get(pid)
        if rec is not None and rec.state is not PluginState.DISCOVERED:
            out.extend(r for r in env_records if r.plugin_id == pid)
            continue
        installed = {**stored.get(pid, {}), **({rec.dist_version: rec} if rec else {})}
        facts = gather(installed, rows.get(pid, {}))
        wish = desired.get(pid)
        picked = choose(rec, facts, wish["version"] if wish else None, (pins or {}).get(pid))
        if picked is None:
            last = max(facts, key=lambda f: f.parsed).record if facts else rec
            assert last is not None
            picked = replace(last, state=PluginState.INACTIVE, reason=(
                "every installed version is deprecated; install a new one or undo with "
                f"'zepix deprecate {pid} {last.dist_version} --undo'"))
        out.append(picked)
    return out


def current_version(book: VersionBook, env: EntryRecord | None) -> str | None:
    """The version a plugin runs or is about to run: the desired one, else the
    running one, else the last recorded, else the environment's."""
    for row in (book.desired, book.running, book.status):
        if row is not None:
            return str(row["version"])
    return env.dist_version if env is not None else None


# -- the operator's side ------------------------------------------------------

@dataclass(frozen=True)
class Recorded:
    """What a command recorded; ``request_id`` None when nothing was queued."""

    plugin_id: str
    action: str
    version: str | None
    message: str
    request_id: int | None = None
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"plugin_id": self.plugin_id, "action": self.action, "version": self.version,
                "request_id": self.request_id, "message": self.message,
                "warning": self.warning}


class Operator:
    """Checks operator commands and records them for the host (see the module docstring)."""

    def __init__(self, db: Store, plugins: PluginStore, config: Config,
                 env: Sequence[EntryRecord], api_version: str,
                 clock: Callable[[], float] = time.time, actor: str = OPERATOR) -> None:
        self.db = db
        self.plugins = plugins
        self.config = config
        self.env = {r.plugin_id: r for r in env if r.state is PluginState.DISCOVERED}
        self.api_version = api_version
        self.clock = clock
        self.actor = actor

    def installed(self, plugin_id: str) -> dict[str, EntryRecord]:
        env = self.env.get(plugin_id)
        return {**self.plugins.records(plugin_id), **({env.dist_version: env} if env else {})}

    def facts(self, book: VersionBook) -> list[VersionFacts]:
        return gather(self.installed(book.plugin_id), book.versions)

    def _target(self, plugin_id: str, version: str, verb: str) -> EntryRecord:
        installed = self.installed(plugin_id)
        if not installed and not self.db.versions(plugin_id):
            raise ZepixError(f"{verb}: unknown plugin '{plugin_id}'; see 'zepix plugins' for "
                             "the installed ones", plugin_id=plugin_id)
        wanted = parse_version(plugin_id, version)
        for text, record in installed.items():
            if Version(text) == wanted:
                return record
        have = ", ".join(sorted(installed, key=Version)) or "none"
        raise ZepixError(f"{verb} {plugin_id}: version {version} is not installed (installed: "
                         f"{have}); add it with 'zepix install <wheel or requirement>'",
                         plugin_id=plugin_id)

    def _declared_problem(self, record: EntryRecord) -> str | None:
        """``requires_api`` and ``requires`` from ``zepix-plugin.toml``, checked
        against the host API and the other plugins' current versions."""
        meta = declared_meta(record)
        if meta is None:
            return None
        return declared_problem(meta, self.api_version, self._current_of)

    def _current_of(self, plugin_id: str) -> str | None:
        return current_version(self.db.version_book(plugin_id), self.env.get(plugin_id))

    def _move_checks(self, verb: str, book: VersionBook, record: EntryRecord, force: bool,
                     current: str | None) -> None:
        """Checks that depend on this plugin's book, made inside its transaction."""
        pid, target = book.plugin_id, record.dist_version
        facts = find(self.facts(book), target)
        if facts is not None and facts.deprecated:
            raise ZepixError(f"{verb} {pid}: {target} is deprecated; choose another version or "
                             f"undo with 'zepix deprecate {pid} {target} --undo'", plugin_id=pid)
        if crosses_major(current, target) and not force:
            raise ZepixError(f"{verb} {pid}: {current} -> {target} crosses a MAJOR version; "
                             "that may break compatibility: add --force to do it anyway",
                             plugin_id=pid)
        pin = self.config.plugin(pid).version
        if pin is not None and not pin.contains(Version(target), prereleases=True):
            raise ZepixError(f"{verb} {pid}: {target} does not satisfy the pin '{pin}' in "
                             f"[plugins.{pid}] version; change the pin first", plugin_id=pid)

    def _check_declared(self, verb: str, record: EntryRecord) -> None:
        """Declared requirements; read before the transaction, since they look at
        other plugins' versions."""
        problem = self._declared_problem(record)
        if problem is not None:
            raise ZepixError(f"{verb} {record.plugin_id}: {record.dist_version} {problem}",
                             plugin_id=record.plugin_id)

    def upgrade(self, plugin_id: str, version: str, force: bool = False) -> Recorded:
        """Record that ``plugin_id`` should run ``version``."""
        record = self._target(plugin_id, version, "upgrade")
        target = record.dist_version
        self._check_declared("upgrade", record)
        with self.db.version_tx(plugin_id, self.clock()) as tx:
            current = current_version(tx.book, self.env.get(plugin_id))
            if current is not None and Version(current) == Version(target):
                return Recorded(plugin_id, "upgrade", target,
                                f"{plugin_id} {target} is already the desired version")
            if tx.book.canary is not None:
                raise ZepixError(f"upgrade {plugin_id}: a canary of {tx.book.canary['version']} "
                                 f"is open; 'zepix canary promote|abort {plugin_id}' first",
                                 plugin_id=plugin_id)
            self._move_checks("upgrade", tx.book, record, force, current)
            # A move to a lower version is a downgrade, and is called and recorded so.
            verb = ("downgrade" if current is not None and Version(target) < Version(current)
                    else "upgrade")
            why = f"{verb} {current or '(none)'} -> {target}" + (" (forced)" if force else "")
            rid = tx.request("upgrade", target, self.actor, force)
            tx.set_desired(target, current, rid, self.actor, why)
            tx.event(f"{verb}_requested", f"{self.actor}: {why} (request {rid})", target,
                     self.actor)
        return Recorded(plugin_id, verb, target, why, rid)

    def rollback(self, plugin_id: str) -> Recorded:
        """Record that ``plugin_id`` should return to its last known good version."""
        with self.db.version_tx(plugin_id, self.clock()) as tx:
            current = current_version(tx.book, self.env.get(plugin_id))
            if current is None:
                raise ZepixError(f"rollback {plugin_id}: no version of it is known; see "
                                 "'zepix plugins'", plugin_id=plugin_id)
            facts = self.facts(tx.book)
            good = last_known_good(facts, current)
            if good is None:
                skipped = "; ".join(skipped_below(facts, current)) or "there is none"
                raise ZepixError(f"rollback {plugin_id}: no last known good version below "
                                 f"{current} ({skipped})", plugin_id=plugin_id)
            passed = skipped_below([f for f in facts if f.parsed > good.parsed], current)
            why = (f"rollback {current} -> {good.version}, the last known good version"
                   + (f" (skipped {'; '.join(passed)})" if passed else ""))
            rid = tx.request("rollback", good.version, self.actor)
            tx.set_desired(good.version, current, rid, self.actor, why)
            tx.event("rollback_requested", f"{self.actor}: {why} (request {rid})",
                     good.version, self.actor)
        return Recorded(plugin_id, "rollback", good.version, why, rid)

    def deprecate(self, plugin_id: str, version: str, undo: bool = False) -> Recorded:
        """Mark a version deprecated (or no longer): no host picks it any more."""
        wanted = parse_version(plugin_id, version)
        with self.db.version_tx(plugin_id, self.clock()) as tx:
            facts = find(self.facts(tx.book), wanted)
            if facts is None:
                raise ZepixError(f"deprecate {plugin_id}: version {version} is neither installed "
                                 "nor recorded; see 'zepix versions'", plugin_id=plugin_id)
            if facts.record is not None:
                tx.ensure_version(facts.version, facts.record.distribution,
                                  self.plugins.source_of(facts.record))
            tx.set_deprecated(facts.version, not undo)
            verb = "undeprecate" if undo else "deprecate"
            tx.event(f"{verb}d", f"{self.actor}: {verb} {facts.version}", facts.version,
                     self.actor)
            current = current_version(tx.book, self.env.get(plugin_id))
        warning = None
        if not undo and current is not None and Version(current) == wanted:
            warning = (f"{plugin_id} {facts.version} is the active version and keeps running; "
                       f"move off it with 'zepix rollback {plugin_id}' or 'zepix upgrade'")
        return Recorded(plugin_id, verb, facts.version, f"{verb}d {plugin_id} {facts.version}",
                        warning=warning)

    def canary(self, plugin_id: str, version: str, force: bool = False) -> Recorded:
        """Record a canary: ``version`` runs in shadow beside the active version."""
        record = self._target(plugin_id, version, "canary")
        target = record.dist_version
        self._check_declared("canary", record)
        with self.db.version_tx(plugin_id, self.clock()) as tx:
            current = current_version(tx.book, self.env.get(plugin_id))
            if tx.book.canary is not None:
                raise ZepixError(f"canary {plugin_id}: a canary of {tx.book.canary['version']} "
                                 f"is already open; 'zepix canary abort {plugin_id}' first",
                                 plugin_id=plugin_id)
            if current is not None and Version(current) == Version(target):
                raise ZepixError(f"canary {plugin_id}: {target} is the active version; choose "
                                 "another version to compare with it", plugin_id=plugin_id)
            self._move_checks("canary", tx.book, record, force, current)
            rid = tx.request("canary", target, self.actor, force)
            tx.open_canary(target, current, rid)
            why = f"canary {target} in shadow beside {current or '(none)'}"
            tx.event("canary_requested", f"{self.actor}: {why} (request {rid})", target,
                     self.actor)
        return Recorded(plugin_id, "canary", target, why, rid)

    def end_canary(self, plugin_id: str, promote: bool) -> Recorded:
        """Promote (make the candidate the desired version) or abort the open canary."""
        verb = "promote" if promote else "abort"
        with self.db.version_tx(plugin_id, self.clock()) as tx:
            run = tx.book.canary
            if run is None:
                raise ZepixError(f"canary {verb} {plugin_id}: no canary is open; start one with "
                                 f"'zepix canary {plugin_id} VERSION'", plugin_id=plugin_id)
            candidate = str(run["version"])
            ended = "promoted" if promote else "aborted"
            # The host stops the shadow worker at its next round, not now: say "requested".
            why = f"canary {verb}: {candidate} " + (
                f"replaces {run['baseline'] or '(none)'}" if promote else "stop requested")
            tx.end_canary(int(run["id"]), ended, self.actor, why)
            rid = None
            if promote:
                current = current_version(tx.book, self.env.get(plugin_id))
                rid = tx.request("canary_promote", candidate, self.actor)
                tx.set_desired(candidate, current, rid, self.actor, why)
            tx.event(f"canary_{ended}", f"{self.actor}: {why}", candidate, self.actor)
        return Recorded(plugin_id, f"canary_{verb}", candidate, why, rid)


def admission_problem(plugin_id: str, version: str, meta: PluginMeta,
                      others: Mapping[str, Candidate], api_version: str,
                      policies: Mapping[str, Policy]) -> str | None:
    """Why ``version`` of ``plugin_id`` with ``meta`` cannot join the active
    plugins ``others`` (its own rules, its ``requires``, and theirs on it), or None."""
    res = resolve({**others, plugin_id: Candidate(plugin_id, Version(version), meta)},
                  api_version, policies)
    if plugin_id in res.verdicts:
        return res.verdicts[plugin_id][1]
    broken = [f"{other} would no longer resolve ({why})"
              for other, (_, why) in sorted(res.verdicts.items())]
    return "; ".join(broken) or None


def declared_problem(meta: PluginMeta, api_version: str,
                     current_of: Callable[[str], str | None]) -> str | None:
    """Why declared requirements rule a version out, or None when they do not."""
    if meta.requires_api and not meta.requires_api.contains(Version(api_version),
                                                            prereleases=True):
        return f"declares requires_api '{meta.requires_api}', which excludes host API {api_version}"
    for dep, spec in sorted(meta.requires.items()):
        have = current_of(dep)
        if have is None:
            return f"requires {dep} '{spec}', which is not installed"
        if not spec.contains(Version(have), prereleases=True):
            return f"requires {dep} '{spec}' but {dep} {have} is the active version"
    return None


@dataclass(frozen=True)
class StoreSettings:
    """The ``[store]`` settings (validated with the config, ``loading.config.STORE_DEFAULTS``)."""

    probation_rounds: int
    canary_p95_ratio: float
    canary_p95_floor_ms: float

    @classmethod
    def from_config(cls, config: Config) -> StoreSettings:
        return cls(**{**STORE_DEFAULTS, **config.sections.get("store", {})})
