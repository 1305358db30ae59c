"""The edges talk to a running host through one typed façade (issue 23 item 1):
``zepix_core.host.facade``, never a subsystem's attributes."""

from __future__ import annotations

import re
from pathlib import Path

import zepix_core
from tests.distfactory import DistFactory, good_plugin
from zepix_core.contract.model import AlertLevel
from zepix_core.host.facade import of

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
EDGES = ("api", "telegram", "cli", "app")
#: A subsystem reached through the host object: ``host.monitor.latest``, ``ctx.host.sync.start``.
DEEP = re.compile(r"\bhost\.(supervisor|monitor|reconfig|turns|versions|risk|sync|retrier|loop|outage|"
                  r"hooks|pipeline|feeding|activation|paused)\.")


def test_no_edge_reaches_into_a_subsystem_of_the_host() -> None:
    found = []
    for edge in EDGES:
        for path in sorted((ROOT / "zepix_core" / edge).rglob("*.py")):
            rel = path.relative_to(ROOT / "zepix_core").as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if DEEP.search(line) and not line.lstrip().startswith("#"):
                    found.append(f"{rel}:{number}: {line.strip()}")
    assert found == [], "use zepix_core.host.facade instead:\n" + "\n".join(found)


def test_the_facade_reads_and_acts_on_the_running_host(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-alpha", "1.0.0", {"alpha": "alpha_mod:Plugin"},
              {"alpha_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\ninterval = 3600\nwarmup_bars = 0\n", encoding="utf-8")
    with zepix_core.open_host(config, tmp_path / "z.db", paths=[str(dists.root)],
                              services=False) as embedded:
        host = of(embedded.host)
        embedded.round()
        assert [s.plugin_id for s in host.slots()] == ["alpha"]
        assert host.rounds() >= 1 and host.last_round() is not None
        assert host.latest_snapshots()["alpha"]["status"] == "HEALTHY"
        assert host.breaker_fields("alpha")["breaker"] == "CLOSED"
        assert not host.any_breaker_open()
        host.open_breaker("alpha", "tester")
        assert host.breaker_fields("alpha")["breaker"] == "OPEN"
        assert host.any_breaker_open()
        host.reset_breaker("alpha", "tester")
        assert host.breaker_fields("alpha")["breaker"] == "CLOSED"
        assert not host.any_breaker_open()
        host.raise_alert("facade_test", AlertLevel.WARNING, "raised through the facade")
        [alert] = [a for a in embedded.host.store.alerts("zepix")
                   if a["kind"] == "facade_test"]
        assert alert["message"] == "raised through the facade" and not alert["resolved"]
        with host.under_loop():
            records = host.persist_now()
        assert [r["plugin_id"] for r in records] == ["alpha"]
