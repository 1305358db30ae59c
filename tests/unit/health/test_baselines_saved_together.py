"""Every plugin's anomaly baseline is saved every ``SAVE_BASELINES_EVERY`` rounds, all
of a round's in one transaction after its assessments (issue 26: 1,000 plugins cost
1,000 transactions in that round). What is stored is each plugin's state as the
round left it, as when each was written on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.distfactory import DistFactory, good_plugin
from zepix_core.health.monitor import SAVE_BASELINES_EVERY
from zepix_core.host.host import create_host
from zepix_core.testing import FakeClock


def test_each_plugins_baseline_is_saved_as_the_round_left_it(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-pair", "1.0.0", {"one": "pair_plugin:Plugin", "two": "pair_plugin:Plugin"},
              {"pair_plugin": good_plugin()})
    clock = FakeClock()
    (tmp_path / "zepix.toml").write_text("", encoding="utf-8")
    host = create_host(tmp_path / "zepix.toml", tmp_path / "zepix.db",
                       paths=[str(dists.root)], clocks=clock.clocks())
    host.start()
    try:
        for _ in range(SAVE_BASELINES_EVERY - 1):
            host.work()
            clock.advance(30)
            host.round()
        assert host.store.baseline("one") is None and host.store.baseline("two") is None
        host.work()
        clock.advance(30)
        host.round()
        for pid in ("one", "two"):
            feed = host.monitor.watched[pid].anomaly
            assert feed is not None
            state = feed.detector.state()
            assert state["rounds"] == SAVE_BASELINES_EVERY
            assert host.store.baseline(pid) == json.loads(json.dumps(state))
        updated = host.store.query("SELECT DISTINCT updated_at FROM anomaly_baselines")
        assert [r["updated_at"] for r in updated] == [clock.clocks().wall()]
    finally:
        host.shutdown()
        host.store.close()
