"""The sync manager: copy new and changed trades of every plugin database into the ledger.

A run walks the plugin databases found on disk (``plugins/<id>/zepix_<id>.db``
in the data directory, so a disabled or failed plugin's trades still reach
the ledger). Per plugin it reads the trades changed after its cursor for this
target (cursors are per plugin and per ``[sync] url``, so a new target gets
every trade), in batches, upserts each batch into the central ledger through the retry
framework (operation ``sync``), and moves the cursor only after the ledger
committed. A host killed mid-run leaves the cursor behind the ledger; the next
run copies those rows again and the upsert keeps one row per trade.

A plugin database that cannot be read (corrupt, locked past its wait) fails
that plugin only. A ledger that stays down after the retries fails the run:
the remaining plugins count a failure without more tries, local recording goes
on, and the next run catches up from the cursors. Consecutive failures of a
plugin become a WARNING and then a CRITICAL alert decision; a success resolves
it. The host raises the decisions on its own thread.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from zepix_core.contract.errors import StorageError, ZepixError, describe
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel
from zepix_core.contract.redact import redact_source, redact_text
from zepix_core.loading.syncconfig import SyncSettings, host_prefix
from zepix_core.plugindb import PluginDatabase
from zepix_core.retry import Retrier, RetryFailed
from zepix_core.storage.central import Ledger, open_ledger
from zepix_core.sync.rows import BadRow, checked

log = logging.getLogger("zepix.sync")

#: The retry framework's operation name for ledger calls (CONTRACT section 13).
OPERATION = "sync"


class SyncBook(Protocol):
    """The host database's side of syncing (``storage.SyncQueries``)."""

    def sync_host_id(self, prefix: str) -> str: ...
    def sync_cursor(self, plugin_id: str, database: str, target: str) -> int: ...
    def advance_sync_cursor(self, plugin_id: str, target: str,
                            revs: Sequence[int]) -> None: ...
    def reset_sync_cursors(self, target: str, plugin_id: str | None = None) -> int: ...
    def adopt_sync_cursors(self, target: str, same: Callable[[str], bool]) -> int: ...
    def sync_succeeded(self, plugin_id: str, now: float, lag: float | None,
                       recovered: str | None = None) -> None: ...
    def sync_failed(self, plugin_id: str, now: float, error: str, lag: float | None) -> int: ...
    def begin_sync_run(self, started_at: float, trigger: str, target: str) -> int: ...
    def end_sync_run(self, run_id: int, ended_at: float, ok: bool, rows: int, plugins: int,
                     failed: int, failed_tries: int, error: str | None) -> None: ...


@dataclass(frozen=True)
class AlertDecision:
    """An alert for the host to raise (``firing``) or resolve, per plugin, kind ``sync``."""

    plugin_id: str
    level: AlertLevel
    message: str
    firing: bool


@dataclass(frozen=True)
class PluginSync:
    plugin_id: str
    rows: int
    error: str | None = None
    failures: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SyncRun:
    run_id: int
    trigger: str
    started_at: float
    ended_at: float
    plugins: tuple[PluginSync, ...]
    error: str | None = None
    alerts: tuple[AlertDecision, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and all(p.ok for p in self.plugins)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.plugins)


def plugin_databases(plugins_dir: Path) -> dict[str, Path]:
    """Every plugin database under ``plugins_dir``, by plugin id."""
    found = {}
    for folder in sorted(p for p in plugins_dir.glob("*") if p.is_dir()):
        path = folder / f"zepix_{folder.name}.db"
        if path.is_file():
            found[folder.name] = path
    return found


class _LedgerDown(ZepixError):
    """The ledger stayed unreachable through the retries; the rest of the run is skipped."""


