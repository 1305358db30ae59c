"""The paper fill model and session shared by the bundled strategy plugins."""

from __future__ import annotations

import threading
from typing import Any

import pluggy
import pytest

from zepix_core import Bar, PluginContext, hookimpl
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.paper import (
    Check,
    Fill,
    PaperBroker,
    PaperSession,
    PaperStrategy,
    SessionSettings,
    Strategy,
    bar_problem,
    self_test_report,
    synthetic_bars,
)


def bar(o: float, h: float, low: float, c: float, ts: float = 60.0, tf: str = "1m") -> Bar:
    return Bar("BTCUSD", tf, ts, o, h, low, c, 1.0)


def long_at_100(broker: PaperBroker) -> list[Fill]:
    return broker.enter(
        "BTCUSD", "long", price=100.0, stop=98.0, target=104.0, ts=0.0, reason="test"
    )


def test_entry_fills_at_price_sized_by_risk() -> None:
    broker = PaperBroker(equity=10_000.0, risk_per_trade=0.01)
    (fill,) = long_at_100(broker)
    assert (fill.side, fill.price) == ("buy", 100.0)
    assert fill.quantity == pytest.approx(50.0)
    assert fill.intent() == {
        "symbol": "BTCUSD",
        "side": "buy",
        "quantity": pytest.approx(50.0),
        "price": 100.0,
        "reason": "test",
    }
    assert broker.orders_placed == 1


def test_stop_loss_is_a_loss_of_the_risked_amount() -> None:
    broker = PaperBroker()
    long_at_100(broker)
    (fill,) = broker.check_exits(bar(99.5, 99.8, 97.5, 98.5))
    assert (fill.side, fill.price, fill.reason) == ("sell", 98.0, "stop-loss")
    assert (broker.wins, broker.losses) == (0, 1)
    assert broker.realized_pnl == pytest.approx(-100.0)
    assert broker.equity == pytest.approx(9_900.0)
    assert broker.position("BTCUSD") is None


def test_take_profit_is_a_win() -> None:
    broker = PaperBroker()
    long_at_100(broker)
    assert broker.check_exits(bar(100.0, 103.0, 99.0, 102.0)) == []
    (fill,) = broker.check_exits(bar(102.0, 104.5, 101.5, 104.2))
    assert (fill.price, fill.reason) == (104.0, "take-profit")
    assert (broker.wins, broker.losses, broker.closed_trades) == (1, 0, 1)
    assert broker.realized_pnl == pytest.approx(200.0)


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    broker = PaperBroker()
    long_at_100(broker)
    (fill,) = broker.check_exits(bar(96.0, 97.0, 95.0, 96.5))
    assert fill.price == 96.0
    assert broker.realized_pnl == pytest.approx(-200.0)


def test_a_bar_reaching_both_levels_takes_the_stop() -> None:
    broker = PaperBroker()
    long_at_100(broker)
    (fill,) = broker.check_exits(bar(100.0, 105.0, 97.0, 101.0))
    assert fill.reason == "stop-loss"


def test_short_positions_mirror_longs() -> None:
    broker = PaperBroker()
    broker.enter("BTCUSD", "short", price=100.0, stop=102.0, target=96.0, ts=0.0, reason="s")
    (fill,) = broker.check_exits(bar(98.0, 98.5, 95.5, 96.0))
    assert (fill.side, fill.price) == ("buy", 96.0)
    assert broker.wins == 1


def test_opposite_signal_reverses_at_the_signal_price() -> None:
    broker = PaperBroker()
    long_at_100(broker)
    exit_, entry = broker.enter(
        "BTCUSD", "short", price=101.0, stop=103.0, target=97.0, ts=60.0, reason="turn"
    )
    assert (exit_.side, exit_.price, exit_.reason) == ("sell", 101.0, "reverse: turn")
    assert entry.side == "sell"
    assert broker.wins == 1
    held = broker.position("BTCUSD")
    assert held is not None and held.direction == "short"
    assert broker.orders_placed == 3


def test_same_direction_signal_does_not_pyramid() -> None:
    broker = PaperBroker()
    long_at_100(broker)
    assert long_at_100(broker) == []
    assert broker.orders_placed == 1


def test_entries_are_refused_once_the_equity_is_gone() -> None:
    broker = PaperBroker(equity=100.0, risk_per_trade=0.5)
    long_at_100(broker)
    broker.check_exits(bar(60.0, 61.0, 59.0, 60.0))  # a gap far through the stop
    assert broker.equity < 0
    assert long_at_100(broker) == []
    assert (broker.entries_refused, broker.orders_placed) == (1, 2)


def test_levels_on_the_wrong_side_are_refused() -> None:
    with pytest.raises(ValueError, match="either side"):
        PaperBroker().enter("X", "long", price=100.0, stop=101.0, target=104.0, ts=0.0, reason="")


