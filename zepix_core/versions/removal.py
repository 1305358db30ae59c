"""Taking versions out of the plugin store: ``zepix uninstall`` and ``zepix store prune``.

A version stays while a host may need it: the active version (running now, or
desired: what the next round or start runs), the last known good version below
it (rollbacks and the gate fall back to it), and an open canary's candidate.
One store directory holds one distribution version, which may offer several
plugins; it stays when any of them needs it. The checks and the removal happen
inside one ``BEGIN IMMEDIATE`` transaction over those plugins' books, so a
command racing it (an upgrade to that version) either comes first and is seen,
or comes after and finds the version gone. The directory is renamed out of
sight before it is deleted, so nobody reads half of it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from zepix_core.contract.errors import ZepixError
from zepix_core.storage import Row, VersionBook
from zepix_core.versions.policy import VersionCommands
from zepix_core.versions.rules import current_version, gather, last_known_good
from zepix_core.versions.store import StoredVersion

#: Where removed directories go before they are deleted (hidden from the store's listing).
TRASH = ".removing"


@dataclass(frozen=True)
class Verdict:
    """One store version and what became of it: ``removed`` or ``kept`` and why."""

    distribution: str
    version: str
    plugins: tuple[str, ...]
    path: Path
    removed: bool
    why: str
    dry_run: bool = False

    @property
    def action(self) -> str:
        return "removed" if self.removed else "would remove" if self.dry_run else "kept"

    def as_dict(self) -> dict[str, object]:
        return {"distribution": self.distribution, "version": self.version,
                "plugins": list(self.plugins), "path": str(self.path),
                "action": self.action, "why": self.why}


def needed(operator: VersionCommands, book: VersionBook) -> dict[Version, str]:
    """The versions of ``book``'s plugin that must stay, each with why."""
    env = operator.env.get(book.plugin_id)
    current = current_version(book, env)
    keep: dict[Version, str] = {}
    if book.running is not None:
        keep[Version(str(book.running["version"]))] = "the running version"
    if current is not None:
        keep.setdefault(Version(current), "the active version")
        good = last_known_good(gather(operator.installed(book.plugin_id), book.versions),
                               current)
        if good is not None:
            keep.setdefault(good.parsed, "the last known good version (rollbacks and the "
                                         "gate fall back to it)")
    if book.canary is not None:
        keep.setdefault(Version(str(book.canary["version"])), "the open canary's candidate")
    passed = [Version(v) for v, row in book.versions.items()
              if _valid(v) and row["gate_passed"] and not row["deprecated"]]
    if passed:  # an upgrade that proved itself stays, whatever came after it
        keep.setdefault(max(passed), "the newest version that passed its gate")
    return keep


