"""One ledger, one target: spellings of the same SQLite file (``sqlite:////a/b``,
``sqlite:///a/b``, ``/a/./b``, a symlink) or of the same PostgreSQL database share
their sync cursors, so changing how ``[sync] url`` is written neither re-sends every
trade nor splits the cursors; cursors kept under an old spelling are taken over."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from zepix_core.cli.main import main
from zepix_core.loading.syncconfig import SyncSettings
from zepix_core.plugindb import PluginDatabase, database_file
from zepix_core.storage import Store
from zepix_core.sync import SyncManager
from zepix_core.sync.manager import target_of

T0 = 1_767_225_600.0


def _trades(home: Path, n: int) -> None:
    db = PluginDatabase(database_file("probe", home / "plugins" / "probe"), "probe",
                        clock=lambda: T0)
    for i in range(n):
        db.open_trade("BTCUSD", "buy", 1.0, 100.0 + i)
    db.close()


def _sync(home: Path, url: str) -> tuple[int, str]:
    store = Store(home / "zepix.db")
    try:
        manager = SyncManager(store, SyncSettings(url=url), home / "plugins", wall=lambda: T0)
        run = manager.run("cli")
        return run.rows, manager.target
    finally:
        store.close()


def _cursor_rows(home: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(home / "zepix.db") as conn:
        return conn.execute("SELECT plugin_id, target, rev FROM sync_cursors").fetchall()


def test_two_spellings_of_one_file_share_a_cursor(tmp_path: Path) -> None:
    central = tmp_path / "ledger" / "central.db"
    (tmp_path / "link").symlink_to(tmp_path / "ledger")
    _trades(tmp_path, 3)
    assert _sync(tmp_path, f"sqlite:///{central}") == (3, f"sqlite://{central}")  # 4 slashes
    for spelling in (f"sqlite://{central}", f"sqlite://{tmp_path}/ledger/./central.db",
                     f"sqlite://{tmp_path}/link/central.db"):
        assert _sync(tmp_path, spelling) == (0, f"sqlite://{central}"), spelling
    assert _cursor_rows(tmp_path) == [("probe", f"sqlite://{central}", 3)]
    _trades(tmp_path, 1)
    assert _sync(tmp_path, f"sqlite:///{central}")[0] == 1
    with sqlite3.connect(central) as conn:
        assert conn.execute("SELECT COUNT(*) FROM aggregated_trades").fetchone() == (4,)


def test_a_cursor_kept_under_an_old_spelling_is_taken_over(tmp_path: Path) -> None:
    central = tmp_path / "central.db"
    _trades(tmp_path, 2)
    _sync(tmp_path, f"sqlite://{central}")
    with sqlite3.connect(tmp_path / "zepix.db") as conn:  # as an older zepix kept it
        conn.execute("UPDATE sync_cursors SET target = ?", (f"sqlite:///{central}",))
    assert _sync(tmp_path, f"sqlite://{central}")[0] == 0
    assert _cursor_rows(tmp_path) == [("probe", f"sqlite://{central}", 2)]


@pytest.mark.parametrize("spelling", [
    "postgresql://ledger:s3cret@DB.example:5432/zepix",
    "postgres://db.example/zepix?sslmode=require",
    "postgresql://other@db.example:5432/zepix",
])
def test_postgresql_spellings_are_one_target_without_secrets(spelling: str) -> None:
    assert target_of(spelling) == "postgresql://db.example/zepix"
    assert target_of("postgresql://db.example:6432/zepix") == "postgresql://db.example:6432/zepix"


def test_sync_status_shows_the_one_spelling(zepix_home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    central = zepix_home / "central.db"
    _trades(zepix_home, 2)
    _sync(zepix_home, f"sqlite://{central}")
    (zepix_home / "zepix.toml").write_text(f'[sync]\nurl = "sqlite:///{central}"\n',
                                           encoding="utf-8")
    capsys.readouterr()
    assert main(["sync", "status", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["target"], row["lag_seconds"]) == (f"sqlite://{central}", 0.0)
