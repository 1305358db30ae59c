"""Embedding, round three: open_host(plugins=...), AsyncHost.round(), fresh figures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import zepix_core
from tests.distfactory import DistFactory, good_plugin
from tests.paths import ROOT
from zepix_core import Bar, ConfigError, Fill

#: Buys one unit on odd bars and sells it on even ones: a round trip every two bars.
TRADER = good_plugin().replace('''    def on_bar(self, bar):
        self.bars += 1
        return None''', '''    def on_bar(self, bar):
        self.bars += 1
        side = "buy" if self.bars % 2 else "sell"
        return [{"symbol": bar.symbol, "side": side, "quantity": 1.0}]''')


def bar(n: int) -> Bar:
    close = 100.0 + n
    return Bar("BTCUSD", "1m", 1_704_067_200.0 + 60 * n, close, close, close, close, 1.0)


@pytest.fixture
def site(dists: DistFactory, tmp_path: Path) -> list[str]:
    assert 'side = "buy"' in TRADER
    dists.add("zepix-trader", "1.0.0", {"trader": "trader_mod:Plugin"},
              {"trader_mod": TRADER})
    dists.add("zepix-idle", "1.0.0", {"idle": "idle_mod:Plugin"}, {"idle_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\ninterval = 30\n", encoding="utf-8")
    return [str(dists.root)]


def trade(host: zepix_core.app.EmbeddedHost, start: int, trips: int) -> None:
    for n in range(start, start + 2 * trips):
        for intent in host.on_bar(bar(n)):
            host.report_fill(Fill(intent.id, intent.quantity, 100.0 + n, bar(n).ts))


def test_only_the_plugins_asked_for_run(site: list[str], tmp_path: Path) -> None:
    with zepix_core.open_host(tmp_path / "zepix.toml", tmp_path / "z.db", paths=site,
                              plugins=["trader"], services=False) as host:
        states = {p["id"]: p["state"] for p in host.plugins()}
        assert states == {"trader": "ACTIVE", "idle": "INACTIVE"}
        assert host.on_bar(bar(1)) and all(i.plugin_id == "trader"
                                           for i in host.on_bar(bar(2)))
    with (pytest.raises(ConfigError, match=r"nope not installed; installed: idle, trader"),
          zepix_core.open_host(tmp_path / "zepix.toml", tmp_path / "z.db", paths=site,
                               plugins=["nope"], services=False)):
        pass


def test_fresh_figures_count_this_run_only(site: list[str], tmp_path: Path) -> None:
    def trips(fresh: bool, start: int) -> int:
        with zepix_core.open_host(tmp_path / "zepix.toml", tmp_path / "z.db", paths=site,
                                  plugins=["trader"], services=False, fresh=fresh) as host:
            trade(host, start, 3)
            ledger = host.host.trades.ledgers["trader"]
            return ledger.wins + ledger.losses

    assert trips(False, 1) == 3
    assert trips(False, 10) == 6  # the first run's fills are restored
    assert trips(True, 20) == 3   # only this run's
    assert trips(False, 30) == 12  # and nothing recorded was lost


def test_async_host_runs_a_round(site: list[str], tmp_path: Path) -> None:
    async def main() -> str:
        async with zepix_core.open_host_async(tmp_path / "zepix.toml", tmp_path / "z.db",
                                              paths=site, services=False) as host:
            await host.on_bar(bar(1))
            return await host.round()

    summary = asyncio.run(main())
    assert summary.startswith("round")


def test_the_guides_bot_fills_a_feed_of_5m_bars(tmp_path: Path) -> None:
    import json
    import re
    import subprocess
    import sys

    from zepix_core.market.csvfile import write_csv
    from zepix_core.market.replay import MarketReplay

    guide = (ROOT / "docs" / "embedding.md").read_text()
    first = re.search(r"```python\n(.*?)```", guide, re.DOTALL)
    assert first is not None
    (tmp_path / "bot.py").write_text(first.group(1), encoding="utf-8")
    replay = MarketReplay(symbols=["BTCUSD"])
    write_csv(tmp_path / "bars.csv", (b for _ in range(6000) for b in replay.next_bars()
                                      if b.timeframe == "5m"))
    home = tmp_path / "home"
    env = {"ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"), "PATH": "/usr/bin",
           "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}
    done = subprocess.run([sys.executable, "bot.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    health = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "health", "--json"],
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    measured = {s["plugin_id"]: s["host_measured"] for s in json.loads(health.stdout)}
    assert measured["price_action_5m"]["fills"] > 0
