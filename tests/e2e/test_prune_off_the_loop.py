"""``[plugindb] retention_days`` never holds the lock that bars need (issue 22: no
database write awaited under it).

Defect covered: the monitoring round pruned every plugin database itself, holding
the loop's lock: a plugin database another process held locked (the plugin's own
worker, a backup tool) made each prune write wait its 2 s ``lock_wait``, so bars
and the round waited 2 s per locked plugin database. The round now starts the
prune on a thread of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.locker import LOCKER
from tests.waiting import wait_until
from zepix_core.host.host import create_host
from zepix_core.loading.paths import plugin_data_dir
from zepix_core.plugindb import PluginDatabase, database_file
from zepix_core.testing import make_bar

DAY = 86_400.0



def _refs(db_file: Path) -> list[str]:
    db = PluginDatabase(db_file)
    try:
        return sorted(str(t.ref) for t in db.trades())
    finally:
        db.close()


def test_a_locked_plugin_database_is_pruned_without_the_loop_lock(
        zepix_home: Path, dists: DistFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    dists.add("zx-calm", "1.0.0", {"calm": "zx_calm_mod:Plugin"}, {"zx_calm_mod": good_plugin()})
    path = zepix_home / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n[plugindb]\nretention_days = 30\n",
                    encoding="utf-8")
    now = time.time()
    db_file = database_file("calm", plugin_data_dir("calm"))
    db = PluginDatabase(db_file)
    try:
        old = db.open_trade("BTCUSD", "buy", 1.0, 100.0, ts=now - 40 * DAY, ref="old")
        db.close_trade(old.id, 101.0, ts=now - 39 * DAY)
        db.open_trade("BTCUSD", "buy", 1.0, 100.0, ts=now - 2 * DAY, ref="recent")
    finally:
        db.close()
    host = create_host(path, zepix_home / "zepix.db", paths=[str(dists.root)])
    try:
        host.start()
        assert host.sync.manager.run("test").ok  # the old trade is in the ledger
        held: list[bool] = []  # whether each prune ran holding the loop's lock
        real = PluginDatabase.prune

        def watched(self: PluginDatabase, before: float, synced: int) -> tuple[int, int]:
            held.append(host.supervisor.loop.busy._is_owned())  # type: ignore[attr-defined]
            return real(self, before, synced)
        monkeypatch.setattr(PluginDatabase, "prune", watched)

        # another process holds the plugin's database: the prune waits for it and fails
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db_file)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            host.round()
            assert host.on_bar(make_bar(1.1, ts=60.0)) == []  # the loop is free meanwhile
            wait_until(lambda: held, timeout=60)
            pruner = host.pipeline.pruner  # the round pipeline's (``host.rounds``)
            if pruner is not None:
                pruner.join(60)  # gave up on the locked database (lock_wait)
        finally:
            assert locker.stdin is not None
            locker.stdin.write("\n")
            locker.stdin.close()
            locker.wait(60)
        assert held == [False]
        assert _refs(db_file) == ["old", "recent"]  # locked: nothing pruned, nothing lost

        # the next hour's prune, with the database free, drops the old closed trade
        host.loop.timers["prune"].next -= 3600.0
        host.round()
        wait_until(lambda: _refs(db_file) == ["recent"], timeout=60)
        assert held == [False, False]
    finally:
        host.shutdown()
        host.store.close()
