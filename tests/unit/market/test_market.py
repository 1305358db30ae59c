"""The bundled market replay: determinism, sound bars, exact aggregation."""

from __future__ import annotations

import itertools

import pytest

from zepix_core import Bar
from zepix_core.market.replay import DEFAULT_START, TIMEFRAME_MINUTES, MarketReplay, aggregate


def run(replay: MarketReplay, steps: int) -> list[list[Bar]]:
    return list(itertools.islice(replay, steps))


def one_minute(steps: list[list[Bar]], symbol: str) -> list[Bar]:
    return [b for bars in steps for b in bars if b.timeframe == "1m" and b.symbol == symbol]


def test_same_seed_gives_identical_bars() -> None:
    assert run(MarketReplay(seed=11), 400) == run(MarketReplay(seed=11), 400)


def test_different_seed_gives_different_bars() -> None:
    assert run(MarketReplay(seed=11), 50) != run(MarketReplay(seed=12), 50)


def test_adding_a_symbol_leaves_other_paths_unchanged() -> None:
    alone = one_minute(run(MarketReplay(symbols=("BTCUSD",)), 200), "BTCUSD")
    paired = one_minute(run(MarketReplay(symbols=("SOLUSD", "BTCUSD")), 200), "BTCUSD")
    assert alone == paired


def test_every_bar_is_a_sound_ohlcv_bar() -> None:
    for bars in run(MarketReplay(), 3000):
        for bar in bars:
            assert bar.high >= max(bar.open, bar.close)
            assert bar.low <= min(bar.open, bar.close)
            assert bar.low > 0
            assert bar.volume > 0


def test_one_minute_bars_are_contiguous_and_on_the_step_grid() -> None:
    replay = MarketReplay(start=DEFAULT_START, step=60.0)
    bars = one_minute(run(replay, 120), "ETHUSD")
    assert [b.ts for b in bars] == [DEFAULT_START + 60.0 * i for i in range(1, 121)]
    assert all(nxt.open == prev.close for prev, nxt in itertools.pairwise(bars))
    assert replay.steps == 120
    assert replay.now == DEFAULT_START + 7200.0


def test_higher_timeframes_close_on_their_boundaries_after_the_one_minute_bars() -> None:
    replay = MarketReplay(symbols=("BTCUSD", "ETHUSD"))
    for step, bars in enumerate(run(replay, 120), start=1):
        expected = ["1m"] + [tf for tf, n in TIMEFRAME_MINUTES.items() if step % n == 0]
        timeframes = [b.timeframe for b in bars]
        assert timeframes == [tf for tf in expected for _ in replay.symbols]
        assert [b.symbol for b in bars] == list(replay.symbols) * len(expected)
        assert all(b.ts == replay.start + step * replay.step for b in bars)


@pytest.mark.parametrize("timeframe", sorted(TIMEFRAME_MINUTES))
def test_aggregates_match_the_one_minute_bars_they_span(timeframe: str) -> None:
    replay = MarketReplay(step=60.0)
    steps = run(replay, 180)
    minutes = TIMEFRAME_MINUTES[timeframe]
    for symbol in replay.symbols:
        ones = one_minute(steps, symbol)
        higher = [
            b for bars in steps for b in bars if b.timeframe == timeframe and b.symbol == symbol
        ]
        assert len(higher) == 180 // minutes
        for bar in higher:
            span = [b for b in ones if bar.ts - minutes * 60.0 < b.ts <= bar.ts]
            assert len(span) == minutes
            assert bar.open == span[0].open
            assert bar.close == span[-1].close
            assert bar.high == max(b.high for b in span)
            assert bar.low == min(b.low for b in span)
            assert bar.volume == pytest.approx(sum(b.volume for b in span))


def test_regimes_move_the_price_enough_to_trade() -> None:
    closes = [b.close for b in one_minute(run(MarketReplay(), 2000), "BTCUSD")]
    assert max(closes) / min(closes) > 1.05
    ups = sum(1 for a, b in itertools.pairwise(closes) if b > a)
    assert 0.3 < ups / len(closes) < 0.7


def test_compressed_step_keeps_the_same_prices() -> None:
    normal = one_minute(run(MarketReplay(step=60.0), 30), "BTCUSD")
    fast = one_minute(run(MarketReplay(step=1.0), 30), "BTCUSD")
    assert [b.close for b in normal] == [b.close for b in fast]
    assert fast[-1].ts == DEFAULT_START + 30.0


def test_unknown_symbols_start_at_the_given_or_default_price() -> None:
    bars = MarketReplay(symbols=("AAA", "BBB"), prices={"BBB": 5.0}).next_bars()
    assert bars[0].open == 100.0
    assert bars[1].open == 5.0


def test_aggregate_rejects_incomplete_or_mixed_input() -> None:
    steps = run(MarketReplay(), 5)
    btc, eth = one_minute(steps, "BTCUSD"), one_minute(steps, "ETHUSD")
    with pytest.raises(ValueError, match="needs 5 1m bars, got 4"):
        aggregate(btc[:4], "5m")
    with pytest.raises(ValueError, match="several symbols"):
        aggregate(btc[:3] + eth[:2], "5m")
    with pytest.raises(ValueError, match="unknown timeframe '2m'"):
        aggregate(btc, "2m")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": ()}, "at least one symbol"),
        ({"symbols": ("BTCUSD", "BTCUSD")}, "distinct"),
        ({"step": 0.0}, "step must be positive"),
    ],
)
def test_invalid_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MarketReplay(**kwargs)  # type: ignore[arg-type]
