"""What the parts of the soak share: the servers it may stop, the work directory,
the hosts it started and the one running now, and the report."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zepix_core.chaos.hostproc import Host
from zepix_core.chaos.report import FAULTS, NEEDS_SERVER, SHUTDOWN_TIMEOUT, Report

#: Seconds allowed for a (re)started host to run its first round, on a busy machine.
START_WAIT = 180.0


@dataclass
class Postgres:
    """A PostgreSQL server for the ledger that the soak may stop and start."""

    url: str
    password: str
    start: Callable[[], None]
    stop: Callable[[], None]


@dataclass
class Alertmanager:
    """An Alertmanager the host sends alerts to, that the soak may stop and start."""

    url: str
    start: Callable[[], None]
    stop: Callable[[], None]


class Stage:
    """The soak's state; ``faults.Faults`` and ``checks.Checks`` act on it."""

    def __init__(self, seed: int, seconds: float, work: Path,
                 postgres: Postgres | None = None,
                 alertmanager: Alertmanager | None = None) -> None:
        self.postgres = postgres
        self.alertmanager = alertmanager
        given = {"ledger_down": postgres, "alertmanager_down": alertmanager}
        self.kinds = tuple(k for k in FAULTS if k not in NEEDS_SERVER or given[k])
        self.rng = random.Random(seed)  # noqa: S311 - reproducible faults, not secrets
        self.report = Report(seed, seconds)
        if alertmanager is None:
            self.report.unchecked["alerts"] = "no Alertmanager given"
        self.seconds = seconds
        self.home = work / "home"
        self.site = work / "site"
        self.csv = work / "bars.csv"
        self.flag = work / "hang-now"
        self.config = self.home / "zepix.toml"
        self.hosts: list[Host] = []
        self.helpers: list[subprocess.Popen[str]] = []
        self.sessions: set[int] = set()
        #: Seconds a fault may last now (its share of the time left).
        self.share = seconds
        #: The time of the CSV's first bar (``scene.write_scene``).
        self.first_ts = 0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in {"PYTHONHOME", "VIRTUAL_ENV", "ZEPIX_DB", "ZEPIX_API_TOKEN"}}
        env.update(ZEPIX_HOME=str(self.home), ZEPIX_DB=str(self.home / "zepix.db"),
                   ZEPIX_HTTP_LISTEN="127.0.0.1:0", PYTHONPATH=str(self.site))
        if self.postgres:
            env["ZEPIX_SYNC_PASSWORD"] = self.postgres.password
        return env

    # -- the host ------------------------------------------------------------
    @property
    def host(self) -> Host:
        return self.hosts[-1]

    def start_host(self) -> None:
        host = Host(self.home, self.env(), self.csv)
        self.hosts.append(host)
        self.sessions.add(host.pid)
        if not host.wait_rounds(1, START_WAIT):
            self.report.fail("alive", f"host pid {host.pid} ran no round after start: "
                                      f"{host.tail()}")
            raise Abort

    def check_alive(self, after: str) -> None:
        if not self.host.wait_rounds(2, START_WAIT):
            self.report.fail("alive", f"no rounds after {after}: {self.host.tail()}")
            raise Abort
        self.check_activations(after)

    def stop_host(self) -> None:
        host = self.host
        if host.proc.poll() is not None:
            self.report.fail("stops", f"host pid {host.pid} had exited "
                                      f"({host.proc.returncode}) before its stop")
            return
        began = time.monotonic()
        host.proc.send_signal(signal.SIGTERM)
        try:
            code = host.proc.wait(SHUTDOWN_TIMEOUT + 30)
        except subprocess.TimeoutExpired:
            os.killpg(host.pid, signal.SIGKILL)
            host.proc.wait(30)
            self.report.fail("stops", f"host pid {host.pid} ignored SIGTERM for "
                                      f"{SHUTDOWN_TIMEOUT + 30:.0f} s")
            return
        took = time.monotonic() - began
        self.report.stops.append(took)
        for reader in host.readers:
            reader.join(10)
        if code != 0 or took > SHUTDOWN_TIMEOUT:
            self.report.fail("stops", f"host pid {host.pid} stopped with {code} after "
                                      f"{took:.1f} s: {host.tail()}")

    def hold(self, low: float, high: float) -> float:
        """How long a fault lasts: at random in ``[low, high]``, at most its share of
        the time left, never under ``low``."""
        return min(self.rng.uniform(low, high), max(low, self.share))

    def check_activations(self, when: str, closed: bool = False) -> None:
        rows = query(self.home / "zepix.db", "SELECT plugin_id, COUNT(*) AS n FROM activations "
                     "WHERE deactivated_at IS NULL GROUP BY plugin_id")
        for plugin_id, count in rows:
            if count > 1 or closed:
                self.report.fail("activations", f"{plugin_id}: {count} open activation "
                                                f"row(s) {when}")


class Abort(Exception):
    """The host did not come back: stop injecting, check what can be checked."""


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()
