"""The sync lag reads each plugin database's oldest pending change at most every
FRESH_FOR seconds while its cursor stays (the dashboard and /metrics poll it), and at
once after a sync moved the cursor; checked on a real SQLite file with a fake clock."""

from __future__ import annotations

from pathlib import Path

from zepix_core.plugindb import PluginDatabase, database_file
from zepix_core.sync.reading import FRESH_FOR, _Oldest
from zepix_core.testing import FakeClock


def test_a_read_is_kept_while_the_cursor_stays_and_redone_when_it_moves(
        tmp_path: Path) -> None:
    path = database_file("probe", tmp_path / "probe")
    db = PluginDatabase(path, "probe", clock=lambda: 1000.0)
    first = db.open_trade("BTCUSD", "buy", 1.0, 100.0)
    clock = FakeClock(0.0)
    oldest = _Oldest(clock)
    assert oldest.read(path, "t", first.rev) is None  # everything synced
    db2 = PluginDatabase(path, "probe", clock=lambda: 2000.0)
    db2.open_trade("BTCUSD", "sell", 1.0, 101.0)
    clock.advance(FRESH_FOR / 2)
    assert oldest.read(path, "t", first.rev) is None  # kept: read FRESH_FOR/2 ago
    clock.advance(FRESH_FOR / 2)
    assert oldest.read(path, "t", first.rev) == 2000.0  # read again
    assert oldest.read(path, "t", 0) == 1000.0  # another cursor (a backfill): at once
    assert oldest.read(path, "other", first.rev) == 2000.0  # another target: its own
    db.close()
    db2.close()
