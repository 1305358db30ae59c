"""The host inside a bot: per-bar fan-out and a CSV replay against raw pluggy loops.

- fanout: ``host.on_bar(bar)`` to the five bundled plugins (dispatch thread,
  deadline watchdog, shape and limit checks, latency, breaker, accuracy), p50
  and p99 per bar, against a raw loop calling the same five plugin objects'
  ``hook.on_bar(bar=bar)``. Bars alternate between the two, so both see the
  same market in order and the same plugin state.
- csv: ``zepix_core.market`` CSV source through ``host.feed`` (batches), bars
  per second, against a raw loop that parses the same file with ``csv.reader``
  into ``Bar`` records and calls the same five plugin objects through pluggy.
  The plugins are reset (deactivate, activate) between the two passes. CPU
  seconds (all threads) are given beside wall time: on a shared machine the
  host pass's handoffs wait for a core, which CPU time does not count.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1e9


def fanout(bars: int) -> list[dict[str, Any]]:
    import zepix_core
    from zepix_core.market.replay import MarketReplay

    replay = MarketReplay(symbols=["BTCUSD", "ETHUSD"], seed=3)
    warm = [b for _ in range(240) for b in replay.next_bars()]
    feed: list[Any] = []
    while len(feed) < bars:
        feed.extend(replay.next_bars())
    with zepix_core.open_host(interval=3600, services=False) as host:  # no HTTP port
        host.feed(warm)
        hooks = [s.runner.pm.hook.on_bar for s in host.host.active()]  # type: ignore[union-attr]
        dispatcher = host.host.dispatcher
        raw: list[int] = []
        ours: list[int] = []
        inline: list[int] = []
        clock = time.perf_counter_ns
        for index, bar in enumerate(feed):  # raw, thread, inline in turn: same market
            turn = index % 3
            if turn == 0:
                start = clock()
                for hook in hooks:
                    hook(bar=bar)
                raw.append(clock() - start)
            else:
                dispatcher.mode = "thread" if turn == 1 else "inline"
                start = clock()
                host.on_bar(bar)
                (ours if turn == 1 else inline).append(clock() - start)
        dispatcher.mode = "thread"
    rows = []
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        base, hosted, here = _quantile(raw, q), _quantile(ours, q), _quantile(inline, q)
        rows += [
            {"bench": "fanout", "what": f"raw pluggy loop, 5 plugins, one bar ({name})",
             "seconds": base, "ratio": 1.0, "plugins": len(hooks)},
            {"bench": "fanout", "what": f"host.on_bar, 5 plugins, one bar ({name})",
             "seconds": hosted, "ratio": hosted / base, "plugins": len(hooks)},
            {"bench": "fanout", "what": f"host.on_bar, dispatch = inline ({name})",
             "seconds": here, "ratio": here / base, "plugins": len(hooks)},
        ]
    return rows


def _write(path: Path, count: int) -> int:
    from zepix_core.market.csvfile import write_csv
    from zepix_core.market.replay import MarketReplay

    replay = MarketReplay(symbols=["BTCUSD", "ETHUSD", "SOLUSD"], seed=5)

    def bars() -> Any:
        made = 0
        while made < count:
            for bar in replay.next_bars():
                if made < count:
                    made += 1
                    yield bar

    return write_csv(path, bars())


def _raw_pass(path: Path, hooks: list[Any]) -> tuple[float, float]:
    from zepix_core import Bar

    start, cpu = time.perf_counter(), time.process_time()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            bar = Bar(row[1], row[2], float(row[0]), float(row[3]), float(row[4]),
                      float(row[5]), float(row[6]), float(row[7]))
            for hook in hooks:
                hook(bar=bar)
    return time.perf_counter() - start, time.process_time() - cpu


def csv_replay(count: int) -> list[dict[str, Any]]:
    import zepix_core
    from zepix_core.market.csvfile import CsvSource

    folder = Path(tempfile.mkdtemp(prefix="zepix-bench-csv-"))
    path = folder / "bars.csv"
    written = _write(path, count)
    with zepix_core.open_host(interval=3600, services=False) as host:  # no HTTP port
        slots = host.host.active()
        pms = [s.runner.pm for s in slots]  # type: ignore[union-attr]
        raw, raw_cpu = _raw_pass(path, [pm.hook.on_bar for pm in pms])
        for slot, pm in zip(slots, pms, strict=True):  # fresh indicator state for the host
            pm.hook.deactivate(reason="restart")
            pm.hook.activate(context=slot.extra.get("context") or _context(slot),
                             config=dict(slot.config.table))
        source = CsvSource({"path": str(path)})
        start, cpu = time.perf_counter(), time.process_time()
        for batch in source.batches(threading.Event()):
            host.feed(batch)
        hosted, hosted_cpu = time.perf_counter() - start, time.process_time() - cpu
    path.unlink()
    folder.rmdir()
    return [
        {"bench": "csv", "what": f"raw loop: csv.reader + 5 pluggy calls, {written:,} bars",
         "seconds": raw, "ratio": 1.0, "bars_per_s": round(written / raw),
         "cpu_s": round(raw_cpu, 2)},
        {"bench": "csv", "what": f"csv source -> host.feed, {written:,} bars",
         "seconds": hosted, "ratio": hosted / raw, "bars_per_s": round(written / hosted),
         "throughput_vs_raw": round(raw / hosted, 3), "cpu_s": round(hosted_cpu, 2),
         "cpu_throughput_vs_raw": round(raw_cpu / hosted_cpu, 3)},
    ]


def _context(slot: Any) -> Any:
    from zepix_core import API_VERSION, PluginContext
    from zepix_core.loading.paths import plugin_data_dir

    return PluginContext(slot.plugin_id, slot.version, API_VERSION,
                         str(plugin_data_dir(slot.plugin_id)))


def run(quick: bool = False) -> list[dict[str, Any]]:
    home = tempfile.mkdtemp(prefix="zepix-bench-embed-")
    os.environ["ZEPIX_HOME"] = home
    os.environ["ZEPIX_HTTP_LISTEN"] = ""  # no API server: 8787 may be taken on a shared machine
    os.environ["ZEPIX_DB"] = str(Path(home) / "zepix.db")
    rows = fanout(4000 if quick else 40000)
    os.environ["ZEPIX_DB"] = str(Path(home) / "csv.db")
    return rows + csv_replay(100_000 if quick else 1_000_000)


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
