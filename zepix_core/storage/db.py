"""Connection, pragmas, migrations and transactions of the SQLite database."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from zepix_core.contract.errors import StorageError
from zepix_core.storage.schema import MIGRATIONS

Row = dict[str, Any]
#: A typed row of one of this package's tables (``storage.rows``).
R = TypeVar("R", bound=Mapping[str, object])


class Database:
    """One SQLite file in WAL mode, shared by the host's threads behind a lock.

    WAL with ``synchronous=NORMAL`` keeps every committed transaction when the
    process is killed (only a power loss can drop the last ones).
    """

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        #: When set, a write waits at most this many seconds for a lock held elsewhere
        #: instead of ``busy_timeout`` (a running host: ``DeferredWrites``).
        self.write_wait: float | None = None
        self._lock = threading.RLock()
        self._conn = self._connect(path, busy_timeout)
        self._migrate()

    @staticmethod
    def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        except sqlite3.DatabaseError as exc:
            raise _failure(path, "cannot open the database", exc) from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot create the database directory ({exc})") from None
        return conn

    def _migrate(self) -> None:
        with self._lock:
            current = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if current > len(MIGRATIONS):
                raise StorageError(
                    f"{self.path}: schema version {current} is newer than this zepix "
                    f"understands ({len(MIGRATIONS)}); upgrade zepix-core")
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                self._apply(version, script)

    def _apply(self, version: int, script: str) -> None:
        statements = [s.strip() for s in script.split(";") if s.strip()]
        with self.transaction() as conn:
            now = conn.execute("PRAGMA user_version").fetchone()[0]
            if now >= version:  # another process migrated while we waited
                return
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(version)}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""
        with self._lock:
            wait = self.write_wait
            try:
                if wait is not None:
                    self._conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                finally:
                    if wait is not None:
                        self._conn.execute(
                            f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            except sqlite3.DatabaseError as exc:
                raise _failure(self.path, "cannot write", exc) from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:  # SQLite may have rolled back already
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise _failure(self.path, "cannot write", exc) from None
                raise

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._lock:
            try:
                return [dict(r) for r in self._conn.execute(sql, params).fetchall()]
            except sqlite3.DatabaseError as exc:
                raise _failure(self.path, "query failed", exc) from None

    def rows_as(self, kind: type[R], sql: str, params: Sequence[object] = ()) -> list[R]:
        """``query`` for a table of this package, its rows typed as ``kind`` (a
        ``storage.rows`` class): the schema is ours, so the shape is known."""
        return cast("list[R]", self.query(sql, params))

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one write in its own transaction; returns the last row id."""
        with self.transaction() as conn:
            cur = conn.execute(sql, params)
            return int(cur.lastrowid or 0)

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: it changes when another connection (another
        process, or another ``Database`` on this file) commits, never for this one's."""
        return int(self.query("PRAGMA data_version")[0]["data_version"])

    @property
    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0]["user_version"])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _failure(path: Path, what: str, exc: sqlite3.DatabaseError) -> StorageError:
    """A ``StorageError`` that says what to do about the SQLite error ``exc``."""
    text = str(exc)
    if "malformed" in text or "not a database" in text:
        fix = "the file is corrupt: move it aside (a new one will be created) or restore a backup"
    elif "locked" in text or "busy" in text:
        fix = "another process holds the database; stop it or use --db for a separate one"
    else:
        fix = "check the file's permissions and free disk space"
    return StorageError(f"{path}: {what} ({text}); {fix}")
