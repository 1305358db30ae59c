"""The versioned plugin store: several versions of one plugin distribution side by side.

pip keeps one version of a distribution per environment, so the host keeps
its own store: ``<data dir>/store/<canonical name>/<version>/`` is what
``pip install --no-deps --target`` put there (the distribution's packages and
its ``*.dist-info``) plus ``zepix-install.json`` (what was installed, when).

Dependencies: only the plugin's own distribution goes into the store
(``--no-deps``). Its other requirements, ``zepix-core`` included, must
already be met by the host's environment; ``install`` checks them and names
what is missing. Per-version copies of dependencies would shadow the host's
own ``zepix_core`` and ``pluggy`` inside a worker, and a plugin's third-party
libraries are the operator's to install and audit, once, in one place.

A version is installed into a staging directory and renamed into place, so a
half-installed version is never visible and two installs of the same
version cannot mix: the second finds the first in place. Store versions run
in a worker process each, with their directory first on the worker's
``sys.path`` (``store_paths``): two versions of one module cannot share a
process, and a store version must win over an environment copy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import importlib_metadata as md
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from zepix_core.contract.errors import PluginError, ZepixError
from zepix_core.contract.redact import redact_source
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins
from zepix_core.loading.resolution import PluginMeta, parse_meta
from zepix_core.retry import Retrier, RetryFailed
from zepix_core.versions.building import build_requires, builds_here
from zepix_core.versions.installing import (
    check_provider,
    check_requirements,
    only_distribution,
    run_pip,
)

#: Written into each version directory by ``install``.
MARKER = "zepix-install.json"
#: Declared requirements of a plugin, read without importing it (see ``declared_meta``).
META_FILE = "zepix-plugin.toml"
_STAGING = ".staging"
@dataclass(frozen=True)
class StoredVersion:
    """One distribution version in the store and the plugins it offers."""

    distribution: str
    version: str
    path: Path
    source: str
    installed_at: float
    records: tuple[EntryRecord, ...]
    already: bool = False

    @property
    def plugin_ids(self) -> list[str]:
        return [r.plugin_id for r in self.records]


class PluginStore:
    """The store under ``root``; ``python`` is the interpreter whose pip installs,
    within ``pip_timeout`` seconds."""

    def __init__(self, root: Path, python: str = sys.executable,
                 clock: Callable[[], float] = time.time, retrier: Retrier | None = None,
                 pip_timeout: float = 600.0) -> None:
        self.root = root
        self.python = python
        self._held: dict[str, bool] = {}
        self.clock = clock
        #: Installs that reach an index retry under the ``store.install`` policy.
        self.retrier = retrier if retrier is not None else Retrier()
        self.pip_timeout = pip_timeout

    # -- reading -----------------------------------------------------------
    def versions(self) -> list[StoredVersion]:
        """Every version in the store, by distribution then directory name."""
        if not self.root.is_dir():
            return []
        found = []
        for dist_dir in sorted(p for p in self.root.iterdir() if _visible(p)):
            for path in sorted(p for p in dist_dir.iterdir() if _visible(p)):
                stored = self._read(path)
                if stored is not None:
                    found.append(stored)
        return found

    def _read(self, path: Path) -> StoredVersion | None:
        dists = list(md.distributions(path=[str(path)]))
        if len(dists) != 1:
            return None
        marker = _marker(path)
        return StoredVersion(
            distribution=dists[0].metadata["Name"], version=dists[0].version, path=path,
            source=redact_source(str(marker.get("source", "?"))),
            installed_at=float(marker.get("installed_at", path.stat().st_mtime)),
            records=tuple(enumerate_plugins([str(path)])))

    def records(self, plugin_id: str) -> dict[str, EntryRecord]:
        """version -> entry record of every stored version offering ``plugin_id``."""
        return {rec.dist_version: rec for stored in self.versions()
                for rec in stored.records if rec.plugin_id == plugin_id}

    def holds(self, record: EntryRecord) -> bool:
        """Whether ``record`` was found in this store (not in the environment)."""
        if not record.location:
            return False
        held = self._held.get(record.location)
        if held is None:  # resolved once per location: start-up asks twice per plugin
            root = self.root.resolve()
            held = self._held[record.location] = root in Path(record.location).resolve().parents
        return held

    def installed_at(self, record: EntryRecord) -> float | None:
        if not self.holds(record):
            return None
        value = _marker(Path(record.location).parent).get("installed_at")
        return float(value) if isinstance(value, (int, float)) else None

    def source_of(self, record: EntryRecord) -> str:
        if not self.holds(record):
            return "environment"
        return redact_source(str(_marker(Path(record.location).parent).get("source", "store")))

    def key(self, record: EntryRecord) -> str:
        """``<distribution>/<version>``: how the database names ``record``'s store copy."""
        path = Path(record.location).parent
        return f"{path.parent.name}/{path.name}"

    def verify(self, record: EntryRecord, expected: str | None = None) -> str | None:
        """Why the store copy of ``record`` cannot be trusted (its files, bytecode
        included, hash to other than ``expected``: the digest the database recorded at
        install), or None. Without ``expected``: the install marker's digest of the
        sources, for a store without a database; a version with neither passes."""
        if not self.holds(record):
            return None
        path = Path(record.location).parent
        bytecode = expected is not None
        if expected is None:  # the marker holds the digest of the sources alone
            marked = _marker(path).get("content_sha256")
            expected = marked if isinstance(marked, str) else None
        if expected is None:
            return None
        found = content_digest(path, bytecode=bytecode)
        if found != expected:
            return (f"its files in {path} changed since it was installed (sha256 {found[:12]}, "
                    f"installed {expected[:12]}); install it again with --reinstall")
        return None

    def legacy_digest(self, record: EntryRecord) -> str | None:
        """For a version installed before the database kept digests: its full digest
        now, if its files (bytecode aside) still match its install marker; else None."""
        path = Path(record.location).parent
        marked = _marker(path).get("content_sha256")
        if not isinstance(marked, str) or content_digest(path, bytecode=False) != marked:
            return None
        return content_digest(path)

    def clean_staging(self) -> list[Path]:
        """Remove staging directories of installs whose process is gone (killed)."""
        removed = []
        staging = self.root / _STAGING
        for path in sorted(staging.iterdir()) if staging.is_dir() else []:
            owner = path.name.split("-", 1)[0]
            if owner.isdigit() and _running(int(owner)):
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        return removed

    # -- installing --------------------------------------------------------
    def install(self, source: str, *, build_isolation: bool = True,
                reinstall: bool = False,
                providers: Mapping[str, str] | None = None) -> StoredVersion:
        """Install one distribution version from ``source`` (a wheel, an sdist, a
        project directory or a requirement); raises ``ZepixError`` saying why not.

        The same version with the same content is already there (``already``); with
        different content it is refused unless ``reinstall`` replaces it. A
        distribution offering a plugin id that ``providers`` (plugin id ->
        distribution) says another distribution provides now is refused.
        """
        if Path(source).exists():  # recorded as where it came from, wherever one stands
            source = str(Path(source).resolve())
        shown = redact_source(source)
        self.clean_staging()
        staging = self.root / _STAGING / f"{os.getpid()}-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            self._fetch(source, staging, build_isolation)
            dist = only_distribution(staging, shown)
            check_provider(dist, staging, providers or {})
            check_requirements(dist)
            dest = self._destination(dist, shown)
            marker = {"source": shown, "installed_at": self.clock(),
                      "content_sha256": content_digest(staging, bytecode=False)}
            if source.endswith(".whl") and Path(source).is_file():
                marker["wheel_sha256"] = _sha256(Path(source))
            (staging / MARKER).write_text(json.dumps(marker), encoding="utf-8")
            return self._place(staging, dest, str(marker["content_sha256"]), reinstall)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _destination(self, dist: md.Distribution, shown: str) -> Path:
        """``<root>/<name>/<version>``, refused unless it is a real place in the store."""
        name, version = dist.metadata["Name"] or "", dist.version
        try:
            Version(version)
        except InvalidVersion:
            raise ZepixError(f"install {shown}: version {version!r} is not a PEP 440 "
                             "version") from None
        root = self.root.resolve()
        dest = (root / canonicalize_name(name) / version).resolve()
        if dest.parent.parent != root or not canonicalize_name(name) or dest.name != version:
            raise ZepixError(f"install {shown}: {name!r} {version!r} would install outside "
                             f"the store {root}; refused")
        return dest

    def _place(self, staging: Path, dest: Path, digest: str, reinstall: bool) -> StoredVersion:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_dir():
            old = _marker(dest).get("content_sha256") or content_digest(dest, bytecode=False)
            if old == digest:
                stored = self._read(dest)
                if stored is None:
                    raise ZepixError(f"{dest} exists but holds no single distribution; "
                                     "remove it and install again")
                return dataclasses.replace(stored, already=True)
            if not reinstall:
                raise ZepixError(
                    f"{dest.parent.name} {dest.name} is already in the store with different "
                    f"content (sha256 {str(old)[:12]}, new {digest[:12]}); give --reinstall "
                    "to replace it, or install it under a new version")
            aside = staging.with_name(staging.name + "-replaced")
            os.rename(dest, aside)
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rename(staging, dest)
        except OSError:
            if not dest.is_dir():
                raise
            return self._place(staging, dest, digest, reinstall=False)  # a racing install
        stored = self._read(dest)
        assert stored is not None
        return stored

    def _fetch(self, source: str, staging: Path, build_isolation: bool) -> None:
        """pip into ``staging``; when pip reaches an index, under the retry policy."""
        local = Path(source)
        if local.is_dir() and build_isolation and builds_here(local, self.python):
            # this environment has what the build needs: build here, offline
            self._pip(source, staging, False, index=False)
            return
        if local.exists() and not (local.is_dir() and build_isolation):
            self._pip(source, staging, build_isolation, index=False)  # one try, offline
            return
        if local.is_dir():  # the isolated build fetches [build-system] requires
            needs = ", ".join(build_requires(local))
            try:
                self._pip(source, staging, build_isolation, index=True)
            except ZepixError as exc:
                raise ZepixError(f"{exc}; building it needs {needs} ([build-system] "
                                 "requires), fetched from the index unless this "
                                 "environment has them: pip install them here, or give "
                                 "--no-build-isolation") from None
            return

        def attempt() -> None:
            shutil.rmtree(staging, ignore_errors=True)   # nothing half-installed carries over
            staging.mkdir(parents=True)
            self._pip(source, staging, build_isolation, index=True)

        try:
            self.retrier.run("store.install", attempt)
        except RetryFailed as exc:
            cause = str(exc.__cause__ or exc)
            tries = exc.outcome.attempts
            raise ZepixError(cause if tries == 1 else f"{cause} ({tries} attempts)") from None

    def _pip(self, source: str, target: Path, build_isolation: bool, index: bool) -> None:
        run_pip(self.python, source, target, build_isolation, index, self.pip_timeout)




