"""``[supervision] restart_on_stale`` (issue 28, the seeds' "no heartbeat > 5 min ->
restart"): a plugin STALE past the limit is stopped and restarted; unset, it is not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from tests.waiting import wait_until
from zepix_core.execution.ports import Clocks
from zepix_core.host.host import create_host

# It gets no bars here and says its last activity was an hour ago: STALE.
SLEEPY = good_plugin().replace('return {"ok": True, "last_activity": now}',
                               'return {"ok": True, "last_activity": now - 3600}')


@pytest.mark.parametrize("limit", [None, 0.2])
def test_a_stale_plugin_is_restarted_only_when_asked(tmp_path: Path, dists: DistFactory,
                                                     limit: float | None) -> None:
    assert SLEEPY != good_plugin()  # the replacement matched
    dists.add("zx-sleepy", "1.0.0", {"sleepy": "zx_sleepy_mod:Plugin"}, {"zx_sleepy_mod": SLEEPY})
    path = tmp_path / "zepix.toml"
    option = "" if limit is None else f"restart_on_stale = {limit}\n"
    path.write_text("[host]\nwarmup_bars = 0\n[thresholds]\nheartbeat_s = 60\n"
                    f"[supervision]\nrestart_backoff = 0.01\nrestart_jitter = 0\n{option}"
                    + "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED),
                    encoding="utf-8")
    wall, ahead = [time.time()], [0.0]  # monotonic time runs, and jumps when told
    host = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)],
                       clocks=Clocks(wall=lambda: wall[0],
                                     monotonic=lambda: time.monotonic() + ahead[0]))
    try:
        host.start()
        wall[0] += 120.0
        host.round()
        assert host.store.latest_snapshot("sleepy")["status"] == "STALE"  # type: ignore[index]
        ahead[0] += 0.3  # STALE for longer than the 0.2 s limit
        host.round()
        if limit is None:
            host.round()
            assert [e for e in host.store.events("sleepy") if e["kind"] == "stale"] == []
            return
        [event] = [e for e in host.store.events("sleepy") if e["kind"] == "stale"]
        assert "STALE for" in event["detail"] and "no activity" in event["detail"]
        wait_until(lambda: host.round() and any(
            e["kind"] == "restart" for e in host.store.events("sleepy")), timeout=30)
    finally:
        host.shutdown()
        host.store.close()
