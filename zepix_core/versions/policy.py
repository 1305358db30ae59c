"""Version policy: how an operator changes which version of a plugin runs.

The rules are pure functions in ``rules``. ``VersionCommands`` is the command side:
it checks a command against the rules and records it, with the desired
version, in one ``BEGIN IMMEDIATE`` transaction. It never touches a running
plugin; a running host applies the recorded requests within one round
(``_reconcile``), and a host that starts later begins with the desired version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from packaging.version import Version

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.model import PluginState
from zepix_core.loading.config import STORE_DEFAULTS, Config
from zepix_core.loading.discovery import EntryRecord
from zepix_core.storage import Store, VersionBook
from zepix_core.versions.origin import copies, editable_only
from zepix_core.versions.rules import (
    VersionFacts,
    crosses_major,
    current_version,
    declared_problem,
    find,
    gather,
    last_known_good,
    parse_version,
    skipped_below,
)
from zepix_core.versions.store import PluginStore, declared_meta

OPERATOR = "operator"
#: Request actions the version manager applies; other actions belong to others.
MOVES = ("upgrade", "rollback", "canary_promote")

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

    def as_dict(self) -> dict[str, object]:
        return {"plugin_id": self.plugin_id, "action": self.action, "version": self.version,
                "request_id": self.request_id, "message": self.message,
                "warning": self.warning}


class VersionCommands:
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
        return copies(self.plugins.records(plugin_id), self.env.get(plugin_id))

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
        if facts is not None and facts.editable:
            raise ZepixError(f"{verb} {pid}: {target} {editable_only(record)}", plugin_id=pid)
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


@dataclass(frozen=True)
class StoreSettings:
    """The ``[store]`` settings (validated with the config, ``loading.config.STORE_DEFAULTS``)."""

    probation_rounds: int
    canary_p95_ratio: float
    canary_p95_floor_ms: float

    @classmethod
    def from_config(cls, config: Config) -> StoreSettings:
        return cls(**{**STORE_DEFAULTS, **config.sections.get("store", {})})