class Remover:
    """``uninstall`` and ``prune`` over a ``VersionCommands``'s store and database."""

    def __init__(self, operator: VersionCommands) -> None:
        self.op = operator

    def uninstall(self, plugin_id: str, version: str) -> Verdict:
        stored = self._stored(plugin_id, version)
        verdict = self._remove(stored, {}, f"uninstall {plugin_id} {version}")
        if not verdict.removed:
            raise ZepixError(f"uninstall {plugin_id}: {stored.version} is {verdict.why}; "
                             "move off it first ('zepix upgrade' or 'zepix rollback')",
                             plugin_id=plugin_id)
        return verdict

    def prune(self, keep: int, plugin_id: str | None = None,
              dry_run: bool = False) -> list[Verdict]:
        """Remove all but the ``keep`` newest store versions of each plugin (of
        ``plugin_id`` only, if given) besides the versions ``needed`` keeps."""
        versions = self.op.plugins.versions()
        chosen = [s for s in versions if plugin_id is None or plugin_id in s.plugin_ids]
        if plugin_id is not None and not chosen:
            raise ZepixError(f"store prune: no version of '{plugin_id}' is in the store; "
                             "see 'zepix versions'", plugin_id=plugin_id)
        spared = self._newest(versions, keep)
        return [self._remove(stored, spared.get(_key(stored), {}),
                             f"store prune --keep {keep}", dry_run) for stored in chosen]

    # -- helpers -------------------------------------------------------------
    def _newest(self, versions: Iterable[StoredVersion],
                keep: int) -> dict[tuple[str, str], dict[str, str]]:
        """(distribution, version) -> {plugin: why} for each plugin's ``keep`` newest store
        versions, not counting the versions ``needed`` keeps anyway."""
        by_plugin: dict[str, list[StoredVersion]] = {}
        for stored in versions:
            for pid in stored.plugin_ids:
                by_plugin.setdefault(pid, []).append(stored)
        spared: dict[tuple[str, str], dict[str, str]] = {}
        for pid, mine in by_plugin.items():
            book = self.op.db.version_book(pid)
            kept = needed(self.op, book)
            others = [s for s in mine if Version(s.version) not in kept]
            # Versions that ran and failed their gate are not among the ones kept: a newer
            # failure never pushes out an older version that worked.
            failed = {v for v, row in book.versions.items()
                      if row["gate_passed"] == 0 and _tried(row)}
            order = sorted((s for s in others if s.version not in failed),
                           key=lambda s: Version(s.version), reverse=True)
            for stored in order[:keep]:
                spared.setdefault(_key(stored), {})[pid] = f"one of the {keep} newest of {pid}"
        return spared

    def _stored(self, plugin_id: str, version: str) -> StoredVersion:
        wanted = Version(version) if _valid(version) else None
        mine = [s for s in self.op.plugins.versions() if plugin_id in s.plugin_ids]
        found = next((s for s in mine if Version(s.version) == wanted), None)
        if found is not None:
            return found
        env = self.op.env.get(plugin_id)
        if env is not None and wanted is not None and Version(env.dist_version) == wanted:
            raise ZepixError(f"uninstall {plugin_id}: {version} comes from the host "
                             f"environment, not the store; remove it there with 'pip "
                             f"uninstall {env.distribution}'", plugin_id=plugin_id)
        if not mine and env is None and not self.op.db.versions(plugin_id):
            raise ZepixError(f"uninstall: unknown plugin '{plugin_id}'; see 'zepix plugins'",
                             plugin_id=plugin_id)
        have = ", ".join(s.version for s in mine) or "none"
        raise ZepixError(f"uninstall {plugin_id}: {version} is not in the store (in the "
                         f"store: {have})", plugin_id=plugin_id)

    def _remove(self, stored: StoredVersion, spared: Mapping[str, str], how: str,
                dry_run: bool = False) -> Verdict:
        """Remove ``stored`` unless one of its plugins needs it (or ``spared`` keeps it)."""
        pids, parsed = tuple(stored.plugin_ids), Version(stored.version)
        with self.op.db.versions_tx(pids, self.op.clock()) as txs:
            why = next(iter(spared.values()), None)
            for pid, tx in txs.items():
                reason = needed(self.op, tx.book).get(parsed)
                if reason is not None:
                    why = reason + (f" of {pid}" if len(pids) > 1 else "")
                    break
            if why is not None:
                return _verdict(stored, False, why)
            if dry_run:
                return _verdict(stored, False, how, dry_run=True)
            _discard(stored.path, self.op.plugins.root)
            for pid, tx in txs.items():
                tx.event("uninstalled", f"{self.op.actor}: {how}: {stored.distribution} "
                         f"{stored.version} removed from the store", stored.version,
                         self.op.actor)
        return _verdict(stored, True, how)


def _key(stored: StoredVersion) -> tuple[str, str]:
    return stored.distribution, stored.version


def _verdict(stored: StoredVersion, removed: bool, why: str, dry_run: bool = False) -> Verdict:
    return Verdict(stored.distribution, stored.version, tuple(stored.plugin_ids), stored.path,
                   removed, why, dry_run)


def _discard(path: Path, root: Path) -> None:
    """Rename ``path`` out of the store's sight, then delete it and an empty parent."""
    trash = root / TRASH
    trash.mkdir(parents=True, exist_ok=True)
    for left in trash.iterdir():  # a removal interrupted earlier
        shutil.rmtree(left, ignore_errors=True)
    gone = trash / uuid.uuid4().hex
    os.rename(path, gone)
    shutil.rmtree(gone, ignore_errors=True)
    try:
        path.parent.rmdir()
    except OSError:  # other versions of the distribution remain
        pass


def _valid(text: str) -> bool:
    try:
        Version(text)
    except ValueError:
        return False
    return True


def _tried(row: Row) -> bool:
    """A version that ran (its gate then passed or failed), not one never started."""
    return row["last_active"] is not None
