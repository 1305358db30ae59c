"""A lock on ``zepix.db`` stalls nothing (issue 22, item 2), with the DEFAULT busy
timeout (30 s): these tests do not shrink it.

Defects covered: the round thread waited in ``save_snapshots`` under the loop lock
for the whole busy timeout, ``host.feed`` waited for the loop, no bar reached any
plugin and no ``zepix:database`` alert fired; a plugin's worker holding the lock
was not named. Now a write waits at most ``FIRST_WAIT``, then the outage is known,
writes fail at once into the deferred queue, the CRITICAL alert fires with the
holder's pid, bars keep flowing, and every kept write lands once the lock goes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx

import zepix_core
from tests.distfactory import DistFactory, good_plugin
from tests.locker import LOCKER
from tests.waiting import wait_until
from zepix_core.loading.config import load_config
from zepix_core.storage import Store
from zepix_core.testing import make_bar

DATABASE = "zepix:database"



def test_an_outside_lock_with_the_default_busy_timeout_stalls_nothing(
        dists: DistFactory, tmp_path: Path) -> None:  # conftest puts the API on a free port
    dists.add("zepix-alpha", "1.0.0", {"alpha": "alpha_mod:Plugin"},
              {"alpha_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\nwarmup_bars = 0\n", encoding="utf-8")
    assert load_config(config).host["db_busy_timeout"] == 30.0  # the default, unchanged
    db = tmp_path / "zepix.db"
    stop = threading.Event()
    with zepix_core.open_host(config, db, paths=[str(dists.root)], interval=0.5) as host:
        inner = host.host
        plugin = inner.slots["alpha"].runner.pm.get_plugin("alpha")  # type: ignore[union-attr]

        def feed() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                host.on_bar(make_bar(1.1, ts=60.0 * n))
                stop.wait(0.02)
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        wait_until(lambda: plugin.bars > 0, timeout=60)
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            # Well within the 30 s busy timeout: the alert is up and names the holder ...
            wait_until(lambda: DATABASE in inner.monitor.alerting.open_fingerprints(),
                       timeout=20)
            # ... bars still reach the plugin and rounds go on while the lock is held.
            bars, rounds = plugin.bars, inner.monitor.rounds
            wait_until(lambda: plugin.bars > bars + 20 and inner.monitor.rounds >= rounds + 2,
                       timeout=20)
            assert inner.store.outage is not None and inner.store.pending > 0
            # /healthz says the host runs its rounds (it said 503 for the whole lock).
            api = host.services.api
            assert api is not None
            health = httpx.get(f"{api.url}/healthz", timeout=30)
            assert health.status_code == 200, health.text
            assert inner.store.outage is not None  # still locked while it answered
        finally:
            assert locker.stdin is not None
            locker.stdin.write("\n")
            locker.stdin.close()
            locker.wait(30)
        wait_until(lambda: DATABASE not in inner.monitor.alerting.open_fingerprints(),
                   timeout=30)
        wait_until(lambda: inner.store.pending == 0, timeout=30)
        stop.set()
        feeder.join(30)
        rounds = inner.monitor.rounds
    store = Store(db)
    # Every round's snapshot is written, the locked ones too (the close adds one).
    assert len(store.snapshots("alpha", limit=100_000)) >= rounds
    [alert] = store.alerts(plugin_id="zepix")
    assert alert["kind"] == "database" and alert["level"] == "CRITICAL"
    assert f"pid {locker.pid}" in alert["message"], alert["message"]
    assert alert["resolved"]


LOCKING_WORKER = good_plugin() + '''
import os, sqlite3, threading, time

class Locking(Plugin):
    @hookimpl
    def activate(self, context, config):
        self.active = True
        def hold():
            while not os.path.exists(config["flag"]):
                time.sleep(0.05)
            conn = sqlite3.connect(config["db"], isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            while os.path.exists(config["flag"]):
                time.sleep(0.05)
            conn.execute("ROLLBACK")
        threading.Thread(target=hold, daemon=True).start()
'''


def test_a_lock_held_by_a_plugin_worker_is_named_in_the_alert(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-locking", "1.0.0", {"locking": "locking_mod:Locking"},
              {"locking_mod": LOCKING_WORKER})
    db, flag = tmp_path / "zepix.db", tmp_path / "lock-now"
    config = tmp_path / "zepix.toml"
    config.write_text(f'[host]\nwarmup_bars = 0\n\n[plugins.locking]\nisolation = "process"\n'
                      f'db = "{db}"\nflag = "{flag}"\n', encoding="utf-8")
    with zepix_core.open_host(config, db, paths=[str(dists.root)], interval=0.5) as host:
        inner = host.host
        worker = inner.slots["locking"].runner
        assert worker is not None and getattr(worker, "pid", None)
        flag.touch()
        try:
            wait_until(lambda: DATABASE in inner.monitor.alerting.open_fingerprints(),
                       timeout=20)
            wait_until(lambda: inner.monitor.rounds >= 2, timeout=20)
        finally:
            flag.unlink()
        wait_until(lambda: DATABASE not in inner.monitor.alerting.open_fingerprints(),
                   timeout=30)
        pid = worker.pid  # type: ignore[attr-defined]
    messages = [a["message"] for a in Store(db).alerts(plugin_id="zepix")
                if a["kind"] == "database"]
    assert any(f"pid {pid}" in m and "the worker of plugin 'locking'" in m
               for m in messages), messages