def test_trade_history_is_bounded_but_counters_are_not() -> None:
    broker = PaperBroker(history=3)
    for i in range(5):
        long_at_100(broker)
        broker.close("BTCUSD", 101.0, float(i), "manual")
    assert len(broker.trades) == 3
    assert broker.closed_trades == broker.wins == 5


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (bar(100.0, 99.0, 98.0, 100.0), "do not bound"),
        (bar(100.0, 101.0, 100.5, 100.0), "do not bound"),
        (bar(float("nan"), 101.0, 99.0, 100.0), "non-finite"),
        (bar(0.0, 101.0, 0.0, 100.0), "non-positive"),
    ],
)
def test_unsound_bars_are_named(bad: Bar, problem: str) -> None:
    assert problem in (bar_problem(bad) or "")


def test_settings_read_known_keys_and_ignore_host_keys() -> None:
    settings = SessionSettings.from_config(
        {"symbols": ["ETHUSD"], "risk_per_trade": 0.02, "equity": 500, "ping_timeout": 2.0}
    )
    assert settings == SessionSettings(frozenset({"ETHUSD"}), 500.0, 0.02)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"symbols": "BTCUSD"}, "symbols"),
        ({"symbols": [1]}, "symbols"),
        ({"risk_per_trade": 1.5}, "risk_per_trade"),
        ({"risk_per_trade": True}, "risk_per_trade"),
        ({"equity": -1}, "equity"),
    ],
)
def test_bad_settings_name_the_key(config: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=f"'{key}'"):
        SessionSettings.from_config(config)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def enter_every_bar(session: PaperSession) -> Strategy:
    def strategy(b: Bar) -> list[Fill]:
        return session.broker.enter(
            b.symbol,
            "long",
            price=b.close,
            stop=b.close - 1,
            target=b.close + 1,
            ts=b.ts,
            reason="x",
        )

    return strategy


def test_session_counts_only_sound_new_bars_of_its_timeframe() -> None:
    clock = FakeClock()
    session = PaperSession("demo", "5m", clock=clock)
    calls: list[Bar] = []

    def record(b: Bar) -> list[Fill]:
        calls.append(b)
        return []

    good = synthetic_bars([100.0, 101.0], timeframe="5m")
    fed = [
        bar(100.0, 101.0, 99.0, 100.5, tf="1m"),
        good[0],
        good[0],
        bar(100.0, 99.0, 98.0, 100.0, ts=900.0, tf="5m"),
        good[1],
    ]
    for b in fed:
        session.handle(b, record)
    assert calls == good
    metrics = session.metrics()
    assert (metrics["signals_processed"], metrics["bars_received"]) == (2, 5)
    assert (metrics["errors"], metrics["warnings"]) == (1, 1)


def test_session_returns_intents_and_counts_strategy_errors() -> None:
    session = PaperSession("demo", "1m", clock=FakeClock())
    (b,) = synthetic_bars([100.0])
    intents = session.handle(b, enter_every_bar(session))
    assert intents is not None and intents[0]["side"] == "buy"

    def broken(_: Bar) -> list[Fill]:
        raise RuntimeError("boom")

    (later,) = synthetic_bars([100.0], start=60.0)
    with pytest.raises(RuntimeError):
        session.handle(later, broken)
    assert session.metrics()["errors"] == 1


def test_session_filters_symbols_and_restarts_clean() -> None:
    session = PaperSession("demo", "1m", clock=FakeClock())
    session.start({"symbols": ["ETHUSD"]})
    (b,) = synthetic_bars([100.0], symbol="BTCUSD")
    assert session.handle(b, enter_every_bar(session)) is None
    assert session.metrics()["signals_processed"] == 0
    session.start({})
    assert session.handle(b, enter_every_bar(session)) is not None
    assert session.metrics()["orders_placed"] == 1


def test_health_reports_last_activity_and_deactivation() -> None:
    clock = FakeClock()
    session = PaperSession("demo", "1m", clock=clock)
    assert session.health(1_010.0)["last_activity"] == 1_000.0
    clock.now = 1_005.0
    (b,) = synthetic_bars([100.0], timeframe="1h")
    session.handle(b, lambda _: [])
    answer = session.health(1_010.0)
    assert answer["ok"] is True and answer["last_activity"] == 1_005.0
    assert "idle 5s" in answer["detail"]
    session.stop("shutdown")
    assert session.health(1_010.0) == {
        "ok": False,
        "last_activity": 1_005.0,
        "detail": "deactivated (shutdown)",
    }
    (later,) = synthetic_bars([100.0], timeframe="1m")
    session.handle(later, lambda _: [])
    assert session.metrics()["warnings"] == 1