def content_digest(path: Path, *, bytecode: bool = True) -> str:
    """sha256 over every installed file's relative path and content, compiled bytecode
    included (Python may execute a ``.pyc`` instead of its source; workers never write
    one, so the files stay as pip installed them); the install marker is left out.
    ``bytecode=False``: the sources alone, which two installs of one wheel share (the
    install marker's ``content_sha256``, and the digest before bytecode counted)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != MARKER
                   and (bytecode or ("__pycache__" not in p.parts and p.suffix != ".pyc")))
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(_sha256(file).encode() + b"\n")
    return digest.hexdigest()


def _sha256(file: Path) -> str:
    with file.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _visible(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")


def _marker(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}



def declared_meta(record: EntryRecord) -> PluginMeta | None:
    """What ``record``'s plugin declares in ``zepix-plugin.toml``, without importing it.

    The file sits in the package of the entry point's module (or a parent
    package) and holds a ``[plugins.<id>]`` table with ``requires_api`` and
    ``requires``. None when there is no such file or table; raises
    ``PluginError`` naming the file when it is malformed.
    """
    if not record.location:
        return None
    base = Path(record.location).parent
    parts = record.value.split(":")[0].strip().split(".")
    for depth in range(len(parts), 0, -1):
        path = base.joinpath(*parts[:depth], META_FILE)
        if path.is_file():
            return _parse_declared(path, record)
    return None


def _parse_declared(path: Path, record: EntryRecord) -> PluginMeta | None:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("plugins", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PluginError(f"{path}: cannot read ({exc})", plugin_id=record.plugin_id) from None
    own = table.get(record.plugin_id) if isinstance(table, dict) else None
    if own is None:
        return None
    if not isinstance(own, dict):
        raise PluginError(f"{path}: [plugins.{record.plugin_id}] must be a table",
                          plugin_id=record.plugin_id)
    try:
        return parse_meta({"version": record.dist_version, **own})
    except PluginError as exc:
        raise PluginError(f"{path}: {exc}", plugin_id=record.plugin_id) from None


def store_paths(record: EntryRecord) -> list[str]:
    """What goes first on the ``sys.path`` of a store version's worker: its version
    directory, so it wins over an environment copy of the same distribution."""
    return [str(Path(record.location).parent)]
