"""The embedding API: a bot's bars in, intents out, fills back; rounds on their own timer."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

import zepix_core
from tests.distfactory import DistFactory
from zepix_core import Bar, Fill, IntentError
from zepix_core.testing import make_bar

TRADER = '''
import threading
from zepix_core import hookimpl

class Plugin:
    """Buys a 1m bar that closed up, sells one that closed down; quantity from config."""

    def __init__(self):
        self.bars, self.fills, self.threads = 0, [], set()
        self.quantity = 1.0

    @hookimpl
    def plugin_version(self):
        return "1.0.0"

    @hookimpl
    def health_ping(self, now):
        return {"ok": True, "last_activity": now}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": self.bars, "fills_seen": len(self.fills)}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def activate(self, context, config):
        self.quantity = float(config.get("quantity", 1.0))

    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        self.threads.add(threading.current_thread().name)
        if bar.timeframe != "1m" or bar.close == bar.open:
            return None
        side = "buy" if bar.close > bar.open else "sell"
        return [{"symbol": bar.symbol, "side": side, "quantity": self.quantity,
                 "price": bar.close, "reason": "momentum"}]

    @hookimpl
    def on_fill(self, fill):
        self.fills.append(fill)
'''


def trader(dists: DistFactory, plugin_id: str = "trader") -> list[str]:
    dists.add(f"zepix-{plugin_id}", "1.0.0", {plugin_id: f"{plugin_id}_mod:Plugin"},
              {f"{plugin_id}_mod": TRADER})
    return [str(dists.root)]


def config(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "zepix.toml"
    path.write_text("[host]\ninterval = 30\n" + text, encoding="utf-8")
    return path


def bars(closes: list[float], symbol: str = "BTCUSD") -> list[Bar]:
    out, prev = [], closes[0]
    for i, close in enumerate(closes, start=1):
        out.append(make_bar(close, open=prev, symbol=symbol, ts=60.0 * i))
        prev = close
    return out


def test_bars_in_intents_out_fills_back_and_health_measures_them(
        dists: DistFactory, tmp_path: Path) -> None:
    paths = trader(dists)
    prices = [100.0, 101, 102, 101, 100, 101, 103, 102, 101, 102, 104, 105]
    with zepix_core.open_host(config(tmp_path), tmp_path / "z.db", paths=paths) as host:
        assert [p["id"] for p in host.plugins()] == ["trader"]
        assert host.plugins()[0]["state"] == "ACTIVE"
        pending = None
        handed = []
        for bar in bars(prices):
            if pending is not None:  # filled at this bar's open, as examples/bot.py does
                host.report_fill(Fill(pending.id, pending.quantity, bar.open, bar.ts))
            intents = host.on_bar(bar)
            handed += intents
            pending = intents[0] if intents else None
        with pytest.raises(IntentError, match="unknown intent id 'nope'"):
            host.report_fill(Fill("nope", 1.0, 100.0, 0.0))
        plugin = host.host.slots["trader"].runner.pm.get_plugin("trader")  # type: ignore[union-attr]
    with pytest.raises(zepix_core.ZepixError, match="the host is closed"):
        host.on_bar(bars(prices)[0])
    assert len({i.id for i in handed}) == len(handed) == 11
    first = handed[0]
    assert (first.plugin_id, first.symbol, first.side, first.bar_time, first.shadow) == (
        "trader", "BTCUSD", "buy", 120.0, False)
    assert len(plugin.fills) == 10 and plugin.fills[0].intent_id == first.id
    assert plugin.threads == {"zepix-dispatch"}  # inline on the dispatch thread
    # The last round, at close, wrote what the host measured from those fills.
    with zepix_core.open_host(config(tmp_path), tmp_path / "z.db", paths=paths) as again:
        [snap] = [s for s in again.health() if s["plugin_id"] == "trader"]
        # A restarted host rebuilt the ledger from the recorded fills.
        assert again.host.trades.ledgers["trader"].fills == 10
    measured = snap["host_measured"]
    assert measured["fills"] == 10 and measured["orders"] == 10
    assert measured["round_trips"] > 0 and 0.0 <= measured["win_rate"] <= 1.0
    assert measured["orders_per_hour"] == pytest.approx(60.0)  # one order a minute
    assert measured["accuracy_samples"] > 0 and measured["signal_accuracy"] is not None


def test_an_intent_over_a_limit_is_dropped_counted_and_explained(
        dists: DistFactory, tmp_path: Path) -> None:
    cfg = config(tmp_path, '[plugins.trader]\nquantity = 5.0\nmax_quantity = 2.0\n')
    with zepix_core.open_host(cfg, tmp_path / "z.db", paths=trader(dists)) as host:
        assert host.on_bar(make_bar(101.0, open=100.0, ts=60.0)) == []
        host.round()
        [snap] = host.health()
    assert snap["hook_errors"]["on_bar"]["count"] == 1
    assert "quantity 5 is over max_quantity 2" in snap["hook_errors"]["on_bar"]["last_message"]
    assert any("over max_quantity 2" in r for r in snap["reasons"])
    assert snap["host_measured"]["intents_dropped"] == 1


def test_symbols_and_intents_per_bar_limits(dists: DistFactory, tmp_path: Path) -> None:
    paths = trader(dists)
    cfg = config(tmp_path, '[plugins.trader]\nsymbols = ["ETHUSD"]\n')
    with zepix_core.open_host(cfg, tmp_path / "z.db", paths=paths) as host:
        assert host.on_bar(make_bar(101.0, open=100.0, symbol="BTCUSD")) == []
        [intent] = host.on_bar(make_bar(101.0, open=100.0, symbol="ETHUSD"))
        assert intent.symbol == "ETHUSD"
    cfg = config(tmp_path, '[plugins.trader]\nmax_intents_per_bar = 0\n')
    with zepix_core.open_host(cfg, tmp_path / "z2.db", paths=paths) as host:
        assert host.on_bar(make_bar(101.0, open=100.0)) == []


def test_rounds_run_on_their_own_timer_without_any_bar(dists: DistFactory,
                                                       tmp_path: Path) -> None:
    summaries: list[str] = []
    with zepix_core.open_host(config(tmp_path), tmp_path / "z.db", paths=trader(dists),
                              interval=0.2, on_round=summaries.append):
        deadline = time.monotonic() + 30
        while len(summaries) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(summaries) >= 3 and summaries[0].startswith("round 1: 1 HEALTHY")


def test_the_api_is_thread_safe(dists: DistFactory, tmp_path: Path) -> None:
    with zepix_core.open_host(config(tmp_path), tmp_path / "z.db", paths=trader(dists),
                              interval=0.05) as host:
        found: list[int] = []

        def feed(symbol: str) -> None:
            for bar in bars([100.0 + (i % 3) for i in range(200)], symbol=symbol):
                found.extend(i.id.count("-") for i in host.on_bar(bar))

        threads = [threading.Thread(target=feed, args=(s,)) for s in ("A", "B", "C")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        plugin = host.host.slots["trader"].runner.pm.get_plugin("trader")  # type: ignore[union-attr]
        assert plugin.bars == 600
        assert len(host.host.trades.intents) == len(found) > 0


def test_async_host_never_blocks_the_event_loop(dists: DistFactory, tmp_path: Path) -> None:
    slow = TRADER.replace("        self.bars += 1\n", "        self.bars += 1\n"
                          "        import time; time.sleep(0.2)\n")
    dists.add("zepix-slow", "1.0.0", {"slow": "slow_mod:Plugin"}, {"slow_mod": slow})

    async def bot() -> tuple[int, list[str]]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async with zepix_core.open_host_async(config(tmp_path), tmp_path / "z.db",
                                              paths=[str(dists.root)]) as host:
            task = asyncio.create_task(ticker())
            intents = []
            for bar in bars([100.0, 101.0, 102.0]):
                intents += await host.on_bar(bar)
            await host.report_fill(Fill(intents[0].id, 1.0, 101.0, 120.0))
            task.cancel()
            return ticks, [p["state"] for p in await host.plugins()]

    ticks, states = asyncio.run(bot())
    assert states == ["ACTIVE"]
    assert ticks >= 5  # three 0.2 s bars: the loop kept ticking meanwhile


def test_a_second_host_on_the_same_database_is_refused(dists: DistFactory,
                                                        tmp_path: Path) -> None:
    paths = trader(dists)
    with (zepix_core.open_host(config(tmp_path), tmp_path / "z.db", paths=paths),
          pytest.raises(zepix_core.StorageError, match="another zepix host"),
          zepix_core.open_host(config(tmp_path), tmp_path / "z.db", paths=paths)):
        pass


def test_a_hung_plugin_delays_no_other_by_more_than_its_deadline_and_turns_hung(
        dists: DistFactory, tmp_path: Path) -> None:
    paths = trader(dists)
    hung = TRADER.replace("        self.bars += 1\n", "        self.bars += 1\n"
                          "        import time; time.sleep(60)\n")
    dists.add("zepix-hung", "1.0.0", {"hung": "hung_mod:Plugin"}, {"hung_mod": hung})
    with zepix_core.open_host(config(tmp_path, "[thresholds]\nhung_after = 1\n"),
                              tmp_path / "z.db", paths=paths) as host:
        started = time.monotonic()
        intents = host.on_bar(make_bar(101.0, open=100.0, ts=60.0))
        took = time.monotonic() - started
        assert [i.plugin_id for i in intents] == ["trader"]
        assert took < 1.0 + 1.5  # the on_bar deadline (1 s), loose for a busy machine
        host.round()
        status = {s["plugin_id"]: s["status"] for s in host.health()}
        assert status == {"hung": "HUNG", "trader": "HEALTHY"}
        started = time.monotonic()
        assert len(host.on_bar(make_bar(102.0, open=101.0, ts=120.0))) == 1
        assert time.monotonic() - started < 1.0  # the stuck plugin sits out: no wait at all
