"""The chaos soak (issue 22, item 5) in the suite: a fixed seed, about 3 minutes.

``zepix_core.chaos`` runs a real ``zepix run`` on a CSV source with the bundled
plugins and its own (one counts bars, one runs in a worker, one hangs), its
ledger in a real PostgreSQL server (``tests.pgserver``) that it stops and
starts, injects every kind of fault it knows at least once, then checks its
invariants. A failure prints the table and the seed that reproduces it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pgserver import PASSWORD, PgServer
from zepix_core.chaos import FAULTS, Postgres, soak

pytestmark = pytest.mark.slow

SEED = 20261206
SECONDS = 180.0


def test_the_chaos_soak_holds_every_invariant(tmp_path: Path) -> None:
    server = PgServer()
    server.start()
    try:
        url = server.create_database("chaos")
        postgres = Postgres(url, PASSWORD, server.start, server.stop)
        report = soak(SEED, SECONDS, tmp_path / "soak", postgres)
    finally:
        server.destroy()
    table = report.table()
    print(table)
    assert report.ok, f"seed {SEED}:\n{table}\n" + "\n".join(report.log)
    assert set(report.faults) == set(FAULTS), table  # every kind was injected
    assert report.trades > 0, table  # the ledger invariant compared real trades
