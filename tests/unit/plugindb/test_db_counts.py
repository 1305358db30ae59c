"""Plugin database statistics count writes and errors beside queries (issue 28, a seeds'
gap), live in the plugin's process and as saved in the file for the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from zepix_core.contract.errors import StorageError
from zepix_core.plugindb import PluginDatabase, health_fields


def test_writes_and_errors_are_counted_live_and_saved(tmp_path: Path) -> None:
    path = tmp_path / "zepix_p.db"
    db = PluginDatabase(path, "p", stats_every=0.0)
    try:
        db.record_signal("BTCUSD", "entry", ts=1.0)                      # write 1
        trade = db.open_trade("BTCUSD", "buy", 1.0, 100.0, ts=2.0, ref="a")  # write 2
        db.close_trade(trade.id, 101.0, ts=3.0)                          # write 3
        db.trades()                                                      # a read
        with pytest.raises(StorageError):  # the same ref twice: UNIQUE fails, error 1
            db.open_trade("BTCUSD", "buy", 1.0, 100.0, ts=4.0, ref="a")
        live = health_fields(db)
        assert (live["db_writes"], live["db_errors"]) == (3, 1)
        assert live["db_queries"] >= 4
        db.trades()  # saves the counts (stats_every = 0)
    finally:
        db.close()
    reader = PluginDatabase(path, "p", track=False)  # the host's view of a worker's file
    try:
        saved = health_fields(reader)
        assert (saved["db_writes"], saved["db_errors"]) == (3, 1)
        assert saved["db_queries"] == live["db_queries"] + 1  # and the last read
    finally:
        reader.close()
