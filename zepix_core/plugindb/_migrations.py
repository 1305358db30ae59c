"""Migrations of a plugin database: the host-owned tables (``MIGRATIONS``) and the
plugin's own (``PluginDatabase.migrate``, versions kept in ``plugin_schema``)."""

from __future__ import annotations

import sqlite3
from functools import partial

from zepix_core.contract.errors import StorageError
from zepix_core.contract.plugindata import Migration
from zepix_core.plugindb import _schema as q
from zepix_core.plugindb._pool import Pool, failure


def migrate_host_tables(pool: Pool) -> None:
    """Bring the host-owned tables of ``pool``'s file up to ``MIGRATIONS``."""
    with pool.borrow() as conn:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            current = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise failure(pool.path, "cannot open", exc) from None
    if current > len(q.MIGRATIONS):
        raise StorageError(f"plugin database {pool.path}: schema version {current} is newer "
                           f"than this zepix understands ({len(q.MIGRATIONS)}); "
                           "upgrade zepix-core")
    for version, script in enumerate(q.MIGRATIONS[current:], start=current + 1):
        pool.run(f"migrate to {version}", partial(_apply, version=version, script=script),
                 write=True, counted=False)


def _apply(conn: sqlite3.Connection, version: int, script: str) -> None:
    if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
        return  # another process migrated while we waited
    for statement in (s.strip() for s in script.split(";")):
        if statement:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {int(version)}")


def plugin_version(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(q.SELECT_PLUGIN_SCHEMA, (name,)).fetchone()
    return 0 if row is None else int(row[0])


def plugin_step(conn: sqlite3.Connection, name: str, version: int, step: Migration,
                 now: float) -> None:
    if plugin_version(conn, name) >= version:
        return
    if callable(step):
        step(conn)
    else:
        for statement in (s.strip() for s in step.split(";")):
            if statement:
                conn.execute(statement)
    conn.execute(q.SAVE_PLUGIN_SCHEMA, (name, version, now))
