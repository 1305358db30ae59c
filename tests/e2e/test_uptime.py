"""``uptime_seconds`` in every plugin's health snapshot (issue 28, a seeds' gap): how
long its current activation has run, by the host's injectable wall clock."""

from __future__ import annotations

import time
from pathlib import Path

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from zepix_core.execution.ports import Clocks
from zepix_core.host.host import create_host


def test_uptime_seconds_is_the_age_of_the_activation(tmp_path: Path,
                                                      dists: DistFactory) -> None:
    dists.add("zx-calm", "1.0.0", {"calm": "zx_calm_mod:Plugin"}, {"zx_calm_mod": good_plugin()})
    path = tmp_path / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n" + "".join(
        f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED), encoding="utf-8")
    now = [time.time()]
    host = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)],
                       clocks=Clocks(wall=lambda: now[0]))
    try:
        host.start()
        started = now[0]
        now[0] += 90.0
        host.round()
        snap = host.store.latest_snapshot("calm")
        assert snap is not None and snap["uptime_seconds"] == 90.0
        now[0] += 30.0
        host.reload("calm", "operator restart (test)")  # a fresh activation starts at 0
        now[0] += 5.0
        host.round()
        snap = host.store.latest_snapshot("calm")
        assert snap is not None and snap["uptime_seconds"] == 5.0
        assert now[0] - started == 125.0
    finally:
        host.shutdown()
        host.store.close()
