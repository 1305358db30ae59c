"""The chaos soak: a seeded fault-injection run of a real ``zepix run``.

    python -m zepix_core.chaos --seed 7 --minutes 3 [--keep DIR] [--json]

It writes a CSV of bars, a config and three plugins of its own beside the
installed (bundled) ones, starts ``zepix run --source csv`` as a real
subprocess, and until the time is up injects faults one after the other:
each kind of ``FAULTS`` once in a seeded order, then kinds chosen at random
with the seed:

- ``worker_kill``: SIGKILL of a plugin's worker process;
- ``host_kill``: SIGKILL of the host, then a new ``zepix run``;
- ``host_stop``: SIGTERM to the host (it must stop in time), then a new one;
- ``db_lock``: another process holds ``BEGIN IMMEDIATE`` on ``zepix.db`` for
  10-60 s (cut to the time left);
- ``fd_flood``: about 1,100 idle, half-sent connections on the API;
- ``hang``: a plugin's ``on_bar`` and ``health_ping`` block for 5-15 s;
- ``config_invalid``: the config is rewritten invalid, then valid again;
- ``full_disk``: for 5-15 s no file of the host may grow (its ``RLIMIT_FSIZE``
  set to 1 byte from outside with ``prlimit``, as a full disk answers);
- ``ledger_down``: the ledger's PostgreSQL stopped for 5-20 s, then started
  (only when the soak is given a ``Postgres`` ledger, as the suite's test does);
- ``alertmanager_down``: the Alertmanager the host sends alerts to stopped
  for 5-20 s, then started (only when given an ``Alertmanager``).

Then it stops the host (SIGTERM) and checks the invariants:

- ``bars``: the plugin ``chaos_count`` saw, in every run of the host, the
  CSV's bars in order from the first, none skipped and none twice;
- ``activations``: no plugin has two open activation rows at any check, and
  none is open after the last clean stop;
- ``integrity``: ``PRAGMA integrity_check`` is ``ok`` on every database;
- ``ledger``: the central ledger holds every paper trade of every plugin
  database once, as it is there (after the last stop's final sync);
- ``processes``: no process of the run is left;
- ``stops``: every SIGTERM ended the host with status 0 within
  ``[host] shutdown_timeout`` (30 s);
- ``alive``: the host ran rounds after every fault.

It prints a table of faults injected and invariants held, and on a failure
the seed that reproduces it. Exit 0 when every invariant held, else 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from zepix_core.storage.central import TRADE_FIELDS

FAULTS = ("worker_kill", "host_kill", "host_stop", "db_lock", "fd_flood", "hang",
          "config_invalid", "full_disk", "ledger_down", "alertmanager_down")
#: Kinds that need a server the soak may stop and start (``Postgres``, ``Alertmanager``).
NEEDS_SERVER = ("ledger_down", "alertmanager_down")
SHUTDOWN_TIMEOUT = 30.0
#: Seconds allowed for a (re)started host to run its first round, on a busy machine.
START_WAIT = 180.0
PACE = 0.02

CONFIG = """\
[host]
interval = 1

[sync]
interval = 5
{sync}
{alerts}
[plugins.chaos_worker]
isolation = "process"
max_restarts = 1000
restart_backoff = 0.2