def test_health_answers_from_another_thread_while_a_bar_is_processed() -> None:
    session = PaperSession("demo", "1m", clock=FakeClock())
    inside, release = threading.Event(), threading.Event()

    def slow(_: Bar) -> list[Fill]:
        inside.set()
        release.wait(5)
        return []

    (b,) = synthetic_bars([100.0])
    worker = threading.Thread(target=session.handle, args=(b, slow))
    worker.start()
    assert inside.wait(5)
    answers: list[dict[str, object]] = []
    pinger = threading.Thread(target=lambda: answers.append(session.health(2_000.0)))
    pinger.start()
    release.set()
    worker.join(5)
    pinger.join(5)
    assert answers and answers[0]["ok"] is True
    assert session.metrics()["signals_processed"] == 1


def test_self_test_report_passes_only_when_all_checks_pass() -> None:
    good, bad = Check("a", True, "fine"), Check("b", False, "broken")
    assert self_test_report([good])["passed"] is True
    report = self_test_report([good, bad])
    assert report["passed"] is False
    assert report["checks"][1] == {"name": "b", "passed": False, "detail": "broken"}


def test_synthetic_bars_chain_and_are_sound() -> None:
    bars = synthetic_bars([100.0, 102.0, 101.0], timeframe="5m", start=0.0, step=300.0)
    assert [b.ts for b in bars] == [300.0, 600.0, 900.0]
    assert [b.open for b in bars] == [100.0, 100.0, 102.0]
    assert all(bar_problem(b) is None for b in bars)


class BuyEveryBar(PaperStrategy):
    """A minimal strategy plugin: buys on every 1m bar it evaluates."""

    def __init__(self) -> None:
        super().__init__("buy_every_bar", "1m", clock=lambda: 42.0)

    def reset(self) -> None:
        self.seen = 0

    def strategy_metrics(self) -> dict[str, int | float]:
        return {"seen": self.seen}

    def evaluate(self, bar: Bar) -> list[Fill]:
        self.seen += 1
        return self.session.broker.enter(
            bar.symbol,
            "long",
            price=bar.close,
            stop=bar.low * 0.99,
            target=bar.high * 1.01,
            ts=bar.ts,
            reason="always",
        )

    @hookimpl
    def plugin_version(self) -> str:
        return "0.1.0"

    @hookimpl
    def self_test(self) -> bool:
        return True


def test_paper_strategy_hooks_validate_and_run_through_pluggy(tmp_path: Any) -> None:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(BuyEveryBar())
    pm.check_pending()
    ctx = PluginContext("buy_every_bar", "0.1.0", "1.0", str(tmp_path))
    pm.hook.activate(context=ctx, config={"equity": 1_000, "risk_per_trade": 0.05})
    (b,) = synthetic_bars([100.0, 101.0])[1:]
    (intent,) = pm.hook.on_bar(bar=b)
    assert intent["side"] == "buy" and intent["reason"] == "always"
    metrics = pm.hook.get_metrics()
    assert (metrics["seen"], metrics["orders_placed"], metrics["equity"]) == (1, 1, 1_000.0)
    assert pm.hook.health_ping(now=50.0) == {
        "ok": True,
        "last_activity": 42.0,
        "detail": "1 1m bars evaluated, 1 open positions, 0 errors, idle 8s",
    }
    pm.hook.deactivate(reason="shutdown")
    assert pm.hook.health_ping(now=50.0)["ok"] is False


def test_paper_strategy_activation_rejects_bad_config_and_keeps_state(tmp_path: Any) -> None:
    plugin = BuyEveryBar()
    ctx = PluginContext("buy_every_bar", "0.1.0", "1.0", str(tmp_path))
    plugin.on_bar(synthetic_bars([100.0])[0])
    with pytest.raises(ValueError, match="'equity'"):
        plugin.activate(ctx, {"equity": "lots"})
    assert plugin.get_metrics()["seen"] == 1
    plugin.activate(ctx, {})
    assert plugin.get_metrics()["seen"] == 0


def test_paper_strategy_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        PaperStrategy("x", "1m")  # type: ignore[abstract]


def test_a_paper_strategy_logs_why_it_was_restarted(caplog: pytest.LogCaptureFixture) -> None:
    """Every PaperStrategy (the bundled plugins among them) takes the optional
    plugin_restarted hook: the notice reaches the plugin's own log, reason included."""
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    pm.register(BuyEveryBar())
    pm.check_pending()
    with caplog.at_level("INFO", logger="zepix.plugin.buy_every_bar"):
        assert pm.hook.plugin_restarted(reason="operator restart (request 7 by cli:alice)",
                                        restarts=2) is None  # firstresult
    [record] = [r for r in caplog.records if r.name == "zepix.plugin.buy_every_bar"]
    assert record.getMessage() == ("restarted (2 since the host started): "
                                   "operator restart (request 7 by cli:alice)")
