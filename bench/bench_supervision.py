"""What supervision costs and how fast it reacts, all measured in one run.

- crash detection, runner: a worker SIGKILLed from outside until its
  ``on_exit`` runs (``waitid`` on the watcher thread); ratio: of the 100 ms
  the issue allows;
- crash detection, host: the same kill until the supervisor has recorded the
  ``crashed`` event, the DEAD snapshot and the CRITICAL alert, with the host
  running its loop; ratio: of 100 ms;
- restart latency: the kill until the plugin is ACTIVE again in a fresh
  worker, with a 1 ms backoff, so what remains is the host's reaction (the
  loop looks at crash reports every 50 ms while workers run) plus a worker
  start, ``plugin_version`` and ``activate``; ratio: to a bare worker start;
- worker start: ``ProcessRunner`` spawn to ``ready``, the fixed price of
  ``isolation = "process"`` per plugin and per restart;
- hook calls: ``health_ping`` and ``on_bar`` of the bundled price_action_1m
  through a worker, against the same call on an in-process runner.

The plugin is the bundled ``price_action_1m`` (installed editable in the
development venv). Host figures run the five bundled plugins with that one in
a worker; the database lives in a temporary ``ZEPIX_HOME``.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PLUGIN = "price_action_1m"
CONFIG = f"""
[plugins.{PLUGIN}]
isolation = "process"
restart_backoff = 0.001
restart_backoff_cap = 0.001
max_restarts = 1000
restart_intensity = 1000
"""


def _record() -> Any:
    from zepix_core.loading.discovery import enumerate_plugins

    return next(r for r in enumerate_plugins() if r.plugin_id == PLUGIN)


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def worker_start(repeat: int) -> list[float]:
    from zepix_core.execution.worker import ProcessRunner

    record, took = _record(), []
    for _ in range(repeat):
        started = time.perf_counter()
        runner = ProcessRunner(record)
        took.append(time.perf_counter() - started)
        runner.close()
    return took


def runner_detection(repeat: int) -> list[float]:
    from zepix_core.execution.worker import ProcessRunner

    record, took = _record(), []
    for _ in range(repeat):
        seen = threading.Event()
        at: list[float] = []

        def exited(runner: ProcessRunner, code: int | None, sig: int | None,
                   at: list[float] = at,
                   seen: threading.Event = seen) -> None:
            at.append(time.monotonic())
            seen.set()

        runner = ProcessRunner(record, on_exit=exited)
        killed = time.monotonic()
        os.kill(runner.pid, signal.SIGKILL)
        seen.wait(5)
        took.append(at[0] - killed)
        runner.close()
    return took


def hook_calls(calls: int) -> list[dict[str, Any]]:
    from zepix_core.execution.runner import InProcessRunner, call
    from zepix_core.execution.worker import ProcessRunner
    from zepix_core.loading.discovery import load_plugin
    from zepix_core.market.replay import MarketReplay

    record = _record()
    replay = MarketReplay(seed=3)
    bars: list[Any] = []
    while len(bars) < calls:
        bars.extend(replay.next_bars())
    rows = []
    for hook, args in (("health_ping", lambda i: {"now": float(i)}),
                       ("on_bar", lambda i: {"bar": bars[i]})):
        times = {}
        for mode, runner in (("in process", InProcessRunner(PLUGIN, load_plugin(record))),
                             ("through a worker", ProcessRunner(record))):
            took = []
            for i in range(calls):
                started = time.perf_counter()
                result = call(runner, hook, 2.0, args(i))
                took.append(time.perf_counter() - started)
                assert result.ok, result.error
            runner.close()
            times[mode] = _median(took)
        base = times["in process"]
        rows += [{"bench": "supervision", "what": f"{hook} {mode} (median)", "seconds": t,
                  "ratio": t / base} for mode, t in times.items()]
    return rows + feed_calls(bars, 100)


def feed_calls(bars: list[Any], size: int) -> list[dict[str, Any]]:
    """A feed of ``size`` bars through ``Dispatcher.feed_by_bar``, per bar: a worker
    takes the feed in one frame (``workerbatch``), in process one handoff per feed."""
    from zepix_core.execution.dispatch import Dispatcher
    from zepix_core.execution.runner import InProcessRunner
    from zepix_core.execution.worker import ProcessRunner
    from zepix_core.loading.discovery import load_plugin

    record = _record()
    times = {}
    for mode, runner in (("in process", InProcessRunner(PLUGIN, load_plugin(record))),
                         ("through a worker", ProcessRunner(record))):
        dispatcher = Dispatcher(lambda result, problem: None, deadline=2.0)
        took = []
        for start in range(0, len(bars) - size + 1, size):
            started = time.perf_counter()
            dispatcher.feed_by_bar([runner], bars[start:start + size])
            took.append((time.perf_counter() - started) / size)
        runner.close()
        dispatcher.close()
        times[mode] = _median(took)
    base = times["in process"]
    return [{"bench": "supervision", "what": f"on_bar in a {size}-bar feed {mode} (median, per "
             "bar)", "seconds": t, "ratio": t / base} for mode, t in times.items()]


def _host(tmp: str) -> tuple[Any, threading.Thread]:
    from zepix_core.host.host import create_host

    os.environ["ZEPIX_HOME"] = tmp
    path = Path(tmp) / "zepix.toml"
    path.write_text(CONFIG, encoding="utf-8")
    host = create_host(path, Path(tmp) / "bench.db")
    thread = threading.Thread(target=host.run, kwargs={"interval": 0.5}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while host.monitor.rounds < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the bench host never finished its first round")
        time.sleep(0.01)
    return host, thread


def _until(what: Callable[[], bool], timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the supervisor")
        time.sleep(0.0005)
    return time.monotonic()


def host_crash_and_restart(repeat: int) -> tuple[list[float], list[float]]:
    detected, restarted = [], []
    with tempfile.TemporaryDirectory() as tmp:
        host, thread = _host(tmp)
        supervisor = host.supervisor
        try:
            for _ in range(repeat):
                done = threading.Event()
                at: list[float] = []
                crashed = supervisor.crashed

                def timed(*args: Any, crashed: Any = crashed, at: list[float] = at,
                          done: threading.Event = done) -> None:
                    crashed(*args)
                    at.append(time.monotonic())
                    done.set()

                supervisor.crashed = timed
                old = host.slots[PLUGIN].runner
                killed = time.monotonic()
                os.kill(old.pid, signal.SIGKILL)
                done.wait(5)
                supervisor.crashed = crashed
                detected.append(at[0] - killed)

                def back(old: Any = old) -> bool:
                    slot = host.slots[PLUGIN]
                    return (slot.runner is not None and slot.runner is not old
                            and slot.runner.alive() and slot.state.value == "ACTIVE")

                restarted.append(_until(back) - killed)
                time.sleep(0.2)
        finally:
            host.clocks.stop.set()
            thread.join(30)
            host.store.close()
    return detected, restarted


def run(quick: bool = False) -> list[dict[str, Any]]:
    repeat = 3 if quick else 10
    start = _median(worker_start(repeat))
    runner = _median(runner_detection(repeat))
    detected, restarted = host_crash_and_restart(repeat)
    host, back = _median(detected), _median(restarted)
    return [
        {"bench": "supervision", "what": "worker start (spawn to ready, median)",
         "seconds": start, "ratio": 1.0},
        {"bench": "supervision", "what": "crash detection: SIGKILL -> on_exit (median, of 100 ms)",
         "seconds": runner, "ratio": runner / 0.1},
        {"bench": "supervision", "what": "crash detection: SIGKILL -> event+DEAD+alert (median, "
         "of 100 ms)", "seconds": host, "ratio": host / 0.1, "max_s": max(detected)},
        {"bench": "supervision", "what": "restart: SIGKILL -> ACTIVE again, 1 ms backoff "
         "(median, x worker start)", "seconds": back, "ratio": back / start,
         "max_s": max(restarted)},
        *hook_calls(300 if quick else 2000),
    ]


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(f"{row['bench']:11} {row['what']:75} {row['seconds'] * 1e3:10.3f} ms  "
              f"x{row['ratio']:.2f}")
