"""``zepix backtest`` speed: the five bundled plugins over a large generated CSV.

- backtest: ``run_backtest`` with the ``csv`` source: bars fed one instant at a
  time through ``host.feed``, every intent filled at the next open through
  ``report_fill`` (``on_fill`` to the plugin), books marked every instant.
- baseline: the same file through the ``csv`` source into ``host.feed`` in
  its own batches (4096 bars), with no fills and no books: the embedding
  path's fastest way to hand the same bars to the same five plugins.

The ratio is backtest seconds over baseline seconds; bars/s is given for both,
and ``cpu_s``, the CPU seconds of the process (all threads) over the same span
(the backtest's includes its host's start-up): on a busy machine the wall time
is mostly the scheduler's.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_embedding import _write  # the same generated CSV as the embedding bench

BUNDLED = ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m",
           "price_action_1h")


def _baseline(path: Path) -> tuple[float, float]:
    import zepix_core
    from zepix_core.market.csvfile import CsvSource

    with zepix_core.open_host(interval=3600, services=False) as host:  # no HTTP port
        source = CsvSource({"path": str(path)})
        start, cpu = time.perf_counter(), time.process_time()
        for batch in source.batches(threading.Event()):
            host.feed(batch)
        return time.perf_counter() - start, time.process_time() - cpu


def _backtest(path: Path) -> tuple[float, float, int, dict[str, Any]]:
    from zepix_core.app.backtest import run_backtest
    from zepix_core.app.book import Costs
    from zepix_core.loading.config import Config
    from zepix_core.market.csvfile import CsvSource

    cpu = time.process_time()
    result = run_backtest(BUNDLED, CsvSource({"path": str(path)}), config=Config(),
                          costs=Costs(fee=0.001, slippage=0.0005))
    trades = {p: f["trades"] for p, f in result.figures.items()}
    return result.seconds, time.process_time() - cpu, result.bars, trades


def run(quick: bool = False) -> list[dict[str, Any]]:
    home = Path(tempfile.mkdtemp(prefix="zepix-bench-backtest-"))
    os.environ["ZEPIX_HOME"] = str(home)
    os.environ["ZEPIX_DB"] = str(home / "zepix.db")
    path = home / "bars.csv"
    written = _write(path, 100_000 if quick else 1_000_000)
    base, base_cpu = _baseline(path)
    seconds, cpu, bars, trades = _backtest(path)
    path.unlink()
    return [
        {"bench": "backtest", "what": f"csv source -> host.feed (batches), 5 plugins, "
                                      f"{written:,} bars",
         "seconds": base, "ratio": 1.0, "bars_per_s": round(written / base),
         "cpu_s": round(base_cpu, 2)},
        {"bench": "backtest", "what": f"zepix backtest engine, 5 plugins, {bars:,} bars",
         "seconds": seconds, "ratio": seconds / base, "bars_per_s": round(bars / seconds),
         "trades": sum(trades.values()), "cpu_s": round(cpu, 2)},
    ]


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
