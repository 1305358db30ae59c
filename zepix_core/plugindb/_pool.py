"""Connections of one plugin database: a small pool, lock retries and query statistics.

SQLite serialises writers per file. Another process holding the file (a
backup, the sync manager, an operator's ``sqlite3`` shell) makes a write wait
up to ``busy_timeout``; past that, ``run`` retries with backoff for up to
``lock_wait`` seconds before giving up with a ``StorageError`` that says the
file is locked. A lock is never fatal to the host: the plugin's call fails
and the next one tries again.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from zepix_core.contract.errors import StorageError

T = TypeVar("T")

#: Milliseconds SQLite itself waits for a lock before a statement fails.
BUSY_TIMEOUT_MS = 200


@dataclass(frozen=True)
class DbStats:
    """Query counts and time of one process's use of a plugin database."""

    queries: int = 0
    query_time_ms: float = 0.0
    connections_active: int = 0
    connections_open: int = 0
    connections_max: int = 0
    writes: int = 0        # write transactions (inserts and updates) that committed
    errors: int = 0        # calls that failed (a lock outlasting lock_wait included)

    @property
    def query_time_avg_ms(self) -> float:
        return self.query_time_ms / self.queries if self.queries else 0.0


class DatabaseLocked(StorageError):
    """The file stayed locked by another process for the whole ``lock_wait``."""


def locked(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "malformed" in text or "not a database" in text or "corrupt" in text


def failure(path: Path, what: str, exc: sqlite3.Error) -> StorageError:
    """A ``StorageError`` naming the file, what failed and what to do."""
    if corrupt(exc):
        fix = "the file is corrupt: move it aside (a new one is created) or restore a backup"
    elif locked(exc):
        fix = "another process holds it locked; the next call tries again"
    else:
        fix = "check the file's permissions and free disk space"
    kind = DatabaseLocked if locked(exc) and not corrupt(exc) else StorageError
    return kind(f"plugin database {path}: {what} ({exc}); {fix}")


class Pool:
    """Up to ``size`` connections to ``path``, lent one at a time to a thread."""

    def __init__(self, path: Path, size: int = 4, *, lock_wait: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = path
        self.size = size
        self.lock_wait = lock_wait
        self._sleep = sleep
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._open = self._active = self._queries = 0
        self._writes = self._errors = 0
        self._time_ms = 0.0
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise failure(self.path, "cannot open", exc) from None
        return conn

    @contextmanager
    def borrow(self) -> Iterator[sqlite3.Connection]:
        """A connection of the pool for the duration of the block."""
        conn = self._take()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.rollback()
            with self._lock:
                self._active -= 1
                closed = self._closed
            if closed:
                conn.close()
            else:
                self._idle.put(conn)

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise StorageError(f"plugin database {self.path} is closed")
            self._active += 1
            grow = self._idle.empty() and self._open < self.size
            if grow:
                self._open += 1
        if grow:
            try:
                return self._connect()
            except StorageError:
                with self._lock:
                    self._open -= 1
                    self._active -= 1
                raise
        return self._idle.get()

    def run(self, what: str, work: Callable[[sqlite3.Connection], T], *,
            write: bool = False, counted: bool = True) -> T:
        """``work(conn)`` on a pooled connection, in a transaction when ``write``;
        retried while the file is locked, for up to ``lock_wait`` seconds."""
        deadline = time.monotonic() + self.lock_wait
        pause = 0.02
        while True:
            started = time.perf_counter()
            try:
                with self.borrow() as conn:
                    value = _transact(conn, work) if write else work(conn)
            except sqlite3.Error as exc:
                if not locked(exc) or time.monotonic() + pause > deadline:
                    with self._lock:
                        self._errors += counted
                    raise failure(self.path, what, exc) from None
                self._sleep(pause)
                pause = min(pause * 2, 0.5)
                continue
            if counted:
                with self._lock:
                    self._queries += 1
                    self._writes += write
                    self._time_ms += (time.perf_counter() - started) * 1000
            return value

    def stats(self) -> DbStats:
        with self._lock:
            return DbStats(self._queries, self._time_ms, self._active, self._open, self.size,
                           self._writes, self._errors)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self._open -= 1
            conn.close()


def _transact(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        value = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return value


def pid() -> int:
    return os.getpid()
