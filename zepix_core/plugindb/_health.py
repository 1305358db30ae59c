"""What the host reads of a plugin database from outside: its ``db_*`` health fields
and whether the file is sound before the plugin activates."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

from zepix_core.contract.errors import StorageError
from zepix_core.plugindb._database import PluginDatabase, Row, SqlValue
from zepix_core.plugindb._pool import DatabaseLocked


class DbFields(TypedDict):
    """The health snapshot's ``db_*`` fields (None: no counts yet)."""

    db_connections_active: int | None
    db_connections_max: int | None
    db_query_time_avg_ms: float | None
    db_queries: int | None
    db_writes: int | None
    db_errors: int | None


_NONE = DbFields(db_connections_active=None, db_connections_max=None,
                 db_query_time_avg_ms=None, db_queries=None, db_writes=None, db_errors=None)


def health_fields(db: PluginDatabase) -> DbFields:
    """The health snapshot's ``db_*`` fields for ``db``'s plugin.

    Live counts when ``db`` is open in this process (an in-process plugin),
    else the counts the plugin's own process last wrote to the file (a worker).
    """
    if db.opened:
        stats = db.stats()
        counts: Mapping[str, SqlValue] | None = {
            "queries": stats.queries, "query_time_ms": stats.query_time_ms,
            "writes": stats.writes, "errors": stats.errors,
            "connections_active": stats.connections_active,
            "connections_max": stats.connections_max}
    else:
        counts = _saved_counts(db)
    if not counts:
        return _NONE.copy()
    queries = _whole(counts.get("queries"))
    return DbFields(db_connections_active=_whole(counts.get("connections_active")),
                    db_connections_max=_whole(counts.get("connections_max")),
                    db_query_time_avg_ms=(_number(counts.get("query_time_ms")) / queries
                                          if queries else 0.0),
                    db_queries=queries, db_writes=_whole(counts.get("writes")),
                    db_errors=_whole(counts.get("errors")))


def _number(value: SqlValue) -> float:
    """A count read back from the file: a number, else 0 (the plugin owns the file)."""
    return float(value) if isinstance(value, int | float) else 0.0


def _whole(value: SqlValue) -> int:
    return int(_number(value))


def _signature(path: Path) -> tuple[int, ...] | None:
    """What changes when anyone writes ``path`` (its WAL included); None if absent."""
    try:
        main = path.stat()
    except OSError:
        return None
    try:
        wal = Path(f"{path}-wal").stat()
        tail: tuple[int, ...] = (wal.st_ino, wal.st_mtime_ns, wal.st_size)
    except OSError:
        tail = ()
    return (main.st_dev, main.st_ino, main.st_mtime_ns, main.st_size, *tail)


def _saved_counts(db: PluginDatabase) -> Row | None:
    """The counts the plugin's process last saved, read again only when the file
    changed since the last read (a round over 1,000 plugins opened 1,000 files)."""
    before = _signature(db.path)
    if before is None:
        return None
    cached = db.read_cache
    if cached is not None and cached[0] == before:
        return cached[1]
    reader = PluginDatabase(db.path, db.plugin_id, track=False, lock_wait=0.2)
    try:
        counts = reader.saved_stats()
    except StorageError:
        counts = None
    finally:
        reader.close()
    after = _signature(db.path)
    # Kept only when the file did not move while it was read (a checkpoint or a write
    # in between means the next round reads again).
    db.read_cache = (after, counts) if after == before else None
    return counts


def prepare(db: PluginDatabase) -> str | None:
    """Create, migrate and check ``db`` before its plugin activates, then close it.

    Returns why the plugin cannot use it (a corrupt or unreadable file, named),
    or None. A file another process keeps locked is not a reason: the plugin
    activates and its calls retry.
    """
    signature = _signature(db.path)
    if signature is None or _CHECKED.get(str(db.path)) == signature:
        # No file yet: nothing can be damaged, and the plugin creates it on first use
        # (1,000 plugins no longer create 1,000 files before the first can start).
        # A file unchanged since it passed here in this process is not checked again.
        return None
    try:
        db.open().check()
    except DatabaseLocked:
        return None
    except StorageError as exc:
        return str(exc)
    finally:
        db.close()
    _CHECKED[str(db.path)] = _signature(db.path)
    return None


#: Files ``prepare`` found sound in this process, with their signature then.
_CHECKED: dict[str, tuple[int, ...] | None] = {}


