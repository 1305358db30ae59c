"""The combined_v3 plugin: signals, paper fills, counts and the health surface."""

from __future__ import annotations

import itertools
import threading
from importlib.metadata import entry_points, version
from typing import Any

import pluggy
import pytest
from packaging.specifiers import SpecifierSet
from zepix_combined_v3 import CombinedV3, __version__
from zepix_combined_v3._selftest import trend, waves, zigzag

import zepix_core
from zepix_core import Bar, PluginContext
from zepix_core.paper import accounting_check, synthetic_bars
from zepix_core.testing import FakeClock, MarketReplay, PluginSpec


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=5_000.0)


@pytest.fixture
def plugin(clock: FakeClock, tmp_path: Any) -> CombinedV3:
    plugin = CombinedV3(clock=clock)
    plugin.activate(context(tmp_path), {})
    return plugin


def context(tmp_path: Any) -> PluginContext:
    return PluginContext("combined_v3", __version__, zepix_core.API_VERSION, str(tmp_path))


def five_minute(closes: list[float], **kwargs: Any) -> list[Bar]:
    return synthetic_bars(closes, timeframe="5m", step=300.0, symbol="BTCUSD", **kwargs)


def feed(plugin: CombinedV3, bars: list[Bar]) -> list[dict[str, Any]]:
    return [i for bar in bars for i in plugin.on_bar(bar) or []]


def enter_long(plugin: CombinedV3) -> tuple[dict[str, Any], Bar]:
    """Feed a flat market then an uptrend until the first entry; return it and its bar."""
    for bar in five_minute(zigzag(30) + trend(100.0, 30, 0.004)):
        intents = plugin.on_bar(bar)
        if intents:
            return intents[0], bar
    raise AssertionError("the uptrend gave no entry")


def next_bar(after: Bar, low: float, high: float, close: float) -> Bar:
    return Bar(after.symbol, after.timeframe, after.ts + 300.0, after.close, high, low, close, 1.0)


def test_registers_with_pluggy_against_the_host_specs() -> None:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(CombinedV3())
    pm.check_pending()
    assert pm.hook.plugin_version()["version"] == __version__
    assert pm.hook.self_test()["passed"] is True


def test_entry_point_loads_the_plugin_class() -> None:
    (ep,) = entry_points(group="zepix.plugins", name="combined_v3")
    assert ep.load() is CombinedV3
    assert ep.dist is not None and ep.dist.name == "zepix-combined-v3"


def test_reported_version_is_the_distribution_version() -> None:
    info = CombinedV3().plugin_version()
    assert info["version"] == version("zepix-combined-v3") == "3.2.0"
    assert zepix_core.API_VERSION in SpecifierSet(info["requires_api"])
    assert "timeframe:5m" in info["features"]
    assert "commit" not in info


def test_an_uptrend_after_a_flat_market_goes_long(plugin: CombinedV3) -> None:
    intent, bar = enter_long(plugin)
    assert intent["side"] == "buy" and intent["symbol"] == "BTCUSD"
    assert intent["price"] == bar.close and intent["quantity"] > 0
    assert intent["reason"].startswith("long: ema9/21 trend, rsi")
    metrics = plugin.get_metrics()
    assert (metrics["long_signals"], metrics["orders_placed"], metrics["open_positions"]) == (
        1,
        1,
        1,
    )


def test_a_downtrend_goes_short(plugin: CombinedV3) -> None:
    intents = feed(plugin, five_minute(zigzag(30) + trend(100.0, 30, -0.004)))
    assert intents[0]["side"] == "sell"
    assert plugin.get_metrics()["short_signals"] >= 1


def test_a_flat_market_is_evaluated_but_not_traded(plugin: CombinedV3) -> None:
    assert feed(plugin, five_minute(zigzag(80))) == []
    metrics = plugin.get_metrics()
    assert (metrics["signals_processed"], metrics["orders_placed"]) == (80, 0)


def test_stop_loss_closes_the_position_as_a_loss(plugin: CombinedV3) -> None:
    entry, bar = enter_long(plugin)
    dip = next_bar(bar, low=bar.close * 0.97, high=bar.close, close=bar.close * 0.998)
    (exit_,) = plugin.on_bar(dip) or []
    assert (exit_["side"], exit_["reason"], exit_["quantity"]) == (
        "sell",
        "stop-loss",
        entry["quantity"],
    )
    assert exit_["price"] < entry["price"]
    metrics = plugin.get_metrics()
    assert (metrics["wins"], metrics["losses"], metrics["open_positions"]) == (0, 1, 0)
    assert metrics["realized_pnl"] == pytest.approx(-100.0)  # 1% of 10000 risked


def test_take_profit_closes_the_position_as_a_win(plugin: CombinedV3) -> None:
    entry, bar = enter_long(plugin)
    rally = next_bar(bar, low=bar.close, high=bar.close * 1.1, close=bar.close * 1.08)
    (exit_,) = plugin.on_bar(rally) or []
    assert exit_["reason"] == "take-profit" and exit_["price"] > entry["price"]
    metrics = plugin.get_metrics()
    assert (metrics["wins"], metrics["losses"]) == (1, 0)
    assert metrics["realized_pnl"] == pytest.approx(200.0)  # target is 2R


