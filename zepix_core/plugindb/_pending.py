"""What the sync lag reads of a plugin database, cheaply: one query on a short-lived
connection, without ``PluginDatabase``'s pool and migrations (``zepix status``,
``GET /api/v1/status`` and /metrics read it for every plugin database, every poll)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from zepix_core.contract.errors import StorageError
from zepix_core.plugindb import _schema as q


def oldest_change(path: Path, rev: int, lock_wait: float = 2.0) -> float | None:
    """When the oldest change after ``rev`` in the plugin database at ``path`` was made
    (None: there is none). ``StorageError`` when the file cannot be read (missing,
    locked past ``lock_wait`` seconds, not a database, no trades table yet)."""
    try:
        # mode=rw: never creates a file that is not there; nothing is written.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True,
                               timeout=lock_wait)
        try:
            row = conn.execute(q.SELECT_OLDEST_CHANGE, (rev,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StorageError(f"plugin database {path}: cannot read its pending changes "
                           f"({exc})") from None
    return None if row is None or row[0] is None else float(row[0])
