"""Issue 19: what a first-time operator tripped over, each pinned by a test."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from zepix_core.storage import Store
from zepix_core.storage.schema import MIGRATIONS


def test_the_misspelt_canary_abort_events_are_renamed_by_a_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    mine = next(i for i, script in enumerate(MIGRATIONS) if "canary_abortd" in script)
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:mine]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {mine}")
    conn.executemany("INSERT INTO events (ts, plugin_id, kind, version, actor, detail) "
                     "VALUES (?, 'alpha', ?, '1.1.0', 'alice', 'x')",
                     [(1.0, "canary_abortd"), (2.0, "canary_promoted")])
    conn.commit()
    conn.close()
    store = Store(path)
    try:
        kinds = [e["kind"] for e in store.events("alpha")]
    finally:
        store.close()
    assert kinds == ["canary_promoted", "canary_aborted"]
