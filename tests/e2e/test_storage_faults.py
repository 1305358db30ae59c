"""A locked or full database never stops trading (issue 10, item 4).

Defect covered: a ``StorageError`` during a round (the database locked past
``busy_timeout`` by a backup tool, or a full disk) escaped and stopped every
strategy, and shutdown stopped halfway when its writes failed.

The lock is held by a real second process (``BEGIN IMMEDIATE``); the full
file system is real too: a child process runs the host under ``RLIMIT_FSIZE``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.locker import LOCKER, locked
from tests.paths import ROOT
from tests.waiting import wait_for
from zepix_core import PluginState
from zepix_core.contract.errors import StorageError
from zepix_core.health.alerting import HOST_ALERTS
from zepix_core.host.host import Host, create_host
from zepix_core.storage import Store

CONFIG = """
[host]
db_busy_timeout = 0.2
bars_per_round = 2
warmup_bars = 0
"""





def _host(dists: DistFactory, tmp_path: Path, *ids: str) -> Host:
    for pid in ids:
        dists.add(f"zepix-{pid}", "1.0.0", {pid: f"{pid}_mod:Plugin"}, {f"{pid}_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text(CONFIG, encoding="utf-8")
    host = create_host(config, tmp_path / "zepix.db", paths=[str(dists.root)])
    host.store.defer_writes = True  # as Host.run does
    host.start()
    return host


def _plugin(host: Host, pid: str) -> object:
    runner = host.slots[pid].runner
    return runner.pm.get_plugin(pid)  # type: ignore[union-attr]


def test_a_database_locked_past_busy_timeout_stops_nothing(
        dists: DistFactory, tmp_path: Path) -> None:
    host = _host(dists, tmp_path, "alpha", "bravo")
    try:
        host.round()
        with locked(tmp_path / "zepix.db"):
            before = _plugin(host, "alpha").bars  # type: ignore[attr-defined]
            for _ in range(3):
                bars, _ = host.work()
                summary = host.round()
                assert bars > 0 and summary.startswith("round")
            assert _plugin(host, "alpha").bars > before  # type: ignore[attr-defined]
            assert host.store.outage is not None and "locked" in host.store.outage
            assert host.store.pending >= 3  # each locked round's snapshots wait
            assert f"{HOST_ALERTS}:database" in host.monitor.alerting.open_fingerprints()
        host.round()
        assert host.store.outage is None and host.store.pending == 0
    finally:
        host.shutdown()
    store = Store(tmp_path / "zepix.db")
    assert len(store.snapshots("alpha")) == 5  # none of the locked rounds is lost
    [alert] = store.alerts(plugin_id=HOST_ALERTS)
    assert alert["level"] == "CRITICAL" and "unavailable" in alert["message"]
    assert alert["resolved"]
    assert all(r["deactivated_at"] is not None for r in store.history())


def test_shutdown_deactivates_every_plugin_while_its_writes_fail(
        dists: DistFactory, tmp_path: Path) -> None:
    host = _host(dists, tmp_path, "alpha", "bravo", "charlie")
    plugins = [_plugin(host, pid) for pid in ("alpha", "bravo", "charlie")]
    with locked(tmp_path / "zepix.db"):
        host.shutdown()
    assert [p.active for p in plugins] == [False, False, False]  # type: ignore[attr-defined]
    assert {s.state for s in host.slots.values()} == {PluginState.INACTIVE}


FULL_DISK = """
import json, os, resource, signal, sqlite3, sys
from zepix_core.host.host import create_host

root, config, db = sys.argv[1:4]
sys.path.insert(0, root)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
host = create_host(config, db, paths=[root])
host.store.defer_writes = True
host.start()
host.round()
sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the next write must grow a file
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))  # no file may grow past 1 KiB
plugin = host.slots["alpha"].runner.pm.get_plugin("alpha")
before = plugin.bars
for _ in range(3):
    host.work()
    host.round()
