"""Startup and work-hook dispatch cost against raw baselines measured in the same run.

- startup: discover + load + resolve + activate the bundled plugins with the host,
  against a raw ``importlib.metadata.entry_points`` scan plus loading the same
  entry points, and against stevedore's ``ExtensionManager`` (which loads and
  instantiates them too);
- dispatch: one host-dispatched ``on_bar`` call (runner thread, deadline, shape
  check, latency recorded) against a raw pluggy hook call on the same plugin.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

GROUP = "zepix.plugins"


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _forget_plugin_modules() -> None:
    # Import cost counts in every baseline: drop the plugin modules between runs.
    for name in [m for m in sys.modules if m.startswith(("zepix_combined_v3", "zepix_price_action"))]:
        del sys.modules[name]


def _raw_scan() -> None:
    _forget_plugin_modules()
    for ep in md.entry_points(group=GROUP):
        obj = ep.load()
        if isinstance(obj, type):
            obj()


def _stevedore() -> None:
    from stevedore import ExtensionManager

    _forget_plugin_modules()
    ExtensionManager(namespace=GROUP, invoke_on_load=True)


def _host_startup() -> None:
    from zepix_core.host.host import create_host

    _forget_plugin_modules()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ZEPIX_HOME"] = tmp
        host = create_host(None, os.path.join(tmp, "bench.db"))
        host.start()
        host.shutdown()
        host.store.close()


def startup(repeat: int) -> list[dict[str, Any]]:
    raw = _best(_raw_scan, repeat)
    stev = _best(_stevedore, repeat)
    host = _best(_host_startup, repeat)
    return [
        {"bench": "startup", "what": "raw entry_points scan + load", "seconds": raw, "ratio": 1.0},
        {"bench": "startup", "what": "stevedore ExtensionManager", "seconds": stev,
         "ratio": stev / raw},
        {"bench": "startup", "what": "zepix discover+resolve+activate (incl. SQLite)",
         "seconds": host, "ratio": host / raw},
    ]


def dispatch(calls: int) -> list[dict[str, Any]]:
    import pluggy

    from zepix_core.contract.hookspecs import PluginSpec
    from zepix_core.execution.dispatch import Dispatcher
    from zepix_core.execution.runner import InProcessRunner
    from zepix_core.market.replay import MarketReplay

    ep = next(iter(md.entry_points(group=GROUP, name="price_action_1m")))

    def fresh() -> pluggy.PluginManager:  # each phase sees the bars for the first time
        pm = pluggy.PluginManager("zepix")
        pm.add_hookspecs(PluginSpec)
        pm.register(ep.load()(), name="bench")
        return pm

    pm = fresh()
    replay = MarketReplay(seed=1)
    bars: list[Any] = []
    while len(bars) < calls:  # the replay is endless
        bars.extend(replay.next_bars())
    start = time.perf_counter()
    for bar in bars:
        pm.hook.on_bar(bar=bar)
    raw = (time.perf_counter() - start) / len(bars)
    runner = InProcessRunner("bench", fresh())
    sink: list[Any] = []
    dispatcher = Dispatcher(lambda result, problem: sink.append(result))
    start = time.perf_counter()
    for bar in bars:
        dispatcher.feed([runner], [bar])
    hosted = (time.perf_counter() - start) / len(bars)
    runner.close()
    return [
        {"bench": "dispatch", "what": "raw pluggy on_bar call", "seconds": raw, "ratio": 1.0},
        {"bench": "dispatch", "what": "host-dispatched on_bar (thread, deadline, checks)",
         "seconds": hosted, "ratio": hosted / raw},
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    return startup(3 if quick else 7) + dispatch(500 if quick else 3000)


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(f"{row['bench']:9} {row['what']:52} {row['seconds'] * 1e3:10.3f} ms  x{row['ratio']:.1f}")
