"""A real ``zepix run`` subprocess whose output lines are collected as they come.

Used by the resource-limit and chaos tests: start it, wait for a condition on
its output, send it signals, and read what it said.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.venvs import clean_env
from tests.waiting import wait_until

ZEPIX = (sys.executable, "-m", "zepix_core.cli.main")


#: Sets the open-file limit (argv 1 and 2), then becomes ``zepix`` with the other args.
LIMITED = ("import os, resource, sys; "
           "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2]))); "
           "os.execv(sys.executable, [sys.executable, '-m', 'zepix_core.cli.main', "
           "*sys.argv[3:]])")


class Running:
    """``zepix run ARGS`` in ``home`` with the API on a free loopback port."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None,
                 nofile: tuple[int, int] | None = None, cwd: Path | None = None) -> None:
        self.home = home
        environment = clean_env(home, ZEPIX_HTTP_LISTEN="127.0.0.1:0", **(env or {}))
        command = [*ZEPIX, "run", *args] if nofile is None else [
            sys.executable, "-c", LIMITED, str(nofile[0]), str(nofile[1]), "run", *args]
        self.proc = subprocess.Popen(command, env=environment,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, errors="replace", start_new_session=True,
                                     cwd=cwd)
        self.out: list[str] = []
        self.err: list[str] = []
        self.err_bytes = 0
        self._readers = [threading.Thread(target=self._read, args=(s, lines), daemon=True)
                         for s, lines in ((self.proc.stdout, self.out),
                                          (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            if lines is self.err:
                self.err_bytes += len(line)
                if len(lines) > 5000:  # keep the head and the tail, count the rest
                    lines[2500:2501] = []
            lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rounds(self) -> int:
        return sum(1 for line in list(self.out) if " bars, " in line and "trade intent" in line)

    def url(self, timeout: float = 120) -> str:
        def found() -> str | None:
            for line in list(self.out):
                match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
                if match:
                    return match.group(1)
            assert self.proc.poll() is None, self.tail()
            return None
        url: str = wait_until(found, timeout=timeout, step=0.1)
        return url

    def wait_rounds(self, more: int, timeout: float = 120) -> None:
        start = self.rounds()
        wait_until(lambda: self.rounds() >= start + more or self.proc.poll() is not None,
                   timeout=timeout, step=0.1)
        assert self.proc.poll() is None, self.tail()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status (SIGKILL after ``timeout``, and fail)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"zepix run did not stop within {timeout}s\n{self.tail()}")
        for reader in self._readers:
            reader.join(10)
        return code

    def kill(self) -> None:
        """SIGKILL its whole session (the host and its workers)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(["-- stdout", *self.out[-lines:], "-- stderr", *self.err[-lines:]])


def run_cli(home: Path, *args: str, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZEPIX, *args], env=clean_env(home, **(env or {})),
                          capture_output=True, text=True, timeout=timeout, check=False)


def session_left(pid: int) -> Sequence[int]:
    """Processes still in the session ``pid`` led."""
    import psutil
    left = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == pid and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return left