during = {"outage": host.store.outage, "pending": host.store.pending,
          "bars": plugin.bars - before,
          "alert": "zepix:database" in host.monitor.alerting.open_fingerprints()}
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
host.round()
after = {"outage": host.store.outage, "pending": host.store.pending}
host.shutdown()
print(json.dumps({"during": during, "after": after}))
"""


@pytest.mark.slow
def test_a_full_file_system_stops_nothing(dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-alpha", "1.0.0", {"alpha": "alpha_mod:Plugin"},
              {"alpha_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text(CONFIG, encoding="utf-8")
    db = tmp_path / "zepix.db"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(FULL_DISK), str(dists.root),
                           str(config), str(db)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    during, after = report["during"], report["after"]
    assert during["outage"] and during["pending"] >= 3 and during["bars"] > 0
    assert during["alert"] is True
    assert after == {"outage": None, "pending": 0}
    assert len(Store(db).snapshots("alpha")) == 5


def test_the_buffer_is_bounded_and_spills_to_a_journal_nothing_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zepix_core.storage import deferred

    monkeypatch.setattr(deferred, "PENDING_LIMIT", 3)
    db = tmp_path / "zepix.db"
    store = Store(db, busy_timeout=0.1)
    store.defer_writes = True
    with locked(db):
        for n in range(5):
            store.record_event("alpha", "note", f"event {n}", float(n))
        assert (store.pending, store.dropped) == (5, 0) and store.outage
        journal = deferred.journal_path(db)
        assert len(journal.read_text().splitlines()) == 2  # memory holds 3, the journal 2
    assert store.flush_deferred() and store.outage is None and store.pending == 0
    assert not journal.exists()
    assert [e["detail"] for e in store.events("alpha")] == [f"event {n}" for n in range(4, -1, -1)]


def test_a_journal_left_by_a_killed_host_is_replayed_by_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zepix_core.storage import deferred

    monkeypatch.setattr(deferred, "PENDING_LIMIT", 0)  # everything goes to the journal
    db = tmp_path / "zepix.db"
    first = Store(db, busy_timeout=0.1)
    first.defer_writes = True
    with locked(db):
        first.record_event("alpha", "note", "kept through a kill", 1.0)
    # killed here: no flush; the next host finds the journal
    second = Store(db)
    second.defer_writes = True
    assert second.pending == 1
    assert second.flush_deferred()
    assert [e["detail"] for e in second.events("alpha")] == ["kept through a kill"]


RECORDER = textwrap.dedent('''
import subprocess, sys

LOG = {log!r}
LOCKER = {locker!r}
DB = {db!r}

class Plugin(Base):
    @hookimpl
    def activate(self, context, config):
        if context.plugin_id == "bravo":  # a backup tool takes the lock right now
            self.locker = subprocess.Popen([sys.executable, "-c", LOCKER, DB],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           text=True)
            assert self.locker.stdout.readline().strip() == "locked"

    @hookimpl
    def deactivate(self, reason):
        with open(LOG, "a") as f:
            f.write("deactivate " + reason + "\\n")
        locker = getattr(self, "locker", None)
        if locker is not None:
            locker.stdin.close()
            locker.wait()
''')


def test_a_start_that_fails_halfway_still_deactivates_what_it_activated(
        dists: DistFactory, tmp_path: Path) -> None:
    # Defect: Host.run called start() outside its try, so plugins activated before a
    # failure never got deactivate.
    log, db = tmp_path / "deactivated.log", tmp_path / "zepix.db"
    body = RECORDER.format(log=str(log), locker=LOCKER, db=str(db))
    for pid, requires in (("alpha", {}), ("bravo", {"alpha": ">=1"})):  # alpha goes first
        source = good_plugin(class_name="Base", requires=requires) + body
        dists.add(f"zepix-{pid}", "1.0.0", {pid: f"{pid}_mod:Plugin"}, {f"{pid}_mod": source})
    config = tmp_path / "zepix.toml"
    config.write_text(CONFIG, encoding="utf-8")
    host = create_host(config, db, paths=[str(dists.root)])
    with pytest.raises(StorageError, match="locked"):
        host.run(once=True)
    assert sorted(log.read_text().splitlines()) == ["deactivate shutdown"] * 2
    assert {s.state for s in host.slots.values()} == {PluginState.INACTIVE}


def test_writes_still_waiting_at_close_go_to_the_journal_for_the_next_start(
        tmp_path: Path) -> None:
    from zepix_core.storage import deferred

    db = tmp_path / "zepix.db"
    first = Store(db, busy_timeout=0.1)
    first.defer_writes = True
    with locked(db):
        for n in range(3):
            first.record_event("alpha", "note", f"event {n}", float(n))
        assert first.pending == 3
        first.close()
    assert len(deferred.journal_path(db).read_text().splitlines()) == 3
    second = Store(db)
    second.defer_writes = True
    assert second.flush_deferred()
    assert [e["detail"] for e in second.events("alpha")] == ["event 2", "event 1", "event 0"]


REPLAYER = """
import sys
from pathlib import Path
from zepix_core.storage import Store
store = Store(Path(sys.argv[1]))
store.defer_writes = True
store.flush_deferred()
"""


def test_a_host_killed_while_replaying_the_journal_leaves_the_rest_written_once(
        tmp_path: Path) -> None:
    import os
    import signal

    from zepix_core.storage import deferred

    db = tmp_path / "zepix.db"
    Store(db).close()
    journal = deferred.journal_path(db)
    count = 1_000
    journal.write_text("".join(json.dumps({"kind": "event", "args": [
        "alpha", "note", f"event {n}", float(n), None, "host"]}) + "\n"
        for n in range(count)), encoding="utf-8")
    done = journal.with_name(journal.name + ".done")
    proc = subprocess.Popen([sys.executable, "-c", REPLAYER, str(db)])
    reader = Store(db)
    began = wait_for(lambda: proc.poll() is not None
                     or reader.query("SELECT COUNT(*) AS n FROM events")[0]["n"] >= 100,
                     timeout=120)
    assert began and proc.poll() is None, "replay never began"
    reader.close()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert journal.exists()  # killed halfway
    store = Store(db)
    store.defer_writes = True
    assert store.flush_deferred() and not journal.exists() and not done.exists()
    details = [e["detail"] for e in store.events("alpha", limit=10 * count)]
    assert set(details) == {f"event {n}" for n in range(count)}  # none lost
    assert len(details) - count <= 1  # at most the one written at the kill comes twice
