"""``zepix backup DIR`` while a real host writes, and ``zepix restore DIR`` after it
stopped (issue 28): every database comes back exactly as the backup holds it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED, live_host
from tests.waiting import wait_until
from zepix_core.cli.main import main

TRADER = good_plugin().replace("    def activate(self, context, config):\n", """\
    def activate(self, context, config):
        self.db = context.database
""").replace("    def on_bar(self, bar):\n        self.bars += 1\n        return None\n", """\
    def on_bar(self, bar):
        self.bars += 1
        trade = self.db.open_trade(bar.symbol, "buy", 1.0, bar.close, ts=bar.ts)
        if self.bars % 2:
            self.db.close_trade(trade.id, bar.close * 1.01, ts=bar.ts)
        return None
""")
OFF = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)


def trades(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0])


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_backup_taken_mid_run_restores_exactly(
        zepix_home: Path, dists: DistFactory, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = f"[host]\nwarmup_bars = 2\nbars_per_round = 3\n[sync]\ninterval = 1\n{OFF}"
    plugin_db = zepix_home / "plugins" / "trader" / "zepix_trader.db"
    backup = tmp_path / "backup"
    with live_host(zepix_home, dists, config, interval=0.3,
                   plugins={"trader": TRADER}) as live:
        wait_until(lambda: plugin_db.is_file() and trades(plugin_db) >= 20, timeout=60)
        wait_until(lambda: (zepix_home / "central.db").is_file(), timeout=60)
        capsys.readouterr()
        assert main(["backup", str(backup), "--json"]) == 0
        manifest = json.loads(capsys.readouterr().out)
        names = {row["name"] for row in manifest["databases"]}
        assert names == {"zepix.db", "central.db", "plugins/trader/zepix_trader.db"}
        backed = trades(backup / "plugins/trader/zepix_trader.db")
        wait_until(lambda: trades(plugin_db) > backed + 10, timeout=60)  # it goes on
        assert main(["restore", str(backup)]) == 2  # refused: the host runs
        assert "stop it first" in capsys.readouterr().err
        assert live.host.started
    assert main(["backup", str(backup)]) == 2  # not into a used directory
    before = {name: dump(backup / name) for name in names}
    assert trades(plugin_db) > backed
    capsys.readouterr()
    assert main(["restore", str(backup)]) == 0
    assert "restored 3 database(s)" in capsys.readouterr().out
    live_paths = {"zepix.db": zepix_home / "zepix.db", "central.db": zepix_home / "central.db",
                  "plugins/trader/zepix_trader.db": plugin_db}
    for name, path in live_paths.items():
        assert dump(path) == before[name], name
    assert trades(plugin_db) == backed
    assert main(["plugins", "--json"]) == 0  # the restored zepix.db opens and answers
