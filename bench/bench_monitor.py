"""What monitoring costs, measured in one run against a floor measured in the same run.

- floor: one bare psutil read of this process inside ``oneshot()`` (RSS, CPU
  percent, threads, open fds) on a reused ``psutil.Process``: the least any
  resource monitor pays per process per round;
- round per plugin: a full monitoring round (health_ping and get_metrics on
  each plugin's runner under deadlines, one host resource sample, the judge,
  alerting, one SQLite transaction with every snapshot, the host heartbeat)
  over the five bundled plugins in process, divided by the plugin count, as
  a multiple of the floor;
- 1,000 plugins: the same round over 1,000 in-process plugins registered
  through one real ``*.dist-info`` with 1,000 entry points;
- idle CPU: ``zepix run --duration D --interval 1`` with the bundled plugins
  as a real subprocess, its CPU time as % of one core, in steady state
  (from the first round to just before the end) and over the whole run.

Rounds are timed back to back, between the first round (which runs every
self test) and the next self-test round, so they are the ordinary rounds a
host runs most of the time.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(REPO))  # the same conforming test plugin the suite uses
from tests.distfactory import good_plugin

PLUGIN = good_plugin()


def _row(what: str, **figures: Any) -> dict[str, Any]:
    return {"bench": "monitor", "what": what, **figures}


@contextlib.contextmanager
def _home() -> Iterator[Path]:
    """A throwaway ZEPIX_HOME, restoring the environment afterwards."""
    saved = {k: os.environ.get(k) for k in ("ZEPIX_HOME", "ZEPIX_DB")}
    with tempfile.TemporaryDirectory(prefix="zepix-bench-") as tmp:
        os.environ["ZEPIX_HOME"] = tmp
        os.environ.pop("ZEPIX_DB", None)
        try:
            yield Path(tmp)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def psutil_floor(reads: int) -> float:
    """Median seconds of one oneshot() read of rss, cpu, threads and fds."""
    proc = psutil.Process()
    proc.cpu_percent(None)
    times = []
    for _ in range(reads):
        start = time.perf_counter()
        with proc.oneshot():
            proc.memory_info()
            proc.cpu_percent(None)
            proc.num_threads()
            proc.num_fds()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _write_plugins(site: Path, count: int) -> None:
    """One distribution exposing ``count`` plugins of the same class."""
    info = site / "zepix_bench_many-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zepix-bench-many\n"
                                   "Version: 1.0.0\n", encoding="utf-8")
    points = "\n".join(f"p{i:04d} = zepix_bench_many:Plugin" for i in range(count))
    (info / "entry_points.txt").write_text(f"[zepix.plugins]\n{points}\n", encoding="utf-8")
    (site / "zepix_bench_many.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")


def time_rounds(paths: list[str] | None, rounds: int) -> dict[str, Any]:
    """Start a host, run its first round, then time ``rounds`` ordinary rounds."""
    from zepix_core.host.host import create_host

    with _home() as home:
        (home / "zepix.toml").write_text(f"[host]\nself_test_every = {rounds + 2}\n",
                                         encoding="utf-8")
        start = time.perf_counter()
        host = create_host(home / "zepix.toml", home / "bench.db", paths=paths)
        host.start()
        started = time.perf_counter() - start
        try:
            plugins = len(host.active())
            first = _timed(host.round)
            times = [_timed(host.round) for _ in range(rounds)]
            statuses = {s["status"] for s in host.store.latest_snapshots()}
        finally:
            host.shutdown()
            host.store.close()
    return {"plugins": plugins, "start": started, "first": first,
            "round": statistics.median(times), "statuses": sorted(statuses)}


#: Subsystems whose share of start-up and of a round the bench reports, each as
#: (label, file under zepix_core/, function): cumulative time under cProfile.
STARTUP_PARTS = [
    ("entry-point scan", "loading/discovery.py", "enumerate_plugins"),
    ("version selection (pins, store)", "versions/reconcile.py", "select"),
    ("import + register (pluggy, hook markers)", "loading/discovery.py", "load_plugin"),
    ("unmarked-hook lint", "execution/runner.py", "plugin_warnings"),
    ("plugin_version + plugin_settings calls, checked", "host/activation.py", "_read"),
    ("dependency resolution", "host/activation.py", "_resolve"),
    ("plugin databases (prepare)", "plugindb/_health.py", "prepare"),
    ("activate calls", "execution/runner.py", "call"),
    ("monitor attach (anomaly baselines)", "health/monitor.py", "attach"),
    ("host records (versions, activations, status)", "storage/history.py", "*"),
]
ROUND_PARTS = [
    # The calls run on the host's "zepix-checks" thread (host/turns.py), which cProfile
    # of the round's thread does not see: this share reads 0 %; their cost is in the wall.
    ("plugin calls (health_ping, get_metrics via runners; other thread)", "execution/calls.py",
     "run_calls"),
    ("results recorded (latency sketch, breaker)", "health/monitor.py", "_record"),
    ("health rules (shapes, thresholds)", "health/shapes.py", "assess"),
    ("anomaly baselines", "health/monitor.py", "_anomalies"),
    ("plugin database counts (db_* fields)", "plugindb/_health.py", "health_fields"),
    ("trading fields", "host/trades.py", "fields"),
    ("snapshots stored (JSON + SQLite)", "storage/deferred.py", "save_snapshots"),
    ("versions (reconcile, gate)", "versions/reconcile.py", "reconcile"),
    ("supervision after the round", "supervision/supervisor.py", "after_round"),
]


def _shares(stats: Any, total: float, parts: list[tuple[str, str, str]]) -> list[tuple[str, float]]:
    found = []
    for label, path, func in parts:
        seconds = 0.0
        for (file, _, name), (_, _, _, cumulative, callers) in stats.stats.items():
            if not file.endswith(f"zepix_core/{path}"):
                continue
            if func == "*":  # a module: only calls from outside it
                if any(not c[0].endswith(f"zepix_core/{path}") for c in callers):
                    seconds += cumulative
            elif name == func:
                seconds += cumulative
        found.append((label, seconds / total if total else 0.0))
    return found


def profile_shares(count: int, rounds: int) -> dict[str, Any]:
    """Start-up and ``rounds`` ordinary rounds of ``count`` plugins under cProfile:
    each subsystem's share of the time (cProfile inflates small calls, so the
    shares rank the subsystems; the timed rows give the figures)."""
    import cProfile
    import pstats

    from zepix_core.host.host import create_host

    with tempfile.TemporaryDirectory(prefix="zepix-bench-site-") as tmp, _home() as home:
        site = Path(tmp)
        _write_plugins(site, count)
        sys.path.insert(0, str(site))
        try:
            (home / "zepix.toml").write_text(f"[host]\nself_test_every = {rounds + 2}\n",
                                             encoding="utf-8")
            prof = cProfile.Profile()
            host = create_host(home / "zepix.toml", home / "bench.db", paths=[str(site)])
            start = time.perf_counter()
            prof.runcall(host.start)
            started = time.perf_counter() - start
            try:
                host.round()
                timed = cProfile.Profile()
                start = time.perf_counter()
                for _ in range(rounds):
                    timed.runcall(host.round)
                rounded = (time.perf_counter() - start) / rounds
            finally:
                host.shutdown()
                host.store.close()
        finally:
            sys.path.remove(str(site))
            sys.modules.pop("zepix_bench_many", None)
    start_stats, round_stats = pstats.Stats(prof), pstats.Stats(timed)
    return {"start": _shares(start_stats, started, STARTUP_PARTS),
            "round": _shares(round_stats, rounded * rounds, ROUND_PARTS)}


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def many_plugins(count: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zepix-bench-site-") as tmp:
        site = Path(tmp)
        _write_plugins(site, count)
        sys.path.insert(0, str(site))
        try:
            return time_rounds([str(site)], rounds)
        finally:
            sys.path.remove(str(site))
            sys.modules.pop("zepix_bench_many", None)


def _zepix() -> list[str]:
    script = Path(sys.executable).with_name("zepix")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", ("import sys; from zepix_core.cli.main import main; "
            "sys.exit(main())")]


def idle_cpu(duration: float) -> dict[str, float]:
    """CPU of a real ``zepix run`` with the bundled plugins at a 1 s interval."""
    with _home() as home:
        env = {**os.environ, "ZEPIX_DB": str(home / "zepix.db"), "ZEPIX_HTTP_LISTEN": ""}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        begun = time.monotonic()
        proc = subprocess.Popen([*_zepix(), "run", "--duration", f"{duration:g}",
                                 "--interval", "1"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        watched = psutil.Process(proc.pid)
        for line in proc.stdout:
            if line.startswith("round 1:"):
                break
        steady_from, cpu_from = time.monotonic(), watched.cpu_times()
        time.sleep(max(0.5, duration - (steady_from - begun) - 1.0))
        cpu_to, steady_to = watched.cpu_times(), time.monotonic()
        proc.communicate()
        wall = time.monotonic() - begun
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    steady = (cpu_to.user + cpu_to.system) - (cpu_from.user + cpu_from.system)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"steady_percent": 100 * steady / (steady_to - steady_from),
            "steady_seconds": steady_to - steady_from, "total_cpu": total, "wall": wall,
            "total_percent": 100 * total / wall}


def run(quick: bool = False) -> list[dict[str, Any]]:
    floor = psutil_floor(2000 if quick else 20000)
    bundled = time_rounds(None, 10 if quick else 40)
    many = many_plugins(1000, 3 if quick else 8)
    idle = idle_cpu(15.0 if quick else 40.0)  # a steady window of several rounds
    shares = profile_shares(1000, 2 if quick else 4)
    per_bundled = bundled["round"] / bundled["plugins"]
    per_many = many["round"] / many["plugins"]
    return [
        _row("psutil floor: one oneshot() read of rss/cpu/threads/fds", seconds=floor,
             ratio=1.0),
        _row(f"round, {bundled['plugins']} bundled plugins in process", seconds=bundled["round"],
             statuses=bundled["statuses"]),
        _row("  per plugin, vs the psutil floor", seconds=per_bundled,
             ratio=per_bundled / floor),
        _row("start-up (discover, activate) of 1,000 in-process plugins",
             seconds=many["start"], plugins=many["plugins"]),
        _row("first round of 1,000 plugins (every self test runs)", seconds=many["first"]),
        _row("round over 1,000 in-process plugins", seconds=many["round"],
             statuses=many["statuses"]),
        _row("  per plugin, vs the psutil floor", seconds=per_many, ratio=per_many / floor),
        *[_row(f"  start-up share (cProfile): {label}", share=f"{share:.0%}")
          for label, share in shares["start"]],
        *[_row(f"  round share (cProfile): {label}", share=f"{share:.0%}")
          for label, share in shares["round"]],
        _row(f"idle host CPU, 5 bundled plugins, 1 s interval, steady "
             f"{idle['steady_seconds']:.1f} s", percent=idle["steady_percent"]),
        _row(f"  whole run incl. start-up and shutdown ({idle['wall']:.1f} s wall)",
             percent=idle["total_percent"], seconds=idle["total_cpu"]),
    ]
