"""Sync throughput: 100,000 trades from a plugin database into the central ledger.

Figures: rows per second of one ``SyncManager.run`` (cursor reads in batches
of ``[sync] batch`` = 1,000, upserts through the retry framework, cursor
writes) into a fresh ledger in SQLite and in PostgreSQL (a throwaway server
started like the tests do, ``tests/pgserver.py``). Baselines, same rows, same
run: one ``executemany`` of plain INSERTs into SQLite in a single transaction,
and PostgreSQL's ``COPY``, the fastest bulk load each engine offers.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from zepix_core.loading.syncconfig import PASSWORD_ENV, SyncSettings
from zepix_core.plugindb import PluginDatabase, database_file
from zepix_core.retry import Retrier
from zepix_core.storage import Store
from zepix_core.storage.central import COLUMNS, SCHEMA, TRADE_FIELDS
from zepix_core.sync import SyncManager

T0 = 1_767_225_600.0


def _plugin_db(home: Path, count: int) -> Path:
    path = database_file("bench", home / "plugins" / "bench")
    PluginDatabase(path).open().close()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO trades (ref, symbol, side, quantity, entry_price, stop, target, "
            "opened_at, status, exit_price, closed_at, pnl, reason, updated_at, rev) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'closed', ?, ?, ?, ?, ?, ?)",
            [(f"T{i}", f"S{i % 50}", "buy" if i % 2 else "sell", 1.0 + i % 7, 100.0 + i % 13,
              95.0, 110.0, T0 + i, 101.0, T0 + i + 60, 1.0, "bench", T0 + i + 60, i + 1)
             for i in range(count)])
    return path


def _sync(home: Path, url: str) -> tuple[float, int]:
    store = Store(home / f"zepix-{time.monotonic_ns()}.db")
    manager = SyncManager(store, SyncSettings(url=url), home / "plugins", retrier=Retrier())
    started = time.perf_counter()
    run = manager.run("bench")
    took = time.perf_counter() - started
    store.close()
    assert run.ok, run.error
    return took, run.rows


def _rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [("h", "bench", r["id"], *(r[f] for f in TRADE_FIELDS), T0)
                for r in conn.execute("SELECT * FROM trades")]


def _sqlite_baseline(target: Path, rows: list[tuple[Any, ...]]) -> float:
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(SCHEMA)
    marks = ", ".join("?" for _ in COLUMNS)
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO aggregated_trades VALUES ({marks})", rows)
    conn.execute("COMMIT")
    took = time.perf_counter() - started
    conn.close()
    return took


def _postgres_baseline(url: str, password: str, rows: list[tuple[Any, ...]]) -> float:
    import psycopg

    with psycopg.connect(url, password=password) as conn:
        conn.execute(SCHEMA)
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
                f"COPY aggregated_trades ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def run(quick: bool = False) -> list[dict[str, Any]]:
    count = 20_000 if quick else 100_000
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        rows = _rows(_plugin_db(home, count))
        took, copied = _sync(home, f"sqlite://{home / 'central.db'}")
        base = _sqlite_baseline(home / "baseline.db", rows)
        figures.append({"bench": "sync", "what": f"{copied:,} trades into SQLite",
                        "seconds": took, "ratio": took / base,
                        "rows_per_s": round(copied / took),
                        "baseline": f"executemany INSERT, one transaction: "
                                    f"{round(count / base):,} rows/s"})
        figures.append(_postgres(home, rows, count))
    return figures


def _postgres(home: Path, rows: list[tuple[Any, ...]], count: int) -> dict[str, Any]:
    from tests.pgserver import PASSWORD, PgServer

    server = PgServer()
    try:
        server.start()
        os.environ[PASSWORD_ENV] = PASSWORD
        took, copied = _sync(home, server.create_database("bench"))
        base = _postgres_baseline(server.create_database("baseline"), PASSWORD, rows)
    finally:
        server.destroy()
    return {"bench": "sync", "what": f"{copied:,} trades into PostgreSQL", "seconds": took,
            "ratio": took / base, "rows_per_s": round(copied / took),
            "baseline": f"COPY: {round(count / base):,} rows/s"}
