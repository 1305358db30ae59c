"""Storage: migrations, WAL, damaged or too-new databases, and parameterised writes."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT
from zepix_core import StorageError
from zepix_core.cli.main import main
from zepix_core.storage import Store
from zepix_core.storage.schema import MIGRATIONS

CORE = ROOT / "zepix_core"
TABLES = {"hosts", "plugin_versions", "activations", "plugin_status", "events",
          "health_snapshots", "alerts", "alert_deliveries", "requests"}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_migrations_build_the_schema_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "zepix.db"
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    store.begin_host("h1", 1, 100.0)
    store.close()
    assert TABLES <= _tables(path)
    again = Store(path)  # a second open migrates nothing and keeps the data
    assert again.schema_version == len(MIGRATIONS)
    assert [h["host_id"] for h in again.running_hosts()] == ["h1"]


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "zepix.db"
    store = Store(path)
    assert store.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    store.close()
    with sqlite3.connect(path) as conn:  # WAL is persistent: any later reader sees it
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err


def test_garbage_file_is_a_storage_error_saying_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "zepix.db"
    path.write_bytes(b"this is not sqlite " * 300)
    with pytest.raises(StorageError) as err:
        Store(path)
    assert str(path) in str(err.value) and "move it aside" in str(err.value)
    for command in (["history"], ["plugins", "--json"]):
        line = _one_line_error(capsys, [*command, "--db", str(path)])
        assert line.startswith("zepix: error: ") and "corrupt" in line and str(path) in line


def _corrupt_table(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage, leaving the schema readable."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        [root] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                              (table,)).fetchone()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size
    data[start:start + page_size] = bytes((i * 13 + 5) % 256 for i in range(page_size))
    path.write_bytes(bytes(data))


def test_damaged_table_fails_reads_and_writes_with_advice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "zepix.db"
    store = Store(path)
    store.begin_host("h1", 1, 1.0)
    store.open_activation("p", "1.0", "zepix-p", "h1", 2.0, "startup")
    store.close()
    _corrupt_table(path, "activations")

    damaged = Store(path)  # the schema is intact, so opening still works
    with pytest.raises(StorageError, match="corrupt: move it aside"):
        damaged.history()
    with pytest.raises(StorageError, match="corrupt: move it aside"):
        damaged.open_activation("p", "1.0", "zepix-p", "h1", 3.0, "startup")
    damaged.close()
    _one_line_error(capsys, ["history", "--db", str(path)])
    # ``run`` writes activations: it too stops with one line, not a traceback.
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "run", "--once", "--db",
                           str(path)], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "corrupt" in done.stderr


def test_newer_schema_than_known_is_refused(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "zepix.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StorageError) as err:
        Store(path)
    message = str(err.value)
    assert f"schema version {len(MIGRATIONS) + 5} is newer" in message
    assert "upgrade zepix-core" in message
    line = _one_line_error(capsys, ["history", "--db", str(path)])
    assert "upgrade zepix-core" in line


HOSTILE = "x'; DROP TABLE activations; --"


def test_writes_are_parameterised(tmp_path: Path) -> None:
    store = Store(tmp_path / "zepix.db")
    store.begin_host(HOSTILE, 1, 1.0)
    store.record_version(HOSTILE, "1.0", HOSTILE, HOSTILE, 1.0)
    aid = store.open_activation(HOSTILE, "1.0", HOSTILE, HOSTILE, 2.0, HOSTILE)
    store.close_activation(aid, 3.0, HOSTILE)
    store.set_status(HOSTILE, HOSTILE, "1.0", "ACTIVE", HOSTILE, 4.0)
    store.record_event(HOSTILE, HOSTILE, HOSTILE, 5.0, actor=HOSTILE)
    with store.version_tx(HOSTILE, 6.0) as tx:
        tx.set_deprecated("1.0", True)

    [row] = store.history(HOSTILE)
    assert (row["plugin_id"], row["activation_reason"], row["deactivation_reason"]) == (
        HOSTILE, HOSTILE, HOSTILE)
    [version] = store.versions(HOSTILE)
    assert (version["distribution"], version["deprecated"]) == (HOSTILE, 1)
    assert store.statuses()[HOSTILE]["reason"] == HOSTILE
    assert store.events(HOSTILE)[0]["detail"] == HOSTILE
    assert store.history("x") == []  # no prefix or pattern matching either
    store.close()
    assert TABLES <= _tables(tmp_path / "zepix.db")


#: Packages allowed to hold SQL: the host's storage (its own database and the central
#: ledger) and plugindb (the plugin databases, used by plugins and below the host).
SQL_OWNERS = {"storage", "plugindb"}
#: The chaos soak checks its invariants by reading the databases itself: a check that
#: went through the storage layer could not catch that layer's own mistakes.
INDEPENDENT_READERS = {"chaos"}


def test_no_sql_outside_the_storage_package() -> None:
    sql = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                     r"CREATE\s+TABLE)\b")
    offenders = [f"{path.relative_to(CORE)}:{n}"
                 for path in CORE.rglob("*.py")
                 if not (SQL_OWNERS | INDEPENDENT_READERS) & set(path.parts)
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if sql.search(line)]
    assert offenders == []


def test_two_hosts_registering_at_once_exactly_one_wins(tmp_path: Path) -> None:
    import threading

    from zepix_core.storage import Store

    path = tmp_path / "race.db"
    Store(path).close()
    stores = [Store(path) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    blocked: list[object] = []

    def start(i: int) -> None:
        barrier.wait()
        blocked.append(stores[i].begin_host(f"h{i}", 1000 + i, 1.0, lambda row: True))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(b is None for b in blocked) == 1
    assert len(stores[0].running_hosts()) == 1
    for store in stores:
        store.close()
