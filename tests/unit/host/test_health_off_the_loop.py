"""Bars never wait on a health hook (issue 22, item 2): a round's plugin calls run with
the host's loop let go, while the host still never runs two hooks of one plugin at once.

Defect covered: a round held the loop lock that bars need while it waited on every
plugin's ``health_ping``, so one plugin whose ping hung stopped every bar to every
plugin until the ping's deadline (``on_bar`` of the bot blocked meanwhile).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import zepix_core
from tests.distfactory import DistFactory
from tests.waiting import wait_for
from zepix_core.storage import Store
from zepix_core.testing import make_bar

PLUGIN = '''
import threading
from zepix_core import hookimpl

#: The test arms the hang and lets the ping go; ``inside`` is set while it hangs.
ARMED, RELEASE, INSIDE = threading.Event(), threading.Event(), threading.Event()

class Plugin:
    def __init__(self):
        self.seen, self.overlaps, self.in_ping = [], 0, False

    @hookimpl
    def plugin_version(self):
        return "1.0.0"

    @hookimpl
    def health_ping(self, now):
        if HANGS and ARMED.is_set():
            self.in_ping = True
            INSIDE.set()
            RELEASE.wait(120)
            self.in_ping = False
        return {"ok": True, "last_activity": now}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": len(self.seen)}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def on_bar(self, bar):
        if self.in_ping:
            self.overlaps += 1
        self.seen.append(bar.ts)
        return [{"symbol": bar.symbol, "side": "buy", "quantity": 1.0, "reason": "every bar"}]
'''


def test_a_hung_health_ping_stops_no_bar_and_its_own_bars_wait_for_it(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-hang", "1.0.0", {"hang": "hang_mod:Plugin"},
              {"hang_mod": "HANGS = True\n" + PLUGIN})
    dists.add("zepix-calm", "1.0.0", {"calm": "calm_mod:Plugin"},
              {"calm_mod": "HANGS = False\n" + PLUGIN})
    config = tmp_path / "zepix.toml"
    # The hung ping is inside its deadline the whole time: the plugin is not HUNG.
    config.write_text("[host]\ninterval = 3600\nwarmup_bars = 0\n"
                      "[plugins.hang]\nping_timeout = 300\n", encoding="utf-8")
    with zepix_core.open_host(config, tmp_path / "z.db", paths=[str(dists.root)],
                              services=False) as host:
        hang_mod = sys.modules["hang_mod"]
        assert [p["state"] for p in host.plugins()] == ["ACTIVE", "ACTIVE"], [p.get("reason") for p in host.plugins()]
        hang = host.host.slots["hang"].runner.pm.get_plugin("hang")  # type: ignore[union-attr]
        calm = host.host.slots["calm"].runner.pm.get_plugin("calm")  # type: ignore[union-attr]
        hang_mod.ARMED.set()
        rounds = threading.Thread(target=host.round, name="test-round", daemon=True)
        rounds.start()
        try:
            assert hang_mod.INSIDE.wait(60), "the round never pinged the plugin"
            handed: list[zepix_core.Intent] = []
            fed = threading.Event()

            def feed() -> None:
                for i in range(1, 21):
                    handed.extend(host.on_bar(make_bar(100.0 + i, ts=60.0 * i)))
                fed.set()

            threading.Thread(target=feed, name="test-bot", daemon=True).start()
            # On the old main this waited for the hung ping (up to its 300 s deadline).
            assert wait_for(fed.is_set, timeout=60), "bars waited on a health_ping"
            assert hang_mod.INSIDE.is_set() and rounds.is_alive()  # still hanging
            assert calm.seen == [60.0 * i for i in range(1, 21)]  # every bar, in order
            assert [i.plugin_id for i in handed] == ["calm"] * 20
            assert hang.seen == []  # never beside its own ping: its bars wait for it
        finally:
            hang_mod.RELEASE.set()
        rounds.join(60)
        assert not rounds.is_alive()
        # The ping answered in time: the next bar brings the kept ones first, in order.
        late = host.on_bar(make_bar(130.0, ts=60.0 * 21))
        assert hang.seen == [60.0 * i for i in range(1, 22)]
        assert hang.overlaps == 0 and calm.overlaps == 0
        assert sorted(i.bar_time for i in late if i.plugin_id == "hang") == [
            60.0 * i for i in range(1, 22)]
        assert [i.plugin_id for i in late].count("calm") == 1
        [snap] = [s for s in host.health() if s["plugin_id"] == "hang"]
        assert snap["status"] == "HEALTHY" and snap["ping_misses"] == 0
        inner = host.host
    # Every bar counted once: fed 21, offered 21 to each plugin, none dropped.
    store = Store(tmp_path / "z.db")
    try:
        counts = {(r["plugin_id"], r["kind"], r["detail"]): r["bars"]
                  for r in store.bar_counts(inner.host_id)}
    finally:
        store.close()
    assert counts == {("", "fed", "1m"): 21, ("calm", "offered", ""): 21,
                      ("hang", "offered", ""): 21}
