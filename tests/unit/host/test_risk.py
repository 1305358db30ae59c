"""Risk limits (issue 28, contract section 15): daily loss and drawdown from the fills
the host has seen, bot fills through ``report_fill`` and paper trades the plugin closed
in its own database; a breach raises a CRITICAL ``risk`` alert and pauses the plugin
with the figure and the limit as its reason. Figures are checked against a computation
of their own here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.contract.errors import ConfigError
from zepix_core.contract.model import Bar, Fill, Intent
from zepix_core.host.host import Host, create_host
from zepix_core.loading.config import load_config
from zepix_core.trading.risk import PnlEvents, RiskLimits, breach

TRADER = good_plugin().replace("    def on_bar(self, bar):\n        self.bars += 1\n        return None\n", """\
    def on_bar(self, bar):
        self.bars += 1
        side = "buy" if self.bars % 2 else "sell"
        return [{"symbol": bar.symbol, "side": side, "quantity": 2.0}]
""")

PAPER = good_plugin().replace("    def activate(self, context, config):\n", """\
    def activate(self, context, config):
        self.db = context.database
""").replace("    def on_bar(self, bar):\n        self.bars += 1\n        return None\n", """\
    def on_bar(self, bar):
        self.bars += 1
        # a paper strategy: every bar one round trip, losing 7 (entry 100, exit 96.5 x 2)
        trade = self.db.open_trade(bar.symbol, "buy", 2.0, 100.0, ts=bar.ts)
        self.db.close_trade(trade.id, 96.5, ts=bar.ts)
        return None
