"""Error severity and ``critical_errors`` (issue 28, a seeds' gap): an error of the
plugin's trading work (``on_bar``, ``on_fill``) is critical, one of a health hook is
not; the count in the health snapshot, ``zepix health --json``, ``/api/v1/health`` and
``/metrics`` equals the plugin's own count of the calls it failed."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from zepix_core import Fill
from zepix_core.api import start
from zepix_core.cli.main import main
from zepix_core.host.host import create_host
from zepix_core.testing import MarketReplay


def fumbler(log: Path) -> str:
    """Every third bar and every fill fail (each failure logged by the plugin itself);
    the first two bars that pass return an intent; get_metrics always raises."""
    source = good_plugin()
    source = source.replace('''    def on_bar(self, bar):
        self.bars += 1
        return None''', f'''    def on_bar(self, bar):
        self.bars += 1
        if self.bars % 3 == 0:
            with open({str(log)!r}, "a") as out:
                out.write("on_bar\\n")
            raise RuntimeError("bar " + str(self.bars))
        if self.bars <= 2:
            return [{{"symbol": bar.symbol, "side": "buy", "quantity": 1.0}}]
        return None''')
    source = source.replace('''    def on_fill(self, fill):
        self.fills = getattr(self, "fills", 0) + 1''', f'''    def on_fill(self, fill):
        with open({str(log)!r}, "a") as out:
            out.write("on_fill\\n")
        raise ValueError("no fills today")''')
    return source.replace('''    def get_metrics(self):
        return''', '''    def get_metrics(self):
        raise KeyError("metrics")
        return''')


def test_critical_errors_are_those_of_the_trading_work(zepix_home: Path,
                                                       dists: DistFactory) -> None:
    log = zepix_home / "failures.log"
    source = fumbler(log)
    assert source.count(str(log)) == 2 and "KeyError" in source  # the edits matched
    dists.add("zx-fumbler", "1.0.0", {"fumbler": "zx_fumbler_mod:Plugin"},
              {"zx_fumbler_mod": source})
    path = zepix_home / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n[supervision]\nbreaker_failures = 50\n"
                    + "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED),
                    encoding="utf-8")
    host = create_host(path, zepix_home / "zepix.db", paths=[str(dists.root)])
    server = None
    try:
        host.start()
        intents = []
        replay = MarketReplay(seed=3)
        for _ in range(6):
            for bar in replay.next_bars():
                intents += host.on_bar(bar)
        assert len(intents) == 2
        for intent in intents:
            host.report_fill(Fill(intent.id, 1.0, 100.0, intent.bar_time + 60))
        host.round()
        failed = log.read_text(encoding="utf-8").splitlines()
        assert failed.count("on_fill") == 2 and failed.count("on_bar") >= 2
        expected = len(failed)

        snap = host.store.latest_snapshot("fumbler")
        assert snap is not None and snap["critical_errors"] == expected
        errors = snap["hook_errors"]
        assert (errors["on_bar"]["severity"], errors["on_fill"]["severity"]) == (
            "critical", "critical")
        assert errors["on_bar"]["count"] == failed.count("on_bar")
        # a failed reading is an error, not a critical one, and not in the count
        assert errors["get_metrics"]["severity"] == "error"
        assert errors["get_metrics"]["count"] >= 1

        out = io.StringIO()
        with redirect_stdout(out):
            assert main(["health", "fumbler", "--json"]) == 0
        [row] = json.loads(out.getvalue())
        assert row["critical_errors"] == expected

        server = start(host, 30.0, home=zepix_home)
        assert server is not None
        with httpx.Client(base_url=server.url, timeout=30) as http:
            api = http.get("/api/v1/health/fumbler").json()
            text = http.get("/metrics").text
        assert api["critical_errors"] == expected
        scraped = [s.value for family in text_string_to_metric_families(text)
                   for s in family.samples
                   if s.name == "zepix_plugin_critical_errors_total"
                   and s.labels == {"plugin": "fumbler"}]
        assert scraped == [expected]
    finally:
        if server is not None:
            server.stop()
        host.shutdown()
        host.store.close()
