"""``[telegram] daily_summary = "HH:MM"`` (issue 28 item 5): once a day at that UTC time
the day that ended goes to the alert chat through the Bot API stand-in: realised P&L
and trades, incidents, versions changed, each figure checked against the databases
read here with sqlite3; never twice for one day, a restart of the bot included."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from tests.telegram_standin import StandIn
from zepix_core.contract.model import AlertLevel, Fill
from zepix_core.execution.ports import Clocks
from zepix_core.host.host import create_host
from zepix_core.retry import Retrier
from zepix_core.telegram import Timing, start
from zepix_core.telegram.service import Telegram
from zepix_core.testing import FakeClock, MarketReplay

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

TOKEN = "4242:SECRET-token-never-shown"
OPS = 100


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# (closed at, entry, exit): one before the first summary's day, two inside it
TRADES = (("2026-03-09T07:30", 100.0, 200.0), ("2026-03-09T12:00", 100.0, 105.5),
          ("2026-03-10T01:00", 100.0, 97.75))


def trader() -> str:
    """The good plugin, writing three closed trades and an open one into its database;
    its first two bars of BTCUSD give a buy and then a sell intent (for bot fills)."""
    rows = "".join(f"            t = db.open_trade('BTCUSD', 'buy', 1.0, {entry}, "
                   f"ts={at(closed) - 600})\n"
                   f"            db.close_trade(t.id, {exit_}, ts={at(closed)})\n"
                   for closed, entry, exit_ in TRADES)
    source = good_plugin().replace('''    def on_bar(self, bar):
        self.bars += 1
        return None''', '''    def on_bar(self, bar):
        if bar.symbol != "BTCUSD" or self.bars >= 2:
            return None
        self.bars += 1
        return [{"symbol": "BTCUSD", "side": "buy" if self.bars == 1 else "sell",
                 "quantity": 1.0}]''')
    return source.replace('''    def activate(self, context, config):
        self.active = True''', f'''    def activate(self, context, config):
        self.active = True
        db = context.database
        if not db.trades():
{rows}            db.open_trade('ETHUSD', 'buy', 1.0, 10.0, ts={at("2026-03-10T02:00")})''')


def independent(home: Path, start: float, end: float) -> dict[str, object]:
    """The day's figures straight from the files."""
    with sqlite3.connect(home / "plugins" / "trader" / "zepix_trader.db") as db:
        pnl, trades = db.execute("SELECT COALESCE(SUM(pnl), 0), COUNT(*) FROM trades WHERE "
                                 "closed_at >= ? AND closed_at < ?", (start, end)).fetchone()
    with sqlite3.connect(home / "zepix.db") as db:
        levels = dict(db.execute("SELECT level, COUNT(*) FROM alerts WHERE fired_at >= ? AND "
                                 "fired_at < ? GROUP BY level", (start, end)).fetchall())
        activations = db.execute("SELECT plugin_id, version, activated_at FROM activations "
                                 "ORDER BY activated_at, id").fetchall()
    changed, last = [], {}
    for pid, version, when in activations:
        if start <= when < end and last.get(pid) != version:
            changed.append((pid, last.get(pid), version))
        last[pid] = version
    return {"pnl": pnl, "trades": trades, "levels": levels, "changed": changed}


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn(TOKEN)
    yield server
    server.close()


def summaries(standin: StandIn) -> list[str]:
    return [t for t in standin.texts(OPS) if "Daily summary" in t]