""")


def bar(n: int) -> Bar:
    return Bar("BTCUSD", "1m", time.time() + n / 1000, 100.0, 101.0, 99.0, 100.0, 5.0)


@pytest.fixture
def desk(tmp_path: Path, dists: DistFactory) -> Iterator[tuple[Path, DistFactory]]:
    dists.add("zx-trader", "1.0.0", {"trader": "zx_trader_mod:Plugin"},
              {"zx_trader_mod": TRADER})
    dists.add("zx-paper", "1.0.0", {"paper": "zx_paper_mod:Plugin"}, {"zx_paper_mod": PAPER})
    dists.add("zx-calm", "1.0.0", {"calm": "zx_calm_mod:Plugin"}, {"zx_calm_mod": good_plugin()})
    yield tmp_path, dists


def start(home: Path, dists: DistFactory, config: str) -> Host:
    off = "".join(f"[plugins.{p}]\nenabled = false\n" for p in
                  ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m",
                   "price_action_1h"))
    path = home / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n" + config + off, encoding="utf-8")
    host = create_host(path, home / "zepix.db", paths=[str(dists.root)])
    host.start()
    return host


def instance(host: Host, pid: str) -> object:
    runner = host.slots[pid].runner
    assert runner is not None
    [plugin] = [p for p in runner.pm.get_plugins() if hasattr(p, "bars")]  # type: ignore[attr-defined]
    return plugin


def test_bot_fills_past_the_daily_loss_pause_the_plugin(desk: tuple[Path, DistFactory]) -> None:
    home, dists = desk
    host = start(home, dists, "[risk]\ndaily_loss_limit = 50\n"
                              "[plugins.calm.risk]\ndaily_loss_limit = 0\n")
    try:
        prices = [(100.0, 0.5), (95.0, 0.5), (100.0, 0.5), (84.0, 0.5), (100.0, 0.25)]
        fills: list[tuple[Intent, Fill]] = []
        for n, (price, fee) in enumerate(prices):
            [intent] = [i for i in host.feed([bar(n)]) if i.plugin_id == "trader"]
            fill = Fill(intent.id, intent.quantity, price, time.time(), fee)
            fills.append((intent, fill))
            host.report_fill(fill)
            if n < 3:  # 2 x (95 - 100) - 1 = -11, then -0.5 fee: not yet
                assert "trader" not in host.pauses
        # By hand: trip 1: 2*(95-100) - 0.5 - 0.5 = -11; trip 2: 2*(84-100) - 1 = -33;
        # the open buy of the fifth fill: -0.25 in fees. -44.25 > -50: no breach yet.
        expected = sum(2 * (fills[i + 1][1].price - fills[i][1].price)
                       - fills[i][1].fee - fills[i + 1][1].fee for i in (0, 2)) - 0.25
        figures = host.risk.figures("trader", time.time())
        assert figures.today_pnl == pytest.approx(expected) == pytest.approx(-44.25)
        assert "trader" not in host.pauses
        [intent] = [i for i in host.feed([bar(9)]) if i.plugin_id == "trader"]
        host.report_fill(Fill(intent.id, 2.0, 96.0, time.time(), 0.0))  # -8: -52.25
        assert host.pauses["trader"]["reason"] == (
            "risk: daily loss 52.25 reached the limit 50.00")
        assert host.pauses["trader"]["actor"] == "risk"
        [alert] = [a for a in host.store.alerts(plugin_id="trader") if a["kind"] == "risk"]
        assert alert["level"] == "CRITICAL" and "52.25" in alert["message"]
        assert "limit 50.00" in alert["message"]
        plugin = instance(host, "trader")
        seen = plugin.bars  # type: ignore[attr-defined]
        intents = host.feed([bar(10), bar(11)])
        assert [i for i in intents if i.plugin_id == "trader"] == []
        assert plugin.bars == seen  # type: ignore[attr-defined]
        host.round()  # health hooks go on; the breach is not raised twice
        assert len([a for a in host.store.alerts(plugin_id="trader")
                    if a["kind"] == "risk"]) == 1
    finally:
        host.shutdown()
        host.store.close()


def test_paper_trades_past_the_drawdown_alert_without_pausing_when_told(
        desk: tuple[Path, DistFactory]) -> None:
    home, dists = desk
    host = start(home, dists, "[risk]\nmax_drawdown_pct = 0.3\nstarting_equity = 10000\n"
                              "action = \"alert\"\n"
                              "[plugins.paper.risk]\nmax_drawdown_pct = 0.2\n"
                              "action = \"pause\"\n")
    try:
        # 2 losses of 7 = 14 = 0.14 % of 10 000: under 0.2 %; the third, 21 = 0.21 %: over.
        host.feed([bar(0)])
        host.feed([bar(1)])
        host.round()
        assert "paper" not in host.pauses
        figures = host.risk.figures("paper", time.time())
        assert figures.total_pnl == pytest.approx(-14.0)
        assert figures.drawdown_pct == pytest.approx(14.0 / 10_000 * 100)
        host.feed([bar(2)])
        host.round()
        assert host.pauses["paper"]["reason"] == (
            "risk: drawdown 0.21% from peak equity 10000.00 reached the limit 0.2%")
        assert host.risk.figures("paper", time.time()).today_pnl == pytest.approx(-21.0)
    finally:
        host.shutdown()
        host.store.close()


def test_action_alert_alerts_and_keeps_trading(desk: tuple[Path, DistFactory]) -> None:
    home, dists = desk
    host = start(home, dists, "[risk]\ndaily_loss_limit = 10\naction = \"alert\"\n")
    try:
        host.feed([bar(0)])
        host.feed([bar(1)])  # paper: -14 today
        host.round()
        assert "paper" not in host.pauses
        [alert] = [a for a in host.store.alerts(plugin_id="paper") if a["kind"] == "risk"]
        assert alert["level"] == "CRITICAL"
        assert alert["message"] == "risk limit: daily loss 14.00 reached the limit 10.00"
    finally:
        host.shutdown()
        host.store.close()


def test_drawdown_is_measured_from_the_peak() -> None:
    events = PnlEvents()
    for ts, pnl in [(3.0, -300.0), (1.0, 500.0), (2.0, 100.0)]:  # out of order on purpose
        events.add(ts, pnl)
    figures = events.figures(10.0, 1000.0)
    # equity 1000 -> 1500 -> 1600 (peak) -> 1300: 300 / 1600 = 18.75 %
    assert (figures.peak_equity, figures.equity) == (1600.0, 1300.0)
    assert figures.drawdown_pct == pytest.approx(18.75)
    limits = RiskLimits(max_drawdown_pct=18.75)
    assert breach(limits, figures) == ("drawdown 18.75% from peak equity 1600.00 reached the "
                                       "limit 18.75%")
    assert breach(RiskLimits(max_drawdown_pct=19.0), figures) is None


@pytest.mark.parametrize(("text", "says"), [
    ("[risk]\ndaily_los_limit = 5\n", "risk.daily_los_limit: unknown key"),
    ("[risk]\naction = \"stop\"\n", "risk.action: got 'stop'"),
    ("[risk]\nmax_drawdown_pct = -1\n", "risk.max_drawdown_pct: got -1"),
    ("[plugins.x.risk]\ndaily_loss_limit = \"a lot\"\n",
     "plugins.x.risk.daily_loss_limit: got 'a lot'"),
])
def test_a_bad_risk_table_is_refused_at_load(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "zepix.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        load_config(path)
