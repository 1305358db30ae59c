"""Each subsystem of a monitoring round pays only for what changed (issue 26).

Defects covered (a five-plugin round went 2.97 -> 4.03 ms): every snapshot was
encoded to JSON and decoded again for the outage journal in every round, the
database up or not; these tests pin that the cheaper paths store and decide
exactly what the old ones did.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.locker import locked
from zepix_core.contract.errors import StorageError
from zepix_core.contract.model import Bar
from zepix_core.health.anomaly import Band
from zepix_core.health.resources import ResourceSampler
from zepix_core.host.host import Host, create_host
from zepix_core.host.limits import files_alert
from zepix_core.loading.config import load_config
from zepix_core.storage import Store


def _snapshot(plugin_id: str) -> dict[str, object]:
    """A snapshot with what plain JSON lacks: NaN, infinity, a tuple, a non-str key."""
    return {"plugin_id": plugin_id, "status": "HEALTHY", "timestamp": 1.5,
            "metrics": {"pnl": math.nan, "peak": math.inf, "pair": (1, 2.5), 7: "seven"},
            "reasons": [], "latency_ms": {"p50": 0.25, "p95": None}}


def _stored(store: Store, plugin_id: str) -> str:
    rows = store.query("SELECT data FROM health_snapshots WHERE plugin_id = ?", (plugin_id,))
    assert len(rows) == 1
    return str(rows[0]["data"])


def test_a_snapshot_written_at_once_and_one_that_waited_are_stored_alike(
        tmp_path: Path) -> None:
    db = tmp_path / "zepix.db"
    store = Store(db, busy_timeout=0.1)
    store.defer_writes = True
    store.save_snapshots(1.0, [_snapshot("direct")])
    with locked(db):
        store.save_snapshots(2.0, [_snapshot("waited")])
        assert store.outage is not None and store.pending == 1
    assert store.flush_deferred() and store.pending == 0
    direct, waited = _stored(store, "direct"), _stored(store, "waited")
    assert direct.replace("direct", "waited") == waited
    assert json.loads(direct)["metrics"] == {"pnl": None, "peak": None, "pair": [1, 2.5],
                                             "7": "seven"}


def test_a_waiting_snapshot_is_kept_as_it_was_when_saved(tmp_path: Path) -> None:
    # The monitor may change its records after the round; what waits is a copy.
    db = tmp_path / "zepix.db"
    store = Store(db, busy_timeout=0.1)
    store.defer_writes = True
    record = _snapshot("alpha")
    with locked(db):
        store.save_snapshots(2.0, [record])
        record["status"] = "DEGRADED"
        record["metrics"] = {}  # type: ignore[assignment]
    assert store.flush_deferred()
    kept = json.loads(_stored(store, "alpha"))
    assert kept["status"] == "HEALTHY" and kept["metrics"]["pair"] == [1, 2.5]
    assert store.latest_snapshots()[0]["status"] == "HEALTHY"


def test_a_waiting_snapshot_spilled_to_the_journal_is_replayed_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zepix_core.storage import deferred

    monkeypatch.setattr(deferred, "PENDING_LIMIT", 0)  # straight to the journal
    db = tmp_path / "zepix.db"
    first = Store(db, busy_timeout=0.1)
    first.defer_writes = True
    first.save_snapshots(1.0, [_snapshot("direct")])
    with locked(db):
        first.save_snapshots(2.0, [_snapshot("journaled")])
    second = Store(db)
    second.defer_writes = True
    assert second.pending == 1 and second.flush_deferred()
    assert (_stored(second, "direct").replace("direct", "journaled")
            == _stored(second, "journaled"))


# -- pauses: read again only after another connection wrote the database ----------

BUNDLED = ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m",
           "price_action_1h")


def _host(home: Path, dists: DistFactory, config: str = "") -> Host:
    dists.add("zx-calm", "1.0.0", {"calm": "zx_calm_mod:Plugin"},
              {"zx_calm_mod": good_plugin()})
    off = "".join(f"[plugins.{p}]\nenabled = false\n" for p in BUNDLED)
    path = home / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n" + config + off, encoding="utf-8")
    host = create_host(path, home / "zepix.db", paths=[str(dists.root)])
    host.start()
    return host


def _bar(n: int) -> Bar:
    return Bar("BTCUSD", "1m", 1_700_000_000.0 + 60 * n, 100.0, 101.0, 99.0, 100.0, 5.0)


def test_data_version_moves_for_other_connections_only(tmp_path: Path) -> None:
    db = tmp_path / "zepix.db"
    mine, other = Store(db), Store(db)
    start = mine.data_version()
    mine.pause("alpha", "mine", "test", 1.0)
    assert mine.data_version() == start  # its own commit: no news
    other.pause("beta", "theirs", "test", 2.0)
    assert mine.data_version() != start


def test_a_pause_from_another_process_takes_effect_at_the_next_round(
        tmp_path: Path, dists: DistFactory) -> None:
    host = _host(tmp_path, dists)
    try:
        host.round()
        fed = _fed(host)
        shell = Store(tmp_path / "zepix.db")  # what `zepix pause calm` opens
        shell.pause("calm", "maintenance", "cli", 5.0)
        assert not host.is_paused("calm")  # read at the round, as documented
        host.round()
        assert host.is_paused("calm") and host.pauses["calm"]["reason"] == "maintenance"
        host.on_bar(_bar(1))
        assert _fed(host) == fed  # no bar reached it
        host.round()  # nothing changed: the pause stays in force
        assert host.is_paused("calm")
        shell.resume("calm", "cli", 6.0)
        host.round()
        assert not host.is_paused("calm")
        host.on_bar(_bar(2))
        assert _fed(host) == fed + 1
        shell.close()
    finally:
        host.shutdown()
        host.store.close()


def test_a_pause_not_read_for_a_failed_query_is_read_at_the_next_round(
        tmp_path: Path, dists: DistFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    host = _host(tmp_path, dists)
    try:
        host.round()
        Store(tmp_path / "zepix.db").pause("calm", "maintenance", "cli", 5.0)
        read = host.store.pauses

        def fails_once() -> object:
            monkeypatch.setattr(host.store, "pauses", read)
            raise StorageError("zepix.db: query failed (disk I/O error)")

        monkeypatch.setattr(host.store, "pauses", fails_once)
        host.round()  # the read failed: the pauses known so far stay
        assert not host.is_paused("calm")
        host.round()  # no other write since, and still read again
        assert host.is_paused("calm")
    finally:
        host.shutdown()
        host.store.close()


def _fed(host: Host) -> int:
    runner = host.slots["calm"].runner
    assert runner is not None
    [plugin] = [p for p in runner.pm.get_plugins()  # type: ignore[attr-defined]
                if hasattr(p, "bars")]
    return int(plugin.bars)


# -- open files: counted once a round, by the host sample ---------------------------

def test_the_host_sample_counts_the_open_files_as_the_alert_did() -> None:
    sample = ResourceSampler().sample_host()
    assert sample.fds is not None
    assert files_alert(sample.fds - 1) == files_alert()


def test_the_open_files_alert_fires_from_the_counted_figure() -> None:
    found = files_alert(10**9)
    assert found is not None and found[0] and "open files" in found[1]
    calm = files_alert(1)
    assert calm is not None and not calm[0]


# -- risk limits: parsed once per config ------------------------------------------

def test_risk_limits_follow_a_new_config_object(tmp_path: Path, dists: DistFactory) -> None:
    host = _host(tmp_path, dists, "[risk]\ndaily_loss_limit = 50\n")
    try:
        assert host.risk.limits("calm").daily_loss_limit == 50.0
        assert host.risk.limits("calm") is host.risk.limits("calm")
        path = tmp_path / "zepix.toml"
        text = path.read_text(encoding="utf-8").replace("= 50", "= 75")
        path.write_text(text, encoding="utf-8")
        host.ports.config = load_config(path)
        assert host.risk.limits("calm").daily_loss_limit == 75.0
    finally:
        host.shutdown()
        host.store.close()


# -- anomaly bands: the snapshot field without a deep copy -------------------------

def test_a_band_record_is_what_asdict_gave() -> None:
    band = Band("latency_ms", 1.5, None, 2.0, 1.0, 12, False)
    assert band.record() == dataclasses.asdict(band)
    assert list(band.record()) == [f.name for f in dataclasses.fields(Band)]
