"""Host-kept positions and P&L, win rate, orders per hour and signal accuracy (pure)."""

from __future__ import annotations

import pytest

from zepix_core import Fill, Intent, IntentError
from zepix_core.host.trades import Trades
from zepix_core.testing import make_bar
from zepix_core.trading import Accuracy, Ledger


def intent(side: str, symbol: str = "BTCUSD", id: str = "i", shadow: bool = False) -> Intent:
    return Intent(id, "p", symbol, side, 1.0, None, "", 60.0, shadow)


def test_average_cost_realised_pnl_and_round_trips() -> None:
    book = Ledger()
    book.book(intent("buy"), Fill("a", 1.0, 100.0, 0.0))
    book.book(intent("buy"), Fill("b", 1.0, 110.0, 60.0))
    assert book.positions["BTCUSD"].average_cost == 105.0
    assert book.book(intent("sell"), Fill("c", 1.0, 120.0, 120.0, fee=1.0)) == 14.0
    assert book.wins == 0  # still open: one unit left
    book.book(intent("sell"), Fill("d", 3.0, 100.0, 180.0))  # closes (-5), flips short 2
    assert (book.wins, book.losses) == (1, 0)  # the trip made 14 - 5 = 9
    pos = book.positions["BTCUSD"]
    assert (pos.quantity, pos.average_cost) == (-2.0, 100.0)
    book.book(intent("buy"), Fill("e", 2.0, 104.0, 240.0))  # the short loses 8
    assert (book.wins, book.losses, book.win_rate) == (1, 1, 0.5)
    assert book.realised_pnl == pytest.approx(14.0 - 5.0 - 8.0)
    assert book.orders_per_hour == pytest.approx(60.0)  # five orders over four minutes
    assert book.summary()["positions"] == {}


def test_accuracy_judges_the_close_horizon_bars_later() -> None:
    acc = Accuracy(horizon=2)
    closes = [100.0, 101.0, 102.0, 99.0, 98.0]
    for i, close in enumerate(closes):
        acc.on_bar(make_bar(close, symbol="X", ts=60.0 * i))
        if i == 0:
            acc.issued(intent("buy", "X"), "1m")   # 100 -> 102: a hit
        if i == 1:
            acc.issued(intent("sell", "X"), "1m")  # 101 -> 99: a hit
        if i == 2:
            acc.issued(intent("buy", "X"), "1m")   # 102 -> 98: a miss
    assert acc.summary("p") == {"signal_accuracy": pytest.approx(2 / 3), "accuracy_samples": 3,
                                "accuracy_horizon": 2}


def test_fills_name_a_known_non_shadow_intent_with_sane_numbers() -> None:
    trades = Trades(horizon=1)
    bar = make_bar(100.0, symbol="BTCUSD")
    trades.on_bar(bar, [intent("buy", id="ok"), intent("buy", id="canary", shadow=True)])
    assert trades.book(Fill("ok", 1.0, 100.0, 0.0)).id == "ok"
    with pytest.raises(IntentError, match="unknown intent id 'gone'"):
        trades.book(Fill("gone", 1.0, 100.0, 0.0))
    with pytest.raises(IntentError, match="shadow intent is never to be executed"):
        trades.book(Fill("canary", 1.0, 100.0, 0.0))
    with pytest.raises(IntentError, match="price nan is not a finite number"):
        trades.book(Fill("ok", 1.0, float("nan"), 0.0))
    with pytest.raises(IntentError, match="quantity and price must be > 0"):
        trades.book(Fill("ok", 0.0, 100.0, 0.0))


def test_only_the_latest_intents_are_remembered() -> None:
    trades = Trades(horizon=1, remembered=2)
    trades.on_bar(make_bar(1.0), [intent("buy", id=str(n)) for n in range(3)])
    assert list(trades.intents) == ["1", "2"]
