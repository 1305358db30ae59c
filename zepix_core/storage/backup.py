"""Consistent copies of SQLite files with SQLite's online backup API.

``copy_database`` reads a database page by page while other connections keep writing
(WAL mode): the copy is the database as of one moment, never a torn file. The CLI's
``zepix backup`` and ``zepix restore`` decide which files (``zepix.db``, the central
ledger, every plugin database).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from zepix_core.contract.errors import StorageError


def copy_database(source: Path, target: Path, *, busy_timeout: float = 30.0) -> int:
    """Copy the SQLite database ``source`` into ``target`` (replaced); returns its size
    in bytes. ``StorageError`` names the file and what to do."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (target, target.with_name(target.name + "-wal"),
                     target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise StorageError(f"{source}: cannot open for a backup ({exc})") from None
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=256)
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StorageError(f"{target}: the copy of {source} fails its check ({check})")
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StorageError(f"{source}: backup to {target} failed ({exc}); check free disk "
                           "space and permissions") from None
    finally:
        src.close()
    return target.stat().st_size
