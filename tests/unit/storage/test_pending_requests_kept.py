"""``Store.pending_requests`` (and ``open_canaries``, ``deprecated_versions``) read their
tables only when they may have changed (issue 26, ``storage.kept``).

A running host asks for pending requests several times a round (restart, breaker,
reload, alert tests, versions, canaries), almost always for none. The rows are
kept until another connection commits (``PRAGMA data_version``) or this one writes
to ``requests`` (a TEMP trigger counts it). These pin that every way a request
can appear or end is still seen at the next call, and that an idle call makes no
query of the table.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT
from zepix_core.storage import Store


def _traced(store: Store) -> list[str]:
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    return statements


def test_requests_from_another_connection_and_this_one_are_seen_at_the_next_call(
        tmp_path: Path) -> None:
    db = tmp_path / "zepix.db"
    host, shell = Store(db), Store(db)
    try:
        assert host.pending_requests() == []
        first = shell.add_request("alpha", "restart", "ops", 1.0)  # another connection
        assert [r["id"] for r in host.pending_requests("restart")] == [first]
        assert host.pending_requests("reload") == []
        mine = host.add_request("beta", "reload", "api", 2.0)  # this connection
        assert [r["id"] for r in host.pending_requests()] == [first, mine]
        assert [r["id"] for r in host.pending_requests(plugin_id="beta")] == [mine]
        assert host.finish_request(first, 3.0, "restarted")
        assert [r["id"] for r in host.pending_requests()] == [mine]
        assert shell.finish_request(mine, 4.0, "applied")  # ended by another connection
        assert host.pending_requests() == []
        with host.version_tx("gamma", 5.0) as tx:  # a write of the versions' own SQL
            tx.conn.execute("INSERT INTO requests (plugin_id, action, actor, requested_at) "
                            "VALUES ('gamma', 'upgrade', 'ops', 5.0)")
        assert [r["plugin_id"] for r in host.pending_requests()] == ["gamma"]
        host.execute("DELETE FROM requests WHERE plugin_id = 'gamma'")
        assert host.pending_requests() == []
    finally:
        host.close()
        shell.close()


def test_a_request_written_by_another_process_is_seen(tmp_path: Path) -> None:
    db = tmp_path / "zepix.db"
    host = Store(db)
    try:
        assert host.pending_requests() == []
        code = ("import sys; from pathlib import Path; from zepix_core.storage import Store; "
                "s = Store(Path(sys.argv[1])); s.add_request('alpha', 'restart', 'ops', 1.0)")
        subprocess.run([sys.executable, "-c", code, str(db)], check=True, cwd=ROOT,
                       timeout=60)
        assert [r["plugin_id"] for r in host.pending_requests("restart")] == ["alpha"]
    finally:
        host.close()


def test_an_idle_call_makes_no_query_of_the_table(tmp_path: Path) -> None:
    host = Store(tmp_path / "zepix.db")
    try:
        host.add_request("alpha", "restart", "ops", 1.0)
        host.pending_requests()
        statements = _traced(host)
        for action in ("restart", "reload", "alerts_test", None):
            host.pending_requests(action)
        assert statements and all(s == "PRAGMA data_version" for s in statements), statements
        host.add_request("beta", "restart", "ops", 2.0)
        statements.clear()
        assert len(host.pending_requests("restart")) == 2
        assert any("FROM requests" in s for s in statements)
    finally:
        host.close()


def test_a_row_changed_by_a_caller_does_not_change_what_is_kept(tmp_path: Path) -> None:
    host = Store(tmp_path / "zepix.db")
    try:
        host.add_request("alpha", "restart", "ops", 1.0)
        [row] = host.pending_requests()
        row["action"] = "reload"
        assert [r["action"] for r in host.pending_requests()] == ["restart"]
    finally:
        host.close()


def test_requests_written_before_the_store_opened_are_read(tmp_path: Path) -> None:
    db = tmp_path / "zepix.db"
    Store(db).close()
    writer = sqlite3.connect(db)
    writer.execute("INSERT INTO requests (plugin_id, action, actor, requested_at) "
                   "VALUES ('alpha', 'restart', 'ops', 1.0)")
    writer.commit()
    writer.close()
    host = Store(db)
    try:
        assert [r["plugin_id"] for r in host.pending_requests()] == ["alpha"]
    finally:
        host.close()


def test_the_trigger_works_with_an_untrusted_schema(tmp_path: Path) -> None:
    # A SQLite built with trusted_schema off refuses application functions in the
    # schema's triggers; a TEMP trigger is not the schema's, so writes still work.
    host = Store(tmp_path / "zepix.db")
    try:
        host._conn.execute("PRAGMA trusted_schema = OFF")
        assert host.pending_requests() == []
        mine = host.add_request("alpha", "restart", "ops", 1.0)
        assert [r["id"] for r in host.pending_requests()] == [mine]
        assert host.finish_request(mine, 2.0, "done")
        assert host.pending_requests() == []
    finally:
        host.close()


def test_open_canaries_and_deprecated_versions_follow_every_write(tmp_path: Path) -> None:
    # The two other reads every round makes, kept the same way.
    db = tmp_path / "zepix.db"
    host, shell = Store(db), Store(db)
    try:
        assert host.open_canaries() == [] and host.deprecated_versions() == set()
        asked = shell.add_request("alpha", "canary", "ops", 1.0)
        with shell.version_tx("alpha", 1.0) as tx:  # another connection
            tx.ensure_version("1.0.0", "zx-alpha", "store")
            tx.set_deprecated("1.0.0", True)
            run = tx.open_canary("1.1.0", "1.0.0", asked)
        assert host.deprecated_versions() == {("alpha", "1.0.0")}
        assert [r["id"] for r in host.open_canaries()] == [run]
        with host.version_tx("alpha", 2.0) as tx:  # this connection
            tx.set_deprecated("1.0.0", False)
            tx.end_canary(run, "aborted", "ops", "enough")
        assert host.deprecated_versions() == set() and host.open_canaries() == []
        host.record_version("beta", "2.0.0", "zx-beta", "environment", 3.0)
        host.execute("UPDATE plugin_versions SET deprecated = 1 WHERE plugin_id = 'beta'")
        found = host.deprecated_versions()
        assert found == {("beta", "2.0.0")}
        found.clear()  # a caller's copy
        assert host.deprecated_versions() == {("beta", "2.0.0")}
        statements = _traced(host)
        host.deprecated_versions()
        host.open_canaries()
        assert statements == ["PRAGMA data_version", "PRAGMA data_version"]
    finally:
        host.close()
        shell.close()