[plugins.chaos_hang]
flag = "{flag}"
"""

PLUGINS = '''
import os, time
from zepix_core import hookimpl


class Base:
    def __init__(self):
        self.bars = 0

    @hookimpl
    def plugin_version(self):
        return {"version": "1.0.0", "requires_api": ">=1.0,<2", "requires": {}}

    @hookimpl
    def health_ping(self, now):
        return {"ok": True, "last_activity": now}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": self.bars}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def activate(self, context, config):
        self.config = dict(config)

    @hookimpl
    def deactivate(self, reason):
        pass

    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        return None


class Count(Base):
    """Writes the time of every 1m bar it is offered, one line each, per host pid."""

    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        if bar.timeframe != "1m":  # the source's 5m, 15m and 1h aggregates
            return None
        self.unwritten = getattr(self, "unwritten", "") + f"{bar.ts:.0f}\\n"
        try:  # a full disk (the soak's full_disk): the lines wait for the next bar
            with open(os.path.join(os.environ["ZEPIX_HOME"], f"seen-{os.getpid()}.txt"),
                      "a") as out:
                out.write(self.unwritten)
            self.unwritten = ""
        except OSError:
            pass
        return None


class Worker(Base):
    """Runs in a worker process (isolation = "process"); the soak kills it."""


class Hang(Base):
    """Blocks in on_bar and health_ping while its flag file exists."""

    def _wait(self):
        flag = getattr(self, "config", {}).get("flag")
        while flag and os.path.exists(flag):
            time.sleep(0.05)

    @hookimpl
    def health_ping(self, now):
        self._wait()
        return {"ok": True, "last_activity": time.time()}

    @hookimpl
    def on_bar(self, bar):
        self._wait()
        self.bars += 1
        return None
'''

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@dataclass
class Report:
    seed: int
    seconds: float
    faults: Counter[str] = field(default_factory=Counter)
    #: invariant -> problems found (empty: it held)
    problems: dict[str, list[str]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    stops: list[float] = field(default_factory=list)
    trades: int = 0

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def fail(self, invariant: str, problem: str) -> None:
        self.problems.setdefault(invariant, []).append(problem)

    def table(self) -> str:
        lines = [f"chaos soak: seed {self.seed}, {self.seconds:.0f} s",
                 "", f"{'fault':<18} injected"]
        lines += [f"{kind:<18} {self.faults.get(kind, 0)}" for kind in FAULTS
                  if kind in self.faults or kind not in NEEDS_SERVER]
        lines += ["", f"{'invariant':<18} held"]
        for name in INVARIANTS:
            problems = self.problems.get(name, [])
            lines.append(f"{name:<18} {'yes' if not problems else 'NO: ' + problems[0]}")
            lines += [f"{'':<18} {p}" for p in problems[1:5]]
        lines.append(f"\npaper trades checked against the ledger: {self.trades}")
        if self.stops:
            lines.append(f"stops: {len(self.stops)}, slowest {max(self.stops):.1f} s "
                         f"(limit {SHUTDOWN_TIMEOUT:.0f} s)")
        if not self.ok:
            lines.append(f"\nFAILED: reproduce with python -m zepix_core.chaos --seed "
                         f"{self.seed} --minutes {self.seconds / 60:g}")
        return "\n".join(lines)

    def document(self) -> dict[str, Any]:
        return {"seed": self.seed, "seconds": self.seconds, "faults": dict(self.faults),
                "invariants": {n: not self.problems.get(n) for n in INVARIANTS},
                "problems": self.problems, "ok": self.ok}


INVARIANTS = ("bars", "activations", "integrity", "ledger", "processes", "stops", "alive")


class Host:
    """One ``zepix run`` subprocess, its output lines collected as they come."""

    def __init__(self, home: Path, env: dict[str, str], csv: Path) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "zepix_core.cli.main", "run", "--source", "csv",
             "--source-option", f"path={csv}", "--source-option", f"pace={PACE}",
             "--source-option", "symbol=EURUSD"],
            env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            errors="replace", start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [threading.Thread(target=_read, args=(s, lines), daemon=True)
                        for s, lines in ((self.proc.stdout, self.out),
                                         (self.proc.stderr, self.err))]
        for reader in self.readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rounds(self) -> int:
        return sum(1 for line in list(self.out) if " bars, " in line and "trade intent" in line)

    def port(self) -> int | None:
        for line in list(self.out):
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if match:
                return int(match.group(1))
        return None

    def wait_rounds(self, more: int, timeout: float) -> bool:
        start = self.rounds()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rounds() >= start + more:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def tail(self, lines: int = 15) -> str:
        return " | ".join([*self.out[-lines:], *self.err[-lines:]])[-3000:]


def _read(stream: Any, lines: list[str]) -> None:
    for line in stream:
        if len(lines) > 20_000:
            del lines[:10_000]
        lines.append(line.rstrip("\n"))


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


class Soak:
    def __init__(self, seed: int, seconds: float, work: Path,
                 postgres: Postgres | None = None,
                 alertmanager: Alertmanager | None = None) -> None:
        self.postgres = postgres
        self.alertmanager = alertmanager
        given = {"ledger_down": postgres, "alertmanager_down": alertmanager}
        self.kinds = tuple(k for k in FAULTS if k not in NEEDS_SERVER or given[k])
        self.rng = random.Random(seed)  # noqa: S311 - reproducible faults, not secrets
        self.report = Report(seed, seconds)
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

    # -- setup ---------------------------------------------------------------
    def prepare(self) -> None:
        self.home.mkdir(parents=True)
        self.site.mkdir(parents=True)
        info = self.site / "zepix_chaos-1.0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zepix-chaos\n"
                                       "Version: 1.0.0\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(
            "[zepix.plugins]\nchaos_count = zepix_chaos:Count\n"
            "chaos_worker = zepix_chaos:Worker\nchaos_hang = zepix_chaos:Hang\n",
            encoding="utf-8")
        (self.site / "zepix_chaos.py").write_text(textwrap.dedent(PLUGINS), encoding="utf-8")
        sync = f'url = "{self.postgres.url}"\n' if self.postgres else ""
        alerts = (f'[alerts]\nalertmanager_url = "{self.alertmanager.url}"\n'
                  "alertmanager_resend = 5\n" if self.alertmanager else "")
        self.config.write_text(CONFIG.format(flag=self.flag, sync=sync, alerts=alerts),
                               encoding="utf-8")
        start = 1_700_000_000 - 1_700_000_000 % 60
        price = 1.1
        rows = ["time,open,high,low,close,volume"]
        for n in range(int(self.seconds / PACE * 1.5) + 1000):
            move = self.rng.uniform(-0.0005, 0.0005)
            close = max(0.5, price + move)
            high, low = max(price, close) + 0.0001, min(price, close) - 0.0001
            rows.append(f"{start + 60 * n},{price:.5f},{high:.5f},{low:.5f},{close:.5f},1")
            price = close
        self.csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
        self.first_ts = start

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
            raise _Abort

    def check_alive(self, after: str) -> None:
        if not self.host.wait_rounds(2, START_WAIT):
            self.report.fail("alive", f"no rounds after {after}: {self.host.tail()}")
            raise _Abort
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

    # -- faults ----------------------------------------------------------------
    def hold(self, low: float, high: float) -> float:
        """How long a fault lasts: at random in ``[low, high]``, at most its share of
        the time left, never under ``low``."""
        return min(self.rng.uniform(low, high), max(low, self.share))

    def inject(self, kind: str, left: float) -> None:
        self.report.faults[kind] += 1
        self.report.log.append(f"{time.strftime('%H:%M:%S')} {kind}")
        getattr(self, f"_{kind}")(left)
        self.check_alive(kind)

    def _worker_kill(self, left: float) -> None:
        for _ in range(100):
            worker = self._worker()
            if worker is not None:
                with contextlib.suppress(psutil.Error):
                    worker.send_signal(signal.SIGKILL)
                return
            time.sleep(0.1)  # being restarted after the last kill

    def _worker(self) -> psutil.Process | None:
        try:
            children = psutil.Process(self.host.pid).children(recursive=True)
        except psutil.Error:
            return None
        for child in children:
            with contextlib.suppress(psutil.Error):
                if "chaos_worker" in child.cmdline():
                    return child
        return None

    def _host_kill(self, left: float) -> None:
        host = self.host
        with contextlib.suppress(ProcessLookupError):
            os.kill(host.pid, signal.SIGKILL)
        host.proc.wait(60)
        for reader in host.readers:
            reader.join(10)
        self.start_host()

    def _full_disk(self, left: float) -> None:
        import resource
        pid = self.host.pid
        try:
            soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
        except (OSError, ValueError) as exc:
            self.report.log.append(f"full_disk not injected: {exc}")
            return
        try:
            time.sleep(self.hold(5, 15))
        finally:
            with contextlib.suppress(OSError, ValueError):
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))

    def _ledger_down(self, left: float) -> None:
        assert self.postgres is not None
        self.postgres.stop()
        try:
            time.sleep(self.hold(5, 20))
        finally:
            self.postgres.start()

    def _alertmanager_down(self, left: float) -> None:
        assert self.alertmanager is not None
        self.alertmanager.stop()
        try:
            time.sleep(self.hold(5, 20))
        finally:
            self.alertmanager.start()

    def _host_stop(self, left: float) -> None:
        self.stop_host()
        self.start_host()

    def _db_lock(self, left: float) -> None:
        hold = self.hold(10, 60)
        command = [sys.executable, "-c", LOCKER, str(self.home / "zepix.db")]
        locker = subprocess.Popen(command,  # noqa: S603 - our own interpreter and script
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  start_new_session=True)
        self.helpers.append(locker)
        self.sessions.add(locker.pid)
        try:
            assert locker.stdout is not None
            if locker.stdout.readline().strip() != "locked":
                self.report.fail("alive", "the locker could not take the lock")
                return
            if not self.host.wait_rounds(2, hold + START_WAIT):
                self.report.fail("alive", f"no rounds while the database was locked: "
                                          f"{self.host.tail()}")
            end = time.monotonic() + hold
            while time.monotonic() < end and self.host.proc.poll() is None:
                time.sleep(0.2)
        finally:
            assert locker.stdin is not None
            with contextlib.suppress(OSError):
                locker.stdin.write("\n")
                locker.stdin.close()
            locker.wait(60)

    def _fd_flood(self, left: float) -> None:
        port = self.host.port()
        if port is None:
            return
        flood = []
        try:
            for _ in range(1100):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                flood.append(sock)
            time.sleep(1)
            for sock in flood:
                with contextlib.suppress(OSError):
                    sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            time.sleep(self.hold(5, 15))
        finally:
            for sock in flood:
                sock.close()

    def _hang(self, left: float) -> None:
        self.flag.touch()
        try:
            time.sleep(self.hold(5, 15))
        finally:
            self.flag.unlink()

    def _config_invalid(self, left: float) -> None:
        good = self.config.read_text(encoding="utf-8")
        self.config.write_text(good + "\n[host\ninterval = \n", encoding="utf-8")
        try:
            time.sleep(self.hold(3, 8))
        finally:
            self.config.write_text(good, encoding="utf-8")

    # -- invariants ------------------------------------------------------------
    def check_activations(self, when: str, closed: bool = False) -> None:
        rows = _query(self.home / "zepix.db", "SELECT plugin_id, COUNT(*) AS n FROM activations "
                      "WHERE deactivated_at IS NULL GROUP BY plugin_id")
        for plugin_id, count in rows:
            if count > 1 or closed:
                self.report.fail("activations", f"{plugin_id}: {count} open activation "
                                                f"row(s) {when}")

    def check_bars(self) -> None:
        csv_ts = self.first_ts
        for host in self.hosts:
            seen = self.home / f"seen-{host.pid}.txt"
            if not seen.exists():
                self.report.fail("bars", f"host pid {host.pid}: chaos_count saw no bar")
                continue
            times = [int(t) for t in seen.read_text().split() if t.isdigit()]
            expected = [csv_ts + 60 * n for n in range(len(times))]
            if times != expected:
                first = next(i for i, (a, b) in enumerate(zip(times, expected)) if a != b)
                self.report.fail("bars", f"host pid {host.pid}: bar {first} was "
                                         f"{times[first]}, expected {expected[first]} "
                                         f"({len(times)} seen)")

    def check_integrity(self) -> None:
        for db in sorted(self.home.rglob("*.db")):
            try:
                result = _query(db, "PRAGMA integrity_check")
            except sqlite3.Error as exc:
                self.report.fail("integrity", f"{db.name}: {exc}")
                continue
            if result != [("ok",)]:
                self.report.fail("integrity", f"{db.name}: {result[:3]}")

    def check_ledger(self) -> None:
        fields = ", ".join(TRADE_FIELDS)
        # S608: fields are our own column names (TRADE_FIELDS), no input
        sql = f"SELECT plugin_id, trade_id, {fields} FROM aggregated_trades"  # noqa: S608
        try:
            if self.postgres:
                import psycopg
                with psycopg.connect(self.postgres.url, password=self.postgres.password,
                                     connect_timeout=30) as conn:
                    central = [tuple(r) for r in conn.execute(sql).fetchall()]
            else:
                central = _query(self.home / "central.db", sql)
        except Exception as exc:  # noqa: BLE001 - either engine: a failed invariant, told
            self.report.fail("ledger", f"the ledger cannot be read: {exc}")
            return
        by_plugin: dict[str, dict[int, tuple[Any, ...]]] = {}
        for row in central:
            by_plugin.setdefault(row[0], {})[row[1]] = row[2:]
        trades = 0
        for db in sorted((self.home / "plugins").glob("*/*.db")):
            plugin_id = db.parent.name
            try:
                # S608: fields are our own column names (TRADE_FIELDS), no input
                found = _query(db, f"SELECT id, {fields} FROM trades")  # noqa: S608
            except sqlite3.Error as exc:
                self.report.fail("ledger", f"{db.name}: {exc}")
                continue
            mine = {row[0]: row[1:] for row in found}
            theirs = by_plugin.pop(plugin_id, {})
            trades += len(mine)
            lost = sorted(set(mine) - set(theirs))
            extra = sorted(set(theirs) - set(mine))
            differ = sorted(t for t in set(mine) & set(theirs) if mine[t] != theirs[t])
            for what, ids in (("not in the ledger", lost), ("only in the ledger", extra),
                              ("different in the ledger", differ)):
                if ids:
                    self.report.fail("ledger", f"{plugin_id}: {len(ids)} trade(s) {what}, "
                                               f"e.g. {ids[:3]}")
        for plugin_id, left in by_plugin.items():
            self.report.fail("ledger", f"{plugin_id}: {len(left)} ledger trade(s) of no "
                                       "plugin database")
        self.report.trades = trades

    def check_processes(self) -> None:
        deadline = time.monotonic() + 30  # workers notice their host's end
        while True:
            left = _in_sessions(self.sessions)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for proc in left:
            with contextlib.suppress(psutil.Error):
                self.report.fail("processes", f"pid {proc.pid} left: "
                                              f"{' '.join(proc.cmdline())[:120]}")

    # -- the run -------------------------------------------------------------
    def run(self) -> Report:
        began = time.monotonic()
        try:
            self.prepare()
            self.start_host()
            first = list(self.kinds)
            self.rng.shuffle(first)
            # Every kind once, even past the time (each held for its shortest when the
            # time is short), then at random while time is left.
            while first or (self.seconds - (time.monotonic() - began)) > 15:
                left = self.seconds - (time.monotonic() - began)
                self.share = max(0.0, left - 15) / (len(first) + 1)
                self.inject(first.pop() if first else self.rng.choice(self.kinds), left)
                time.sleep(self.rng.uniform(1, 4) if not first else 0.5)
            self.stop_host()
        except _Abort:
            for host in self.hosts:
                if host.proc.poll() is None:
                    self.stop_host()
        finally:
            self.cleanup()
        self.check_activations("after the last stop", closed=True)
        self.check_bars()
        self.check_integrity()
        self.check_ledger()
        self.check_processes()
        self.report.seconds = time.monotonic() - began
        return self.report

    def cleanup(self) -> None:
        if self.flag.exists():
            self.flag.unlink()
        for helper in self.helpers:
            if helper.poll() is None:
                helper.kill()
                helper.wait(30)


class _Abort(Exception):
    """The host did not come back: stop injecting, check what can be checked."""


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def _in_sessions(sessions: set[int]) -> list[psutil.Process]:
    left = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) in sessions and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
    return left


def soak(seed: int, seconds: float, work: Path | None = None,
         postgres: Postgres | None = None, alertmanager: Alertmanager | None = None) -> Report:
    """Run the soak for ``seconds`` with ``seed`` in ``work`` (a temporary directory
    unless given), the ledger in ``postgres`` when given (else SQLite), alerts sent to
    ``alertmanager`` when given; returns the report (``report.ok``, ``report.table()``)."""
    if work is not None:
        return Soak(seed, seconds, work, postgres, alertmanager).run()
    with tempfile.TemporaryDirectory(prefix="zepix-chaos-") as tmp:
        return Soak(seed, seconds, Path(tmp), postgres, alertmanager).run()


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zepix_core.chaos",
        description="Run `zepix run` on a CSV source with the installed plugins and three "
                    "of the soak's own, inject seeded faults (worker and host SIGKILL, a "
                    "database lock, an fd flood, a hanging plugin, an invalid config), "
                    "then check the invariants and print a table. Exit 0 when they held.")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long (default 3)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="work in DIR (must not exist) and keep it, for a post-mortem")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be > 0")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    report = soak(seed, args.minutes * 60, args.keep)
    out(json.dumps(report.document()) if args.json else report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
