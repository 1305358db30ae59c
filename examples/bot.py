"""A small trading bot that embeds the Zepix host.

It reads closed bars from a CSV file, hands each to the host, "executes" every
intent it gets back at the next bar's open (a paper fill), and reports the
fills, so the host keeps positions, realised P&L, win rate, signal accuracy
and orders per hour for each strategy. Run it with the bundled strategies
installed:

    python examples/bot.py bars.csv        # the file is made from the seeded
                                           # replay when it does not exist
    zepix health                           # *_host columns: measured by the host
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import zepix_core
from zepix_core.market.csvfile import CsvSource, write_csv
from zepix_core.market.replay import MarketReplay


def sample(path: Path, minutes: int = 2_000) -> None:
    """Two symbols of the seeded replay, 1m bars and their aggregates."""
    replay = MarketReplay(symbols=["BTCUSD", "ETHUSD"])
    count = write_csv(path, (bar for _ in range(minutes) for bar in replay.next_bars()))
    print(f"wrote {count} bars to {path}")


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def main(csv_path: Path) -> int:
    if not csv_path.exists():
        sample(csv_path)
    bars = intents = fills = 0
    pending: dict[str, list[zepix_core.Intent]] = defaultdict(list)
    with zepix_core.open_host() as host:
        for batch in CsvSource({"path": str(csv_path), "batch": 1}).batches(host.host.clocks.stop):
            for bar in batch:
                # fill what was asked at an earlier bar time, at this open (any timeframe)
                due = [i for i in pending[bar.symbol] if i.bar_time < bar.ts]
                for intent in due:
                    host.report_fill(zepix_core.Fill(intent.id, intent.quantity,
                                                     bar.open, bar.ts))
                    fills += 1
                pending[bar.symbol] = [i for i in pending[bar.symbol] if i not in due]
                for intent in host.on_bar(bar):
                    pending[intent.symbol].append(intent)
                    intents += 1
                bars += 1
        print(f"{bars} bars, {intents} intents, {fills} fills reported")
        host.round()  # record what the host measured now (leaving the block does too)
        for snap in host.health():
            m = snap["host_measured"]
            print(f"{snap['plugin_id']:17} fills {m['fills']:4}  trips {m['round_trips']:3}  "
                  f"win {share(m['win_rate']):>4}  accuracy {share(m['signal_accuracy']):>4}  "
                  f"orders/h {m['orders_per_hour'] or 0:5.1f}  pnl {m['realised_pnl']:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "bars.csv")))