class SyncManager:
    """Runs syncs (``run``); the host's timer and ``zepix sync --now`` call it."""

    def __init__(self, book: SyncBook, settings: SyncSettings, plugins_dir: Path, *,
                 retrier: Retrier | None = None, wall: Callable[[], float] = time.time,
                 connect: Callable[[SyncSettings], Ledger] | None = None) -> None:
        self.book = book
        self.settings = settings
        self.plugins_dir = plugins_dir
        self.retrier = retrier or Retrier()
        self._wall = wall
        self._connect = connect or _connect
        self._ledger: Ledger | None = None
        self._down: str | None = None  # why the ledger is out of reach for this run
        self._failed_tries: list[tuple[str, str]] = []  # (plugin id, error) of this run
        self.host_id = settings.host_id or book.sync_host_id(host_prefix())

    @property
    def target(self) -> str:
        return target_of(self.settings.url)

    def backfill(self, plugin_id: str | None = None) -> SyncRun:
        """Send every trade (of ``plugin_id``, else of every plugin) to the target again:
        idempotent, since the ledger keeps one row per trade."""
        self._adopt()
        self.book.reset_sync_cursors(self.target, plugin_id)
        return self.run("backfill", only=plugin_id)

    def run(self, trigger: str = "timer", only: str | None = None) -> SyncRun:
        """Sync every plugin database once; never raises for a ledger or database fault."""
        started = self._wall()
        self._adopt()
        run_id = self.book.begin_sync_run(started, trigger, self.target)
        results: list[PluginSync] = []
        alerts: list[AlertDecision] = []
        self._down = None
        self._failed_tries = []
        try:
            for plugin_id, path in plugin_databases(self.plugins_dir).items():
                if only is not None and plugin_id != only:
                    continue
                result = self._one(plugin_id, path)
                results.append(result)
                alerts.extend(self._alert(result))
        finally:
            self._close()
        down = self._down
        ended = self._wall()
        run = SyncRun(run_id, trigger, started, ended, tuple(results), down, tuple(alerts))
        failed = sum(1 for r in results if not r.ok)
        tries = len(self._failed_tries)
        self.book.end_sync_run(run_id, ended, run.ok, run.rows, len(results), failed, tries,
                               down or next((r.error for r in results if r.error), None))
        log.info("sync run", extra=fields(trigger=trigger, ok=run.ok, rows=run.rows,
                                            plugins=len(results), failed=failed,
                                            failed_tries=tries, target=self.target))
        return run

    def _one(self, plugin_id: str, path: Path) -> PluginSync:
        cursor = self.book.sync_cursor(plugin_id, str(path), self.target)
        db = PluginDatabase(path, plugin_id, track=False, lock_wait=2.0)
        copied = 0
        try:
            if self._down is not None:  # no more tries in this run
                raise _LedgerDown(self._down)
            while found := db.changes_since(cursor, self.settings.batch):
                rows = [checked(r, str(path)) for r in found]
                self._upsert(plugin_id, rows)
                cursor = int(rows[-1]["rev"])
                self.book.advance_sync_cursor(plugin_id, self.target,
                                              [int(r["rev"]) for r in rows])
                copied += len(rows)
        except (StorageError, BadRow, RetryFailed, _LedgerDown) as exc:
            error = _ledger_text(exc) if isinstance(exc, RetryFailed) else str(exc)
            if isinstance(exc, RetryFailed) and exc.outcome.result != "permanent":
                self._down = error
            failures = self.book.sync_failed(plugin_id, self._wall(), error,
                                             self._lag(db, cursor))
            log.warning("sync failed", extra=fields(plugin=plugin_id, error=error,
                                                    failures=failures, copied=copied))
            return PluginSync(plugin_id, copied, error, failures)
        finally:
            db.close()
        tries = [error for pid, error in self._failed_tries if pid == plugin_id]
        recovered = (f"recovered after {len(tries)} failed tr{'y' if len(tries) == 1 else 'ies'}: "
                     f"{tries[-1]}" if tries else None)
        self.book.sync_succeeded(plugin_id, self._wall(), 0.0, recovered)
        return PluginSync(plugin_id, copied)

    def _upsert(self, plugin_id: str, rows: Sequence[Mapping[str, object]]) -> None:
        def attempt() -> None:
            try:
                if self._ledger is None:
                    self._ledger = self._connect(self.settings)
                self._ledger.upsert(self.host_id, plugin_id, rows, self._wall())
            except Exception as exc:
                self._failed_tries.append((plugin_id, redact_text(describe(exc))))
                self._close()  # a broken connection is not reused by the next try
                raise
        self.retrier.run(OPERATION, attempt)

    def _adopt(self) -> None:
        """Cursors kept under another spelling of this target (before spellings were
        made one, see ``target_of``) are this target's."""
        target = self.target
        self.book.adopt_sync_cursors(target, lambda other: target_of(other) == target)

    def _lag(self, db: PluginDatabase, cursor: int) -> float | None:
        try:
            oldest, _ = db.pending(cursor)
        except StorageError:
            return None
        return None if oldest is None else max(0.0, self._wall() - oldest)

    def _alert(self, result: PluginSync) -> list[AlertDecision]:
        s = self.settings
        if result.ok:
            return [AlertDecision(result.plugin_id, AlertLevel.INFO, "sync caught up", False)]
        if result.failures < s.warn_after:
            return []
        level = AlertLevel.CRITICAL if result.failures >= s.critical_after else AlertLevel.WARNING
        message = (f"sync of {result.plugin_id} to {self.target} failed "
                   f"{result.failures} times in a row: {result.error}")
        return [AlertDecision(result.plugin_id, level, message, True)]

    def _close(self) -> None:
        ledger, self._ledger = self._ledger, None
        if ledger is not None:
            try:
                ledger.close()
            except Exception as exc:  # noqa: BLE001 - closing a broken connection may fail
                log.debug("ledger close failed", extra=fields(error=describe(exc)))


def target_of(url: str) -> str:
    """The ledger ``url`` as shown and as the cursors' key: one spelling per ledger, so
    writing the same ledger another way keeps its cursors (no re-sync, no split).
    A SQLite file is ``sqlite://`` and its real path (``sqlite:////a/b``,
    ``sqlite:///a/./b`` and a symlink to it are one target); PostgreSQL is
    ``postgresql://HOST[:PORT]/DATABASE``, host in lower case, port 5432 left out, and
    user information and query (where a password may be) never shown."""
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        # a relative path is refused when the ledger is opened; shown as written
        return f"sqlite://{os.path.realpath(path)}" if path.startswith("/") else url
    parts = urlsplit(redact_source(url))
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:  # not a number: shown as written, the connection says why
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    host = f"[{host}]" if ":" in host else host
    netloc = host if port in (None, POSTGRES_PORT) else f"{host}:{port}"
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, netloc, parts.path, "", ""))


#: PostgreSQL's port when a URL names none.
POSTGRES_PORT = 5432


def _connect(settings: SyncSettings) -> Ledger:
    return open_ledger(settings.url, password=settings.password(),
                       connect_timeout=settings.connect_timeout)


def _ledger_text(exc: RetryFailed) -> str:
    """One line on a ledger failure: the driver's error, credentials hidden."""
    cause = exc.__cause__ or exc
    tries = exc.outcome.attempts
    return (f"central ledger unreachable after {tries} tr{'y' if tries == 1 else 'ies'}: "
            f"{redact_text(describe(cause))}")
