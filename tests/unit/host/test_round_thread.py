"""The round thread is supervised (issue 22, item 2): if it dies, it is started
again and a CRITICAL ``zepix:rounds`` alert says why; trading never stops silently.

Defect covered: an exception out of a round (as ``OSError: Too many open files``
from psutil was) ended the ``zepix-rounds`` thread, set the stop event and so
ended the whole host.
"""

from __future__ import annotations

from pathlib import Path

import zepix_core
from tests.distfactory import DistFactory, good_plugin
from tests.waiting import wait_until
from zepix_core.health.resources import ResourceSample, ResourceSampler
from zepix_core.testing import make_bar


def test_a_round_that_raises_is_restarted_and_alerted(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-alpha", "1.0.0", {"alpha": "alpha_mod:Plugin"},
              {"alpha_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\nwarmup_bars = 0\n", encoding="utf-8")
    with zepix_core.open_host(config, tmp_path / "z.db", paths=[str(dists.root)],
                              interval=0.2) as host:
        inner = host.host
        sampler: ResourceSampler = inner.monitor.sampler
        real = sampler.sample_host
        faults = [RuntimeError("injected: the round broke")]

        def broken() -> ResourceSample:
            if faults:
                raise faults.pop()
            return real()
        sampler.sample_host = broken  # type: ignore[method-assign]

        def rounds_alerts() -> list[dict[str, object]]:
            return [a for a in inner.store.alerts("zepix") if a["kind"] == "rounds"]
        fired = wait_until(rounds_alerts, timeout=60)[0]
        assert fired["level"] == "CRITICAL"
        assert "RuntimeError: injected: the round broke" in str(fired["message"])
        wait_until(lambda: rounds_alerts()[0]["resolved"], timeout=60)
        assert host.restarts == 1 and not host.stopping
        seen = inner.monitor.last_round
        wait_until(lambda: inner.monitor.last_round != seen, timeout=60)
        host.on_bar(make_bar(1.1, ts=60.0))
        assert inner.slots["alpha"].state.value == "ACTIVE"


def test_a_bare_host_run_goes_on_after_a_round_that_raises(
        dists: DistFactory, tmp_path: Path) -> None:
    """``Host.run`` (the seeded replay on the calling thread, as the author kit runs
    it) is supervised too: the round that raised is alerted, the next rounds run."""
    from zepix_core.host.host import create_host

    dists.add("zepix-alpha", "1.0.0", {"alpha": "alpha_mod:Plugin"},
              {"alpha_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\nwarmup_bars = 0\nbars_per_round = 1\n", encoding="utf-8")
    host = create_host(config, tmp_path / "z.db", paths=[str(dists.root)])
    real = host.monitor.sampler.sample_host
    faults = [RuntimeError("injected: the round broke")]

    def broken() -> ResourceSample:
        if faults:
            raise faults.pop()
        return real()
    host.monitor.sampler.sample_host = broken  # type: ignore[method-assign]
    summaries: list[str] = []

    def on_round(summary: str) -> None:
        summaries.append(summary)
        if len(summaries) == 2:
            host.clocks.stop.set()
    try:
        host.run(interval=0.05, duration=120, on_round=on_round)  # raised on the old main
        alerts = [a for a in host.store.alerts("zepix") if a["kind"] == "rounds"]
    finally:
        host.store.close()
    assert len(summaries) == 2 and host.loop.restarts == 1
    [alert] = alerts
    assert alert["level"] == "CRITICAL" and alert["resolved"]
    assert "RuntimeError: injected: the round broke" in str(alert["message"])
