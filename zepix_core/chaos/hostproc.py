"""One ``zepix run`` of the soak: a real subprocess, its output read as it comes."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from zepix_core.chaos.scene import PACE


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


def _read(stream: IO[str], lines: list[str]) -> None:
    for line in stream:
        if len(lines) > 20_000:
            del lines[:10_000]
        lines.append(line.rstrip("\n"))
