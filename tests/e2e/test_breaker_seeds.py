"""The seeds' circuit breaker on a real host (issue 28 item 6): the success threshold
(``breaker_successes``: trial calls that close a HALF_OPEN breaker) counted on real
``on_bar`` calls, and the last failure's time in the breaker details of
``/api/v1/breakers/{id}`` and its seed alias ``/admin/system/circuit-breakers/{id}``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from zepix_core.api import start
from zepix_core.host.host import create_host
from zepix_core.testing import MarketReplay

# Its first two bars raise; every bar after that is fine.
SHAKY = good_plugin().replace('''    def on_bar(self, bar):
        self.bars += 1''', '''    def on_bar(self, bar):
        self.bars += 1
        if self.bars <= 2:
            raise RuntimeError("not yet")''')


def test_three_trial_successes_close_it_and_the_last_failure_is_dated(
        zepix_home: Path, dists: DistFactory) -> None:
    assert "not yet" in SHAKY
    dists.add("zx-shaky", "1.0.0", {"shaky": "zx_shaky_mod:Plugin"}, {"zx_shaky_mod": SHAKY})
    path = zepix_home / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n[plugins.shaky]\nbreaker_failures = 2\n"
                    "breaker_open_for = 0\nbreaker_successes = 3\n"
                    + "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED),
                    encoding="utf-8")
    host = create_host(path, zepix_home / "zepix.db", paths=[str(dists.root)])
    server = None
    try:
        host.start()
        bars = [b for _ in range(3) for b in MarketReplay(seed=5).next_bars()]
        states = []
        before = time.time()
        for bar in bars[:2]:
            host.on_bar(bar)
        after = time.time()
        for bar in bars[2:5]:
            host.on_bar(bar)
            states.append(host.supervisor.breaker_state("shaky").value)
        # trials 1 and 2 leave it HALF_OPEN, the 3rd closes it
        assert states == ["HALF_OPEN", "HALF_OPEN", "CLOSED"]
        # OPEN after 2 failures, HALF_OPEN at once (open_for = 0), CLOSED after 3 trials
        moves = [e["detail"].split(":")[0] for e in reversed(host.store.events("shaky"))
                 if e["kind"] == "breaker"]
        assert moves == ["CLOSED -> OPEN", "OPEN -> HALF_OPEN", "HALF_OPEN -> CLOSED"]

        server = start(host, 30.0, home=zepix_home)
        assert server is not None
        with httpx.Client(base_url=server.url, timeout=30) as http:
            api = http.get("/api/v1/breakers/shaky").json()
            seed = http.get("/admin/system/circuit-breakers/shaky").json()
        assert api == seed and api["state"] == "CLOSED"
        assert before <= api["last_failure_at"] <= after
    finally:
        if server is not None:
            server.stop()
        host.shutdown()
        host.store.close()