def test_one_summary_a_day_with_figures_from_the_databases(
        zepix_home: Path, dists: DistFactory, standin: StandIn) -> None:
    dists.add("zx-trader", "1.0.0", {"trader": "zx_trader_mod:Plugin"},
              {"zx_trader_mod": trader()})
    path = zepix_home / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n"
                    + "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)
                    + f'[telegram]\nalert_chats = [{OPS}]\nallowed_chats = [{OPS}]\n'
                    f'api_url = "{standin.base_url}"\n'
                    'daily_summary = "08:00"\n', encoding="utf-8")
    now = [at("2026-03-10T07:00")]
    host = create_host(path, zepix_home / "zepix.db", paths=[str(dists.root)],
                       clocks=Clocks(wall=lambda: now[0]))
    clock = FakeClock()

    def bot() -> Telegram:
        made = start(host, env={"ZEPIX_TELEGRAM_TOKEN": TOKEN},
                     retrier=Retrier(sleep=clock.sleep), sleep=clock.sleep,
                     timing=Timing(clock=clock.monotonic, poll=0.05, poll_timeout=1.0,
                                   sweep_every=0.05), wall=lambda: now[0],
                     summary_poll=0.05)
        assert made is not None and made.summary is not None
        return made

    telegram = bot()
    try:
        host.start()
        alerting = host.monitor.alerting
        alerting.raise_event("trader", "drill", AlertLevel.WARNING, "a warning in the day")
        alerting.raise_event("trader", "drill2", AlertLevel.CRITICAL, "a critical one")
        # 07:00: the day before ended 23 h ago, too late to send; today's is not due
        assert telegram.summary is not None and telegram.summary.check() is False
        assert summaries(standin) == []
        # the bot buys at 100 and sells at 103.5 (fee 0.25 each): +3.0 realised at 03:30
        replay, intents = MarketReplay(seed=3), []
        while len(intents) < 2:
            intents += host.feed(replay.next_bars())
        buy, sell = intents
        assert (buy.side, sell.side) == ("buy", "sell")
        host.report_fill(Fill(buy.id, 1.0, 100.0, at("2026-03-10T03:00"), fee=0.25))
        host.report_fill(Fill(sell.id, 1.0, 103.5, at("2026-03-10T03:30"), fee=0.25))
        bot_pnl = (103.5 - 100.0) * 1.0 - 0.25 - 0.25

        now[0] = at("2026-03-10T08:00:30")
        [first] = standin.wait_for(lambda: summaries(standin))
        day = independent(zepix_home, at("2026-03-09T08:00"), at("2026-03-10T08:00"))
        assert day["trades"] == 2 and day["pnl"] == pytest.approx(5.5 - 2.25)
        # both fills realised something (the buy its fee): two more than the paper closes
        pnl, trades = float(day["pnl"]) + bot_pnl, int(day["trades"]) + 2  # type: ignore[arg-type]
        assert f"Realised P&amp;L</b>: {pnl:+.2f} over {trades} closes and fills" in first
        assert f"trader: {pnl:+.2f} ({trades})" in first
        assert day["levels"] == {"WARNING": 1, "CRITICAL": 1}
        assert "Incidents</b>: 2 alerts (1 CRITICAL, 1 WARNING)" in first
        assert day["changed"] == [("trader", None, "1.0.0")]
        assert "Versions changed</b>: 1" in first and "trader: new → 1.0.0" in first
        assert "2026-03-09 08:00 → 2026-03-10 08:00 UTC" in first
        # /summary: the same figures for the 24 hours up to now, on demand
        assert telegram.controller.ready.wait(30)
        standin.say(OPS, 7, "/summary")
        [asked] = standin.wait_for(lambda: [t for t in standin.texts(OPS)
                                            if "The last 24 hours" in t])
        assert "2026-03-09 08:00 → 2026-03-10 08:00 UTC" in asked
        assert f"trader: {pnl:+.2f} ({trades})" in asked and "2 alerts" in asked

        now[0] = at("2026-03-10T08:30")
        alerting.raise_event("trader", "drill3", AlertLevel.HIGH, "after the summary")
        assert telegram.summary.check() is False  # sent already
        telegram.stop()
        telegram = bot()  # a restarted bot does not send the day again
        assert telegram.summary is not None and telegram.summary.check() is False
        assert len(summaries(standin)) == 1

        now[0] = at("2026-03-11T08:00:05")
        second = standin.wait_for(lambda: summaries(standin)[1:])[0]
        day = independent(zepix_home, at("2026-03-10T08:00"), at("2026-03-11T08:00"))
        assert (day["trades"], day["levels"], day["changed"]) == (0, {"HIGH": 1}, [])
        assert "+0.00 over 0 closes and fills" in second and "Incidents</b>: 1 alert (1 HIGH)" in second
        assert "Versions changed</b>: 0" in second
        assert telegram.summary.check() is False and len(summaries(standin)) == 2
        assert [r["due"] for r in host.store.summaries()] == [
            at("2026-03-11T08:00"), at("2026-03-10T08:00")]
    finally:
        telegram.stop()
        host.shutdown()
        host.store.close()
