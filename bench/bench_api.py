"""What the HTTP API costs a host, against the same host without it, in one run.

- round with the server: a monitoring round over the five bundled plugins
  while the API serves a dashboard-like client (plugins, health, alerts,
  history and /metrics, back to back, as fast as answers come), against the
  same rounds with no server; the added milliseconds and the ratio;
- idle CPU: ``zepix run --interval 1`` with the server on a free loopback
  port, against ``[http] listen = ""`` (off), steady state, % of one core.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from typing import Any

import httpx
import psutil
from bench_monitor import _home, _timed, _zepix

PATHS = ("/api/v1/plugins", "/api/v1/health", "/api/v1/alerts", "/api/v1/history", "/metrics")


def _row(what: str, **figures: Any) -> dict[str, Any]:
    return {"bench": "api", "what": what, **figures}


def rounds(count: int, server: bool) -> tuple[float, int]:
    """Median seconds of ``count`` ordinary rounds; requests served meanwhile."""
    from zepix_core.api import start
    from zepix_core.host.host import create_host

    with _home() as home:
        os.environ["ZEPIX_HTTP_LISTEN"] = "127.0.0.1:0"
        (home / "zepix.toml").write_text(f"[host]\nself_test_every = {count + 2}\n",
                                         encoding="utf-8")
        host = create_host(home / "zepix.toml", home / "bench.db")
        host.start()
        api = start(host, 1.0, home=home) if server else None
        stop, served = threading.Event(), [0]

        def client() -> None:
            assert api is not None
            with httpx.Client(base_url=api.url, timeout=10) as http:
                while not stop.is_set():
                    for path in PATHS:
                        http.get(path).raise_for_status()
                        served[0] += 1

        poller = threading.Thread(target=client, daemon=True) if server else None
        try:
            host.round()
            if poller is not None:
                poller.start()
                time.sleep(0.5)
            times = []
            for _ in range(count):  # spaced out, so the client is busy around each round
                times.append(_timed(host.round))
                time.sleep(0.05)
        finally:
            stop.set()
            if poller is not None:
                poller.join(10)
            if api is not None:
                api.stop()
            host.shutdown()
            host.store.close()
            os.environ.pop("ZEPIX_HTTP_LISTEN", None)
    return statistics.median(times), served[0]


def idle_cpu(duration: float, listen: str) -> float:
    """Steady-state CPU % of one core of ``zepix run --interval 1``."""
    with _home() as home:
        env = {**os.environ, "ZEPIX_DB": str(home / "zepix.db"), "ZEPIX_HTTP_LISTEN": listen}
        proc = subprocess.Popen([*_zepix(), "run", "--duration", f"{duration:g}",
                                 "--interval", "1"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        watched = psutil.Process(proc.pid)
        begun = time.monotonic()
        for line in proc.stdout:
            if line.startswith("round 1:"):
                break
        start, cpu_from = time.monotonic(), watched.cpu_times()
        time.sleep(max(0.5, duration - (start - begun) - 1.0))
        cpu_to, end = watched.cpu_times(), time.monotonic()
        proc.communicate()
    used = (cpu_to.user + cpu_to.system) - (cpu_from.user + cpu_from.system)
    return 100 * used / (end - start)


def run(quick: bool = False) -> list[dict[str, Any]]:
    count = 20 if quick else 60
    off, _ = rounds(count, server=False)
    on, served = rounds(count, server=True)
    duration = 6.0 if quick else 12.0
    cpu_off, cpu_on = idle_cpu(duration, ""), idle_cpu(duration, "127.0.0.1:0")
    return [
        _row("monitoring round, 5 bundled plugins, no HTTP server", seconds=off),
        _row(f"  with the server answering a busy client ({served} requests)", seconds=on,
             ratio=on / off, added_ms=round((on - off) * 1000, 3)),
        _row("idle host CPU, 1 s interval, HTTP server off", percent=cpu_off),
        _row("  HTTP server on (nobody asking)", percent=cpu_on,
             added_points=round(cpu_on - cpu_off, 2)),
    ]
