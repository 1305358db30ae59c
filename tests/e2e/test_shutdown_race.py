"""SIGINT or SIGTERM at a random moment: every ``zepix run`` ends cleanly within
``[host] shutdown_timeout``. The signal handler used to set the stop event itself,
taking the lock the main thread held inside ``Event.wait`` (the replay's pacing):
about one run in twelve then ignored every signal until SIGKILL.

50 runs, in two streams of consecutive runs (two databases) to halve the wall time;
``ZEPIX_RACE_SEED`` replays a failure, ``ZEPIX_RACE_RUNS`` changes the count."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.waiting import wait_until

RUNS = int(os.environ.get("ZEPIX_RACE_RUNS", "50"))
TIMEOUT = 15.0  # [host] shutdown_timeout of these runs


def one_run(home: Path, run: int, rng: random.Random, seed: int) -> str | None:
    """None when the run ended cleanly within the timeout, else what went wrong."""
    sig = rng.choice((signal.SIGINT, signal.SIGTERM))
    delay = rng.uniform(0.0, 1.0)
    env = {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"),
           # The HTTP API (a second of imports at start) in every fifth run only.
           "ZEPIX_HTTP_LISTEN": "127.0.0.1:0" if run % 5 == 0 else ""}
    out, err = home / f"out{run}", home / f"err{run}"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", "-v", "run",
                                 "--interval", "0.5"], env=env, stdout=stdout, stderr=stderr)
        try:
            wait_until(lambda: "signal handlers installed" in err.read_text(), timeout=90)
            time.sleep(delay)
            proc.send_signal(sig)
            sent = time.monotonic()
            code = proc.wait(timeout=TIMEOUT + 15)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    where = f"run {run} ({sig.name} {delay:.2f}s after the handlers; ZEPIX_RACE_SEED={seed})"
    text = err.read_text()
    if code != 0 or "shut down cleanly" not in out.read_text() or "Traceback" in text:
        return f"{where}: exit {code}\n{text[-3000:]}"
    return None if took < TIMEOUT else f"{where}: ended {took:.1f}s after the signal"


def stream(home: Path, runs: range, seed: int) -> list[str]:
    home.mkdir()
    # A short pace keeps the main thread in and out of Event.wait all the time.
    (home / "zepix.toml").write_text(
        f"[host]\nshutdown_timeout = {TIMEOUT}\nwarmup_bars = 20\nbars_per_round = 50\n")
    rng = random.Random(seed * 1000 + runs.start)
    return [p for run in runs if (p := one_run(home, run, rng, seed)) is not None]


@pytest.mark.slow
def test_a_signal_at_a_random_moment_ends_50_runs_cleanly(tmp_path: Path) -> None:
    seed = int(os.environ.get("ZEPIX_RACE_SEED", time.time_ns() % 10**6))
    half = RUNS // 2
    with ThreadPoolExecutor(2) as pool:
        streams = [pool.submit(stream, tmp_path / "a", range(half), seed),
                   pool.submit(stream, tmp_path / "b", range(half, RUNS), seed)]
        problems = [p for s in streams for p in s.result()]
    assert not problems, "\n".join(problems)
