"""Anomaly detection measured: false alarms in a clean week, delay to each injected fault.

    python bench/bench_anomaly.py          # the markdown tables of docs/health.md
    python bench/run.py anomaly            # the same figures in the bench table

The five bundled plugins (installed as in the README) are fed the seeded
market replay, 5 steps per 30 s round on a fake clock, and every ``on_bar``
is timed for real; a clean simulated week counts the anomaly alerts (all
false), then each fault is injected into every plugin after a day of
learning, and the rounds to the first anomaly alert are set beside the
rounds to the first fixed-threshold breach. The seeded streams of
bench/anomaly_sim.py (what the test drives) are run the same way. See
bench/anomaly_sim.py for how rounds are judged.
"""

from __future__ import annotations

import importlib.metadata as md
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anomaly_sim import (
    BARS_PER_ROUND,
    FAULTS,
    PROFILES,
    WEEK,
    Call,
    Round,
    Source,
    StreamSource,
    table,
)
from bench.anomaly_sim import run as simulate
from zepix_core.market.replay import MarketReplay

DAY = WEEK // 7
AFTER = 1000  # rounds judged after a fault starts (the fixed memory limit needs ~920)


class ReplaySource:
    """The bundled plugins themselves on the seeded replay; ``on_bar`` timed for real."""

    def __init__(self, seed: int = 7) -> None:
        found = {ep.name: ep for ep in md.entry_points(group="zepix.plugins")}
        missing = sorted(set(PROFILES) - set(found))
        if missing:
            raise SystemExit(f"install the bundled plugins first (missing {missing}): "
                             "pip install -e plugins/combined_v3 -e plugins/price_action")
        self.plugins = {pid: found[pid].load()() for pid in PROFILES}
        self.market = MarketReplay(seed=seed)
        self.index = -1
        self.rounds: dict[str, Round] = {}
        base = StreamSource(seed)  # a worker's RSS and CPU: in process there is none
        self.resources = base

    def __call__(self, plugin_id: str, index: int) -> Round:
        if index != self.index:
            self._advance(index)
        return self.rounds[plugin_id]

    def _advance(self, index: int) -> None:
        self.index = index
        bars = [bar for _ in range(BARS_PER_ROUND) for bar in self.market.next_bars()]
        for pid, plugin in self.plugins.items():
            calls = []
            for bar in bars:
                started = time.perf_counter()
                try:
                    out, error = plugin.on_bar(bar), False
                except Exception:  # noqa: BLE001 - a strategy error is an error call
                    out, error = None, True
                calls.append(Call(time.perf_counter() - started, len(out or []), error))
            synthetic = self.resources(pid, index)
            total = int(plugin.get_metrics()["signals_processed"])
            self.rounds[pid] = Round(calls, total, synthetic.rss_mb, synthetic.cpu)


def measure(make: Callable[[], Source], weeks: float = 1.0,
            faults: tuple[str, ...] = FAULTS) -> dict[str, Any]:
    ids = list(PROFILES)
    clean = simulate(make(), ids, int(WEEK * weeks))
    false = {o.plugin_id: len(o.anomaly_alerts) for o in clean}
    delays: dict[str, dict[str, tuple[int | None, int | None]]] = {}
    for fault in faults:
        outcomes = simulate(make(), ids, DAY + AFTER, fault=fault, start=DAY)
        delays[fault] = {o.plugin_id: o.delay(DAY) for o in outcomes}
    return {"false_alarms": false, "weeks": weeks, "delays": delays,
            "examples": {o.plugin_id: o.messages[:2] for o in clean}}


def rows(name: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    out = [{"bench": "anomaly", "what": f"{name}: anomaly alerts per plugin-week (false)",
            **{pid: n / result["weeks"] for pid, n in result["false_alarms"].items()}}]
    for fault, per in result["delays"].items():
        out.append({"bench": "anomaly", "what": f"{name}: {fault}, rounds to alert "
                    "(anomaly/fixed)", **{pid: f"{a}/{f}" for pid, (a, f) in per.items()}})
    return out


def run_bench(quick: bool = False) -> dict[str, dict[str, Any]]:
    sources: dict[str, Callable[[], Source]] = {"streams": StreamSource}
    if not quick:
        sources["replay"] = ReplaySource
    return {name: measure(make, 0.25 if quick else 1.0) for name, make in sources.items()}


def run(quick: bool = False) -> list[dict[str, Any]]:
    return [row for name, result in run_bench(quick).items() for row in rows(name, result)]


def main() -> None:
    quick = "--quick" in sys.argv
    for name, result in run_bench(quick).items():
        print(f"## {name}\n")
        print("\n".join(table(result["false_alarms"], result["weeks"], result["delays"])))
        print()


if __name__ == "__main__":
    main()
