"""The chaos soak (issue 22, item 5) in the suite: a fixed seed, about 3 minutes.

``zepix_core.chaos`` runs a real ``zepix run`` on a CSV source with the bundled
plugins and its own (one counts bars, one runs in a worker, one hangs), its
ledger in a real PostgreSQL server (``tests.pgserver``) and its alerts going to
a real Alertmanager (``tests.servers``), both of which it stops and starts;
it injects every kind of fault it knows at least once, then checks its
invariants. A failure prints the table and the seed that reproduces it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.pgserver import PASSWORD, PgServer
from tests.servers import _ready, binary, free_port
from tests.waiting import wait_until
from zepix_core.chaos import FAULTS, Alertmanager, Postgres, soak

pytestmark = pytest.mark.slow

SEED = 20261206
SECONDS = 180.0


class AlertmanagerProcess:
    """A real Alertmanager on a fixed free port, stopped and started again at will."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (root / "alertmanager.yml").write_text(
            "route:\n  receiver: blackhole\n  group_wait: 1s\n"
            "receivers:\n  - name: blackhole\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [binary("prometheus-alertmanager", "alertmanager"),
                f"--config.file={self.root / 'alertmanager.yml'}",
                f"--storage.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="]
        with (self.root / "alertmanager.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: _ready(f"{self.url}/-/ready"), timeout=60, step=0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)
        self.proc = None


def test_the_chaos_soak_holds_every_invariant(tmp_path: Path) -> None:
    server = PgServer()
    manager = AlertmanagerProcess(tmp_path / "alertmanager")
    try:
        server.start()
        manager.start()
        url = server.create_database("chaos")
        report = soak(SEED, SECONDS, tmp_path / "soak",
                      Postgres(url, PASSWORD, server.start, server.stop),
                      Alertmanager(manager.url, manager.start, manager.stop))
    finally:
        manager.stop()
        server.destroy()
    table = report.table()
    print(table)
    assert report.ok, f"seed {SEED}:\n{table}\n" + "\n".join(report.log)
    assert set(report.faults) == set(FAULTS), table  # every kind was injected
    assert report.trades > 0, table  # the ledger invariant compared real trades
    assert report.bars > 0, table  # the bars invariant compared the host's own counts
