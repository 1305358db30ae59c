"""``[plugindb] retention_days`` (issue 28): old signals and closed trades the ledger has
are pruned; an open trade and one not yet synced never are."""

from __future__ import annotations

import time
from pathlib import Path

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from zepix_core.host.host import create_host
from zepix_core.loading.paths import plugin_data_dir
from zepix_core.plugindb import PluginDatabase, database_file

DAY = 86_400.0


def test_retention_prunes_only_old_closed_synced_trades(zepix_home: Path,
                                                         dists: DistFactory) -> None:
    dists.add("zx-calm", "1.0.0", {"calm": "zx_calm_mod:Plugin"}, {"zx_calm_mod": good_plugin()})
    path = zepix_home / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n[plugindb]\nretention_days = 30\n" + "".join(
        f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED), encoding="utf-8")
    now = time.time()
    db = PluginDatabase(database_file("calm", plugin_data_dir("calm")))
    try:
        old = db.open_trade("BTCUSD", "buy", 1.0, 100.0, ts=now - 40 * DAY, ref="old")
        db.close_trade(old.id, 101.0, ts=now - 39 * DAY)
        db.open_trade("BTCUSD", "buy", 1.0, 100.0, ts=now - 41 * DAY, ref="old-open")
        recent = db.open_trade("ETHUSD", "buy", 1.0, 100.0, ts=now - 2 * DAY, ref="recent")
        db.close_trade(recent.id, 99.0, ts=now - DAY)
        db.record_signal("BTCUSD", "entry", ts=now - 35 * DAY)
        db.record_signal("BTCUSD", "entry", ts=now - DAY)
    finally:
        db.close()
    host = create_host(path, zepix_home / "zepix.db", paths=[str(dists.root)])
    try:
        host.start()
        assert host.sync.manager.run("test").ok  # every trade so far is in the ledger
        db = PluginDatabase(database_file("calm", plugin_data_dir("calm")))
        late = db.open_trade("BTCUSD", "sell", 1.0, 100.0, ts=now - 50 * DAY, ref="unsynced")
        db.close_trade(late.id, 98.0, ts=now - 45 * DAY)
        db.close()
        host.round()
        assert host.pipeline.pruner is not None
        host.pipeline.pruner.join(60)  # the round starts the prune on a thread of its own
        db = PluginDatabase(database_file("calm", plugin_data_dir("calm")))
        try:
            refs = sorted(str(t.ref) for t in db.trades())
            with db.connection() as conn:
                signals = [r[0] for r in conn.execute("SELECT ts FROM signals")]
        finally:
            db.close()
        assert refs == ["old-open", "recent", "unsynced"]
        assert signals == [now - DAY]
    finally:
        host.shutdown()
        host.store.close()
