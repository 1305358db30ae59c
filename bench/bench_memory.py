"""Peak memory of a long CSV replay: constant in the file's length (issue 26).

A file of ``N`` 1m bars is generated on the fly into a temporary directory and
replayed through the ``csv`` source into ``host.feed`` (4,096-bar batches) by a
fresh ``python`` process, which reports its peak RSS (``VmHWM``: ``ru_maxrss``
would count the bench process it was forked from, ~200 MB by then). The same
is done for a file a tenth as long: the ratio of the two peaks is the figure
(1.0 when memory does not grow with the length), the larger peak is the one
held against the 250 MB target.

The plugin is a small strategy that asks for a trade every tenth bar, so the
host's per-intent bookkeeping (intents remembered for fills, signal accuracy,
the ledger) runs all the way; the bundled plugins would make the 10,000,000-bar
run last an hour without telling more about the host's memory. No aggregates
(``aggregate = ""``): every row is one bar.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

STRATEGY = '''
from zepix_core import hookimpl

class Plugin:
    def __init__(self):
        self.bars = 0

    @hookimpl
    def plugin_version(self):
        return {"version": "1.0.0", "api_version": ">=1.0,<2", "requires": {}}

    @hookimpl
    def activate(self, context, config):
        self.bars = 0

    @hookimpl
    def deactivate(self, reason):
        pass

    @hookimpl
    def health_ping(self, now):
        return {"status": "ok"}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": self.bars}

    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        if self.bars % 10 == 0:
            return [{"symbol": bar.symbol, "side": "buy" if self.bars % 20 else "sell",
                     "quantity": 1.0}]
        return None
'''

#: The replay, run in a fresh interpreter so that its peak RSS is its own.
REPLAY = '''
import json, resource, sys, threading, time
from zepix_core.app.embedded import open_host
from zepix_core.market.csvfile import CsvSource

path, site = sys.argv[1], sys.argv[2]
bars = 0
with open_host(interval=3600, paths=[site], services=False) as host:  # no HTTP port
    start = time.perf_counter()
    for batch in CsvSource({"path": path, "aggregate": ""}).batches(threading.Event()):
        host.feed(batch)
        bars += len(batch)
    took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:  # this process's own high-water mark: ru_maxrss keeps the forked parent's too
    with open("/proc/self/status", encoding="ascii") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(json.dumps({"bars": bars, "seconds": took, "peak_kb": peak}))
'''


def write_bars(path: Path, count: int) -> None:
    """``count`` 1m bars of one symbol, a deterministic walk, written row by row."""
    ts, price = 946_684_800, 100.0
    with path.open("w", encoding="utf-8") as out:
        out.write("time,symbol,timeframe,open,high,low,close,volume\n")
        rows = []
        for n in range(count):
            step = ((n * 7919) % 200 - 100) / 1000
            close = max(1.0, price + step)
            rows.append(f"{ts + 60 * n},BENCH,1m,{price:.3f},{max(price, close) + 0.05:.3f},"
                        f"{min(price, close) - 0.05:.3f},{close:.3f},{1 + n % 50}\n")
            price = close
            if len(rows) >= 65536:
                out.writelines(rows)
                rows.clear()
        out.writelines(rows)


def replay(count: int, folder: Path, site: Path) -> dict[str, Any]:
    path = folder / f"bars-{count}.csv"
    write_bars(path, count)
    home = folder / f"home-{count}"
    home.mkdir()
    env = {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"),
           "ZEPIX_HTTP_LISTEN": "", "PYTHONPATH": os.pathsep.join(
               [str(site), str(Path(__file__).resolve().parent.parent)])}
    try:
        done = subprocess.run([sys.executable, "-c", REPLAY, str(path), str(site)], env=env,
                              capture_output=True, text=True, timeout=7200, check=False)
    finally:
        path.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"replay of {count:,} bars failed:\n{done.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _site(folder: Path) -> Path:
    site = folder / "site"
    info = site / "zepix_bench_memory-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zepix-bench-memory\n"
                                   "Version: 1.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[zepix.plugins]\nbench_memory = zepix_bench_memory:Plugin\n", encoding="utf-8")
    (site / "zepix_bench_memory.py").write_text(textwrap.dedent(STRATEGY), encoding="utf-8")
    return site


def run(quick: bool = False) -> list[dict[str, Any]]:
    long = 1_000_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="zepix-bench-memory-") as tmp:
        folder = Path(tmp)
        site = _site(folder)
        started = time.perf_counter()
        short_run = replay(long // 10, folder, site)
        long_run = replay(long, folder, site)
    mb = {k: r["peak_kb"] / 1024 for k, r in (("short", short_run), ("long", long_run))}
    return [
        {"bench": "memory", "what": f"peak RSS, csv replay of {short_run['bars']:,} bars "
         "through host.feed", "seconds": short_run["seconds"], "ratio": 1.0,
         "peak_mb": round(mb["short"], 1)},
        {"bench": "memory", "what": f"peak RSS, csv replay of {long_run['bars']:,} bars "
         "(x10 the length), vs the short file", "seconds": long_run["seconds"],
         "ratio": mb["long"] / mb["short"], "peak_mb": round(mb["long"], 1),
         "target": "constant, < 250 MB",
         "bars_per_s": round(long_run["bars"] / long_run["seconds"]),
         "wall_incl_writing_s": round(time.perf_counter() - started, 1)},
    ]


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
