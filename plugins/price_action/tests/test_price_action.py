"""The four price_action plugins: setups, swing context, paper fills, counts, health."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import Any

import pluggy
import pytest
from packaging.specifiers import SpecifierSet
from zepix_price_action import (
    PROFILES,
    PriceAction1h,
    PriceAction1m,
    PriceAction5m,
    PriceAction15m,
    PriceActionPlugin,
    __version__,
)
from zepix_price_action._patterns import Setup, at_swing_level, engulfing, inside_breakout, pin_bar
from zepix_price_action._selftest import choppy, ramp

import zepix_core
from zepix_core import Bar, PluginContext
from zepix_core.paper import accounting_check, synthetic_bars
from zepix_core.testing import FakeClock, MarketReplay, PluginSpec

CLASSES = {
    "price_action_1m": PriceAction1m,
    "price_action_5m": PriceAction5m,
    "price_action_15m": PriceAction15m,
    "price_action_1h": PriceAction1h,
}
LOOKBACK = PROFILES["5m"].swing_lookback


def ohlc(o: float, h: float, low: float, c: float, ts: float = 0.0, tf: str = "5m") -> Bar:
    return Bar("ETHUSD", tf, ts, o, h, low, c, 1.0)


def bars_5m(closes: list[float]) -> list[Bar]:
    return synthetic_bars(closes, symbol="ETHUSD", timeframe="5m", step=300.0)


def after(bar: Bar, o: float, h: float, low: float, c: float) -> Bar:
    return ohlc(o, h, low, c, ts=bar.ts + 300.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=7_000.0)


@pytest.fixture
def pa5(clock: FakeClock, tmp_path: Path) -> PriceAction5m:
    plugin = PriceAction5m(clock=clock)
    plugin.activate(PluginContext("price_action_5m", __version__, "1.0", str(tmp_path)), {})
    return plugin


def feed(plugin: PriceActionPlugin, bars: list[Bar]) -> list[dict[str, Any]]:
    return [i for bar in bars for i in plugin.on_bar(bar) or []]


def long_at_support(plugin: PriceActionPlugin) -> tuple[dict[str, Any], Bar]:
    """A decline to a swing low, a red bar, then a green bar engulfing it."""
    bars = bars_5m(ramp(110.0, 100.0, LOOKBACK + 5) + [99.5, 100.5])
    intents = feed(plugin, bars)
    assert len(intents) == 1
    return intents[0], bars[-1]


@pytest.mark.parametrize("plugin_id", sorted(CLASSES))
def test_each_entry_point_is_its_own_timeframe_class(plugin_id: str) -> None:
    (ep,) = entry_points(group="zepix.plugins", name=plugin_id)
    cls = ep.load()
    assert cls is CLASSES[plugin_id]
    assert ep.dist is not None and ep.dist.name == "zepix-price-action"
    assert cls.profile.plugin_id == plugin_id


def test_all_four_register_together_with_pluggy() -> None:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    for cls in CLASSES.values():
        pm.register(cls(), name=cls.profile.plugin_id)
    pm.check_pending()
    results = pm.hook.get_metrics.get_hookimpls()
    assert len(results) == 4


@pytest.mark.parametrize("cls", CLASSES.values(), ids=list(CLASSES))
def test_reported_version_is_the_distribution_version(cls: type[PriceActionPlugin]) -> None:
    info = cls().plugin_version()
    assert info["version"] == version("zepix-price-action") == "6.1.0"
    assert zepix_core.API_VERSION in SpecifierSet(info["requires_api"])
    assert f"timeframe:{cls.profile.timeframe}" in info["features"]


def test_the_shared_base_is_not_a_plugin_on_its_own() -> None:
    with pytest.raises(TypeError, match="per-timeframe subclass"):
        PriceActionPlugin()


def test_detectors_read_textbook_bars() -> None:
    hammer, star = ohlc(100, 100.3, 97, 100.2), ohlc(100, 103, 99.9, 99.9)
    assert pin_bar(hammer, 2.0) == Setup("pin_bar", "long", 97, reversal=True)
    assert pin_bar(star, 2.0) == Setup("pin_bar", "short", 103, reversal=True)
    assert pin_bar(ohlc(100, 100, 100, 100), 2.0) is None
    red, green = ohlc(100, 100.1, 98.9, 99), ohlc(98.9, 100.6, 98.8, 100.5)
    assert engulfing(red, green) == Setup("engulfing", "long", 98.8, reversal=True)
    assert engulfing(green, red) is None  # a smaller body engulfs nothing
    assert engulfing(green, green) is None
    mother, inside = ohlc(100, 104, 96, 101), ohlc(101, 102, 99, 100)
    assert inside_breakout(mother, inside, ohlc(100, 100.5, 95, 95.5)) == Setup(
        "inside_breakout", "short", 102, reversal=False
    )
    assert inside_breakout(mother, inside, ohlc(100, 101, 99, 100.5)) is None


def test_swing_level_is_a_zone_at_the_window_extremes() -> None:
    window = [ohlc(100, 110, 90, 100)]
    assert at_swing_level(Setup("pin_bar", "long", 94.0, True), window, 0.25)
    assert not at_swing_level(Setup("pin_bar", "long", 96.0, True), window, 0.25)
    assert at_swing_level(Setup("pin_bar", "short", 106.0, True), window, 0.25)


def test_engulfing_at_support_goes_long(pa5: PriceAction5m) -> None:
    intent, bar = long_at_support(pa5)
    assert (intent["side"], intent["price"], intent["reason"]) == (
        "buy",
        bar.close,
        "long: engulfing on 5m",
    )
    metrics = pa5.get_metrics()
    assert (metrics["setups_engulfing"], metrics["orders_placed"], metrics["open_positions"]) == (
        1,
        1,
        1,
    )


def test_pin_bar_at_resistance_goes_short(pa5: PriceAction5m) -> None:
    bars = bars_5m(ramp(100.0, 110.0, LOOKBACK + 5))
    star = after(bars[-1], 110.0, 112.0, 109.9, 110.1)
    (intent,) = feed(pa5, [*bars, star])
    assert (intent["side"], intent["reason"]) == ("sell", "short: pin_bar on 5m")


def test_a_reversal_in_mid_range_is_counted_but_not_traded(pa5: PriceAction5m) -> None:
    # 24 bars spanning a swing 100 -> 110 -> 104, then an engulfing bar at 104
    swing = ramp(104.0, 100.0, 6) + ramp(100.0, 110.0, 9) + ramp(110.0, 104.0, 9)
    assert len(swing) == LOOKBACK
    bars = bars_5m([*swing, 103.7, 104.6])
    assert feed(pa5, bars) == []
    metrics = pa5.get_metrics()
    assert (metrics["setups_engulfing"], metrics["setups_out_of_context"]) == (1, 1)


def test_an_inside_bar_breakout_trades_anywhere(pa5: PriceAction5m) -> None:
    bars = bars_5m(ramp(100.0, 110.0, LOOKBACK // 2) + ramp(110.0, 105.0, LOOKBACK // 2 + 2))
    # small green bodies, so no bar engulfs the one before it or is a pin bar
    mother = after(bars[-1], 105.0, 107.0, 103.0, 105.2)
    inside = after(mother, 105.2, 106.0, 104.6, 105.5)
    breakout = after(inside, 105.5, 107.6, 105.4, 107.5)
    (intent,) = feed(pa5, [*bars, mother, inside, breakout])
    assert (intent["side"], intent["reason"]) == ("buy", "long: inside_breakout on 5m")


def test_stop_loss_counts_a_loss(pa5: PriceAction5m) -> None:
    entry, bar = long_at_support(pa5)
    (exit_,) = pa5.on_bar(after(bar, 100.5, 100.6, 98.0, 99.0)) or []
    assert (exit_["side"], exit_["reason"]) == ("sell", "stop-loss")
    assert exit_["quantity"] == entry["quantity"]
    metrics = pa5.get_metrics()
    assert (metrics["wins"], metrics["losses"]) == (0, 1)
    assert metrics["realized_pnl"] == pytest.approx(-100.0)


def test_take_profit_counts_a_win(pa5: PriceAction5m) -> None:
    _, bar = long_at_support(pa5)
    (exit_,) = pa5.on_bar(after(bar, 100.5, 106.0, 100.4, 105.0)) or []
    assert exit_["reason"] == "take-profit"
    metrics = pa5.get_metrics()
    assert (metrics["wins"], metrics["losses"]) == (1, 0)
    assert metrics["realized_pnl"] == pytest.approx(200.0)  # reward 2R on 5m


def test_each_plugin_evaluates_only_its_timeframe_and_reconciles() -> None:
    plugins = {pid: cls(clock=lambda: 0.0) for pid, cls in CLASSES.items()}
    intents: dict[str, list[dict[str, Any]]] = {pid: [] for pid in plugins}
    for bars in itertools.islice(MarketReplay(), 2400):
        for pid, plugin in plugins.items():
            intents[pid].extend(feed(plugin, bars))
    per_symbol = {"1m": 2400, "5m": 480, "15m": 160, "1h": 40}
    for pid, plugin in plugins.items():
        metrics = plugin.get_metrics()
        assert metrics["signals_processed"] == 2 * per_symbol[plugin.profile.timeframe]
        assert metrics["bars_received"] == 2 * (2400 + 480 + 160 + 40)
        check = accounting_check(intents[pid], metrics)
        assert check.passed, f"{pid}: {check.detail}"


def test_health_ping_reports_activity_and_deactivation(pa5: PriceAction5m, clock: FakeClock) -> None:
    assert pa5.health_ping(now=7_100.0)["last_activity"] == 7_000.0
    clock.advance(50.0)
    pa5.on_bar(ohlc(100, 101, 99, 100, ts=60.0, tf="1m"))
    answer = pa5.health_ping(now=7_100.0)
    assert answer["ok"] is True and answer["last_activity"] == 7_050.0
    assert answer["detail"].startswith("0 5m bars evaluated")
    pa5.deactivate("config")
    answer = pa5.health_ping(now=7_100.0)
    assert (answer["ok"], answer["detail"]) == (False, "deactivated (config)")


@pytest.mark.parametrize("cls", CLASSES.values(), ids=list(CLASSES))
def test_self_test_passes_repeatably_without_touching_live_state(
    cls: type[PriceActionPlugin],
) -> None:
    plugin = cls(clock=lambda: 0.0)
    feed(plugin, synthetic_bars(choppy(300), timeframe=cls.profile.timeframe))
    before = plugin.get_metrics()
    report = plugin.self_test()
    assert report["passed"] is True, report["checks"]
    assert report == plugin.self_test()
    assert plugin.get_metrics() == before


def test_bad_config_fails_activation_with_the_key(pa5: PriceAction5m, tmp_path: Path) -> None:
    ctx = PluginContext("price_action_5m", __version__, "1.0", str(tmp_path))
    with pytest.raises(ValueError, match="'symbols'"):
        pa5.activate(ctx, {"symbols": "ETHUSD"})
    pa5.activate(ctx, {"symbols": ["BTCUSD"]})
    assert feed(pa5, bars_5m(ramp(110.0, 100.0, LOOKBACK + 5) + [99.5, 100.5])) == []
    assert pa5.get_metrics()["signals_processed"] == 0


def test_health_answers_while_another_thread_feeds_bars(pa5: PriceAction5m) -> None:
    started = threading.Event()

    def run_replay() -> int:
        started.set()
        return sum(len(feed(pa5, bars)) for bars in itertools.islice(MarketReplay(seed=5), 3000))

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run_replay)
        assert started.wait(5)
        pings = []
        while not future.done():
            pings.append(pa5.health_ping(now=8_000.0))
        orders = future.result(timeout=30)
    assert pings and all(p["ok"] for p in pings)
    assert pa5.get_metrics()["orders_placed"] == orders
