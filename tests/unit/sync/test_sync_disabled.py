"""``[sync] enabled = false``: a running host makes no ledger sync of its own (not on
its timer, not at shutdown, not when ``[sync]`` changes); a sync asked for by hand
(``zepix sync --now``, the façade's ``sync_now``) still runs."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.waiting import wait_until
from zepix_core.contract.model import Bar
from zepix_core.host.facade import of
from zepix_core.host.host import Host, create_host
from zepix_core.testing import FakeClock

PAPER = good_plugin().replace("    def activate(self, context, config):\n", """\
    def activate(self, context, config):
        self.db = context.database
""").replace("    def on_bar(self, bar):\n        self.bars += 1\n        return None\n", """\
    def on_bar(self, bar):
        self.bars += 1
        trade = self.db.open_trade(bar.symbol, "buy", 1.0, 100.0, ts=bar.ts)
        self.db.close_trade(trade.id, 101.0, ts=bar.ts)
        return None
""")

OFF = "".join(f"[plugins.{p}]\nenabled = false\n" for p in
              ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m",
               "price_action_1h"))


def ledger_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "aggregated_trades" not in tables:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM aggregated_trades").fetchone()[0])


def trading_host(home: Path, dists: DistFactory, enabled: bool) -> tuple[Host, Path]:
    dists.add("zx-paper", "1.0.0", {"paper": "zx_paper_mod:Plugin"}, {"zx_paper_mod": PAPER})
    central = home / "central.db"
    path = home / "zepix.toml"
    path.write_text(f'[host]\nwarmup_bars = 0\n[http]\nlisten = ""\n'
                    f'[sync]\ninterval = 60\nurl = "sqlite://{central}"\n'
                    f"enabled = {'true' if enabled else 'false'}\n" + OFF, encoding="utf-8")
    clock = FakeClock(wall=time.time())
    host = create_host(path, home / "zepix.db", paths=[str(dists.root)], clocks=clock.clocks())
    host.start()
    for _ in range(3):
        host.feed([Bar("BTCUSD", "1m", clock.time(), 100.0, 101.0, 99.0, 100.0, 5.0)])
        clock.advance(61)  # past the 60 s interval: the sync timer is due at every round
        host.round()
    return host, central


@pytest.mark.parametrize("enabled", [True, False])
def test_sync_enabled_false_makes_no_timed_or_shutdown_sync(
        tmp_path: Path, dists: DistFactory, monkeypatch: pytest.MonkeyPatch,
        enabled: bool) -> None:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.delenv("ZEPIX_HTTP_LISTEN", raising=False)
    host, central = trading_host(tmp_path, dists, enabled)
    host.shutdown()
    triggers = sorted({str(r["trigger"]) for r in host.store.sync_runs()})
    host.store.close()
    # The control (enabled) shows the rig would sync: the 3 trades are in the ledger.
    assert ledger_rows(central) == (3 if enabled else 0)
    assert triggers == (["shutdown", "timer"] if enabled else [])


def test_a_sync_asked_for_by_hand_still_runs_when_disabled(
        tmp_path: Path, dists: DistFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.delenv("ZEPIX_HTTP_LISTEN", raising=False)
    host, central = trading_host(tmp_path, dists, enabled=False)
    try:
        assert ledger_rows(central) == 0
        assert of(host).sync_now("operator")
        wait_until(lambda: not host.sync.running() and ledger_rows(central) == 3, timeout=60)
    finally:
        host.shutdown()
        host.store.close()
