"""A round's plugin calls run on one long-lived ``zepix-checks`` thread (issue 26,
item 4), not on a thread started for every round, and the bar totals are written
only when they changed.

Defects covered: every round started (and ended) a thread for its health calls, a
thread start and its handoffs each round (~100 us of CPU) for a thread an idle host
did not need; every round wrote every ``bar_counts`` row again, bars fed or not.
The guarantees kept: bars never wait on a health hook (``test_health_off_the_loop``),
a hung check is still bounded by its deadline and the rounds go on, the thread ends
at shutdown, and the saved totals are the totals.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

import pytest

import zepix_core
from tests.distfactory import DistFactory, good_plugin, plugin_with
from zepix_core.testing import make_bar

HANGING = plugin_with(header="""
    import threading

    #: Armed by the test: the next ping hangs until RELEASE (past its 1 s deadline).
    ARMED, RELEASE = threading.Event(), threading.Event()
""", health_ping="""
    if ARMED.is_set():
        ARMED.clear()
        RELEASE.wait(120)
    return {"ok": True, "last_activity": now}
""")


def _checks_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "zepix-checks" and t.is_alive()]


def test_rounds_share_one_checks_thread_a_hung_ping_still_bounded_and_shutdown_ends_it(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-alpha", "1.0.0", {"alpha": "alpha_mod:Plugin"},
              {"alpha_mod": good_plugin()})
    dists.add("zepix-hang", "1.0.0", {"hang": "hang_mod:Plugin"}, {"hang_mod": HANGING})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\nwarmup_bars = 0\nself_test_every = 1000\n"
                      "[plugins.alpha]\nping_timeout = 60\n"  # never missed on a busy machine
                      "[plugins.hang]\nping_timeout = 1\n", encoding="utf-8")
    before = set(_checks_threads())
    seen: list[threading.Thread] = []  # kept referenced: no object reused between rounds
    try:
        with zepix_core.open_host(config, tmp_path / "z.db", paths=[str(dists.root)],
                                  interval=3600, services=False) as host:
            for n in range(3):
                host.on_bar(make_bar(1.1, ts=60.0 * (n + 1)))
                host.round()
                mine = [t for t in _checks_threads() if t not in before]
                assert len(mine) == 1, mine  # alive between rounds, one for the host
                seen.extend(mine)
            assert all(t is seen[0] for t in seen)
            # A ping that hangs past its deadline: the round still ends, on the same
            # thread, and the next round runs on it too.
            sys.modules["hang_mod"].ARMED.set()
            host.round()
            assert host.host.slots["alpha"].state.value == "ACTIVE"
            assert not host.host.monitor.accepts_work("hang")  # the missed ping seen
            host.round()
            assert [t for t in _checks_threads() if t not in before] == [seen[0]]
            assert host.host.monitor.accepts_work("alpha")
        assert seen[0] not in _checks_threads()  # shutdown ended it (joined)
    finally:
        sys.modules["hang_mod"].RELEASE.set()


def _update_log(db: Path) -> None:
    """A trigger that logs every write of a ``bar_counts`` row (SQLite itself)."""
    conn = sqlite3.connect(db)
    try:
        conn.executescript(
            "CREATE TABLE counts_written (plugin_id TEXT, kind TEXT, bars INTEGER);"
            "CREATE TRIGGER counts_updated AFTER UPDATE ON bar_counts BEGIN "
            "INSERT INTO counts_written VALUES (new.plugin_id, new.kind, new.bars); END;"
            "CREATE TRIGGER counts_inserted AFTER INSERT ON bar_counts BEGIN "
            "INSERT INTO counts_written VALUES (new.plugin_id, new.kind, new.bars); END;")
    finally:
        conn.close()


def _read(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def test_bar_totals_are_written_when_they_change_and_are_still_the_totals(
        dists: DistFactory, tmp_path: Path) -> None:
    for name in ("alpha", "beta"):
        dists.add(f"zepix-{name}", "1.0.0", {name: f"{name}_mod:Plugin"},
                  {f"{name}_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\nwarmup_bars = 0\nself_test_every = 1000\n", encoding="utf-8")
    db = tmp_path / "z.db"
    with zepix_core.open_host(config, db, paths=[str(dists.root)], interval=3600,
                              services=False) as host:
        _update_log(db)
        host.feed([make_bar(1.1, ts=60.0 * n) for n in range(1, 4)])
        host.round()
        first = _read(db, "SELECT plugin_id, kind, bars FROM counts_written ORDER BY 1, 2")
        assert first == [("", "fed", 3), ("alpha", "offered", 3), ("beta", "offered", 3)]
        host.round()  # nothing fed: nothing written
        host.round()
        assert len(_read(db, "SELECT * FROM counts_written")) == 3
        host.host.store.pause("beta", "test", "test", 0.0)
        host.host.refresh_pauses()
        host.on_bar(make_bar(1.1, ts=240.0))
        host.round()  # only the rows that changed: beta's offered total did not
        assert _read(db, "SELECT plugin_id, kind, bars FROM counts_written "
                         "ORDER BY rowid")[3:] == [("", "fed", 4), ("alpha", "offered", 4),
                                                   ("beta", "dropped", 1)]
    totals = _read(db, "SELECT plugin_id, kind, detail, bars FROM bar_counts ORDER BY 1, 2, 3")
    assert totals == [("", "fed", "1m", 4), ("alpha", "offered", "", 4),
                      ("beta", "dropped", "paused", 1), ("beta", "offered", "", 3)]


def test_totals_whose_write_failed_are_written_in_full_next_time() -> None:
    from zepix_core.host.bars import BarAccounts

    accounts = BarAccounts()
    written: list[list[tuple[str, str, str, int]]] = []
    failing = [True]

    def write(host_id: str, rows: list[tuple[str, str, str, int]]) -> None:
        assert host_id == "h"
        if failing[0]:
            raise OSError("database locked")
        written.append(rows)

    accounts.begin()
    accounts.called("alpha", 2)
    accounts.end([make_bar(1.1, ts=60.0), make_bar(1.1, ts=120.0)], {}, ["alpha"])
    with pytest.raises(OSError):
        accounts.save(write, "h")
    failing[0] = False
    accounts.save(write, "h")
    accounts.save(write, "h")
    assert written == [[("", "fed", "1m", 2), ("alpha", "offered", "", 2)]]
