"""The faults the soak injects, one method ``_<kind>`` per kind of ``report.FAULTS``.

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
  for 5-20 s, then started (only when given an ``Alertmanager``); once back,
  it must have the host's dead-man's switch (``ZepixWatchdog``) again, which
  only the host's re-sending can give it (invariant ``alerts``).

After each fault the host must run rounds again (``alive``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import psutil

from zepix_core.alerts.alertmanager import WATCHDOG
from zepix_core.chaos.base import START_WAIT, Stage
from zepix_core.chaos.scene import LOCKER


class Faults(Stage):
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
        # Alertmanager keeps no alerts across a restart: the host's dead-man's switch is
        # there again only if the host re-sends what fires (every alertmanager_resend).
        deadline = time.monotonic() + START_WAIT
        while not self._watchdog_firing():
            if time.monotonic() > deadline:
                self.report.fail("alerts", "Alertmanager, back, never got the host's "
                                           f"{WATCHDOG} again in {START_WAIT:.0f} s")
                return
            time.sleep(0.5)

    def _watchdog_firing(self) -> bool:
        assert self.alertmanager is not None
        url = (f"{self.alertmanager.url}/api/v2/alerts?active=true&filter="
               + urllib.parse.quote(f'alertname="{WATCHDOG}"'))
        try:
            # S310: the soak's own Alertmanager on loopback (http://127.0.0.1:port)
            with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310
                return bool(json.load(answer))
        except (OSError, ValueError):
            return False

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
