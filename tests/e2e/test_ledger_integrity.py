"""The central ledger against the plugin databases (contract section 17): a target
switched while the host runs, the real PostgreSQL stopped and started again, a
backfill, and replays that never record a paper trade twice."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.livehost import live_host, wait_until
from tests.pgserver import PASSWORD, PgServer
from zepix_core.cli.main import main
from zepix_core.loading.syncconfig import PASSWORD_ENV
from zepix_core.sync.manager import plugin_databases, target_of

pytestmark = pytest.mark.slow

STEADY = "[host]\nwarmup_bars = 400\nbars_per_round = 20\n"


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    pg = PgServer()
    pg.start()
    yield pg
    pg.destroy()


def local(home: Path) -> dict[tuple[str, int], str]:
    """(plugin, trade id) -> status, from every plugin database."""
    found = {}
    for pid, path in plugin_databases(home / "plugins").items():
        with sqlite3.connect(path) as conn:
            found.update({(pid, int(i)): s for i, s in
                          conn.execute("SELECT id, status FROM trades").fetchall()})
    return found


def ledger(url: str) -> dict[tuple[str, int], str]:
    try:
        with psycopg.connect(url, password=PASSWORD, connect_timeout=5) as conn:
            rows = conn.execute("SELECT plugin_id, trade_id, status FROM aggregated_trades"
                                ).fetchall()
    except psycopg.errors.UndefinedTable:  # no sync reached it yet
        return {}
    return {(p, int(t)): s for p, t, s in rows}


def sqlite_rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM aggregated_trades").fetchone()[0])
    except sqlite3.Error:  # made, not yet with its table
        return 0


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


def test_a_target_switched_live_gets_every_trade_and_stays_true(
        server: PgServer, zepix_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = server.create_database("switch")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    central = zepix_home / "central.db"
    first = STEADY + f'[sync]\nurl = "sqlite:///{central}"\ninterval = 1\n'
    with live_host(zepix_home, config=first) as live:
        wait_until(lambda: sqlite_rows(central) > 20, timeout=120)
        # the operator moves [sync] url to PostgreSQL while the host runs
        (zepix_home / "zepix.toml").write_text(
            STEADY + f'[sync]\nurl = "{url}"\ninterval = 1\n', encoding="utf-8")
        wait_until(lambda: len(ledger(url)) >= len(local(zepix_home)) - 5, timeout=120)
        server.stop()  # the ledger goes away; trades open and close meanwhile
        try:
            before = local(zepix_home)
            wait_until(lambda: local(zepix_home) != before, timeout=120)
        finally:
            server.start()
        live.host.clocks.stop.set()
        wait_until(lambda: not live.host.started, timeout=120)
    mine, theirs = local(zepix_home), ledger(url)
    with capsys.disabled():  # the figures, for whoever runs it with -s
        print(f"after the switch: plugin databases {len(mine)} trades "
              f"({sum(s == 'closed' for s in mine.values())} closed), PostgreSQL ledger "
              f"{len(theirs)} ({sum(s == 'closed' for s in theirs.values())} closed)")
    assert theirs == mine  # every trade, each once, with the status it has locally
    code, out = cli(capsys, "sync", "status", "--json")
    rows = json.loads(out)
    assert code == 0 and rows and all(r["target"] == target_of(url) for r in rows)
    assert PASSWORD not in out and target_of(url).endswith("/switch"), out
    assert all(r["lag_seconds"] == 0 for r in rows)
    code, out = cli(capsys, "sync", "history", "--limit", "10000", "--json")
    targets = {r["target"] for r in json.loads(out)}
    assert targets == {target_of(f"sqlite:///{central}"), target_of(url)}
    # a backfill re-sends every trade of one plugin (idempotent)
    with psycopg.connect(url, password=PASSWORD) as conn:
        conn.execute("DELETE FROM aggregated_trades WHERE plugin_id = 'price_action_1m'")
    assert ledger(url) != mine
    code, out = cli(capsys, "sync", "--backfill", "price_action_1m", "--json")
    assert code == 0, out
    assert ledger(url) == mine


def test_restarting_the_replay_never_records_a_paper_trade_twice(zepix_home: Path) -> None:
    (zepix_home / "zepix.toml").write_text("[host]\nwarmup_bars = 600\nbars_per_round = 2\n",
                                           encoding="utf-8")
    zepix = str(Path(sys.executable).with_name("zepix"))
    counts = []
    for _ in range(2):
        done = subprocess.run([zepix, "run", "--once"], capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        shown = subprocess.run([zepix, "trades", "--json"], capture_output=True, text=True,
                               timeout=120, check=True)
        trades = json.loads(shown.stdout)
        identities = {(t["plugin_id"], t["symbol"], t["side"], t["opened_at"]) for t in trades}
        assert len(identities) == len(trades)
        counts.append(len(trades))
    assert counts[0] > 50 and counts[1] == counts[0]
    stats = subprocess.run([zepix, "stats", "--json"], capture_output=True, text=True,
                           timeout=120, check=True)
    opened = sum(r["trades_opened"] for r in json.loads(stats.stdout))
    assert opened == counts[0]  # zepix stats counts each trade once too