def test_other_timeframes_and_unlisted_symbols_are_ignored(clock: FakeClock, tmp_path: Any) -> None:
    plugin = CombinedV3(clock=clock)
    plugin.activate(context(tmp_path), {"symbols": ["ETHUSD"]})
    rising = zigzag(30) + trend(100.0, 30, 0.004)
    assert feed(plugin, synthetic_bars(rising, timeframe="1m", symbol="ETHUSD")) == []
    assert feed(plugin, five_minute(rising)) == []
    metrics = plugin.get_metrics()
    assert (metrics["signals_processed"], metrics["bars_received"]) == (0, 120)


def test_unsound_and_repeated_bars_count_as_errors_and_warnings(plugin: CombinedV3) -> None:
    (good,) = five_minute([100.0])
    broken = Bar("BTCUSD", "5m", 900.0, 100.0, 99.0, 98.0, 100.0, 1.0)
    assert plugin.on_bar(good) is None
    assert plugin.on_bar(good) is None
    assert plugin.on_bar(broken) is None
    metrics = plugin.get_metrics()
    assert (metrics["signals_processed"], metrics["warnings"], metrics["errors"]) == (1, 1, 1)


def test_activation_validates_config_and_resets_counts(plugin: CombinedV3, tmp_path: Any) -> None:
    enter_long(plugin)
    with pytest.raises(ValueError, match="'risk_per_trade'"):
        plugin.activate(context(tmp_path), {"risk_per_trade": 2})
    assert plugin.get_metrics()["orders_placed"] == 1
    plugin.activate(context(tmp_path), {"risk_per_trade": 0.02, "equity": 1000})
    metrics = plugin.get_metrics()
    assert (metrics["orders_placed"], metrics["long_signals"], metrics["equity"]) == (0, 0, 1000.0)


def test_health_ping_tracks_last_activity(plugin: CombinedV3, clock: FakeClock) -> None:
    first = plugin.health_ping(now=5_030.0)
    assert first["ok"] is True and first["last_activity"] == 5_000.0
    clock.advance(20.0)
    plugin.on_bar(five_minute([100.0])[0])
    answer = plugin.health_ping(now=5_030.0)
    assert answer["last_activity"] == 5_020.0
    assert "1 5m bars evaluated" in answer["detail"] and "idle 10s" in answer["detail"]
    plugin.deactivate("shutdown")
    assert plugin.health_ping(now=5_040.0)["ok"] is False


def test_self_test_passes_is_idempotent_and_leaves_live_state_alone(plugin: CombinedV3) -> None:
    enter_long(plugin)
    before = plugin.get_metrics()
    first, second = plugin.self_test(), plugin.self_test()
    assert first["passed"] is True and first == second
    assert {c["name"] for c in first["checks"]} >= {"uptrend_goes_long", "accounting"}
    assert plugin.get_metrics() == before


def test_trades_the_market_replay_with_reconciled_counts(plugin: CombinedV3) -> None:
    intents = [i for bars in itertools.islice(MarketReplay(), 3000) for i in feed(plugin, bars)]
    metrics = plugin.get_metrics()
    assert metrics["signals_processed"] == 2 * 3000 // 5
    assert metrics["wins"] > 0 and metrics["losses"] > 0
    check = accounting_check(intents, metrics)
    assert check.passed, check.detail


def test_waves_give_round_trips_in_both_directions(plugin: CombinedV3) -> None:
    sides = {i["side"] for i in feed(plugin, five_minute(waves(600)))}
    assert sides == {"buy", "sell"}
    assert plugin.get_metrics()["closed_trades"] > 5


def test_health_and_metrics_answer_from_another_thread_during_on_bar(plugin: CombinedV3) -> None:
    replay, answers, done = MarketReplay(seed=3), [], threading.Event()

    def monitor() -> None:
        while not done.is_set():
            answers.append((plugin.health_ping(now=6_000.0)["ok"], plugin.get_metrics()))

    watcher = threading.Thread(target=monitor)
    watcher.start()
    try:
        for bars in itertools.islice(replay, 1500):
            feed(plugin, bars)
    finally:
        done.set()
        watcher.join(5)
    assert answers and all(ok for ok, _ in answers)
    processed = [m["signals_processed"] for _, m in answers]
    assert processed == sorted(processed)
    assert plugin.get_metrics()["signals_processed"] == 600


def test_config_changed_takes_risk_and_symbols_live_and_asks_a_restart_for_equity(
        plugin: CombinedV3, tmp_path: Any) -> None:
    plugin.activate(context(tmp_path), {"risk_per_trade": 0.01})
    key = "plugins.combined_v3."
    assert plugin.config_changed({key + "risk_per_trade": [0.01, 0.02],
                                  key + "symbols": [None, ["ETHUSD"]]}) is True
    assert plugin.session.broker.risk_per_trade == 0.02
    assert plugin.session.settings.symbols == frozenset({"ETHUSD"})
    assert plugin.config_changed({key + "risk_per_trade": [0.02, 2]}) is False  # out of range
    assert plugin.session.broker.risk_per_trade == 0.02
    assert plugin.config_changed({key + "equity": [10000, 500]}) is False
