"""The soak's run: start the host, inject every kind of fault once in a seeded order,
then at random while time is left, stop the host and check the invariants."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from zepix_core.chaos.base import Abort, Alertmanager, Postgres
from zepix_core.chaos.checks import Checks
from zepix_core.chaos.faults import Faults
from zepix_core.chaos.report import Report
from zepix_core.chaos.scene import write_scene

__all__ = ["Alertmanager", "Postgres", "Soak", "soak"]


class Soak(Faults, Checks):
    def prepare(self) -> None:
        self.first_ts = write_scene(
            self.home, self.site, self.csv, self.flag, self.rng, self.seconds,
            self.postgres.url if self.postgres else None,
            self.alertmanager.url if self.alertmanager else None)

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
        except Abort:
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


def soak(seed: int, seconds: float, work: Path | None = None,
         postgres: Postgres | None = None, alertmanager: Alertmanager | None = None) -> Report:
    """Run the soak for ``seconds`` with ``seed`` in ``work`` (a temporary directory
    unless given), the ledger in ``postgres`` when given (else SQLite), alerts sent to
    ``alertmanager`` when given; returns the report (``report.ok``, ``report.table()``)."""
    if work is not None:
        return Soak(seed, seconds, work, postgres, alertmanager).run()
    with tempfile.TemporaryDirectory(prefix="zepix-chaos-") as tmp:
        return Soak(seed, seconds, Path(tmp), postgres, alertmanager).run()
