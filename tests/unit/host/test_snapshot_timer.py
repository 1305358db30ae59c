"""The monitor's retention prune (old snapshots, resolved alerts) rides on the host's
one scheduler: the ``snapshots`` timer of ``Loop.timers``, due at the first round and
then hourly; moving that timer is what makes the next round prune."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.health.monitor import PRUNE_EVERY
from zepix_core.host.host import Host, create_host

OLD = 400 * 86_400.0  # far past the default 30 retention days


@pytest.fixture
def host(dists: DistFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.delenv("ZEPIX_HTTP_LISTEN", raising=False)
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    path = tmp_path / "zepix.toml"
    path.write_text('[host]\ninterval = 30\n\n[http]\nlisten = ""\n', encoding="utf-8")
    made = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)])
    made.start()
    yield made
    made.shutdown()
    made.store.close()


def old_rows(host: Host) -> int:
    cutoff = time.time() - OLD / 2
    return len([s for s in host.store.snapshots("good") if float(s["ts"]) < cutoff])


def test_the_snapshot_prune_is_the_schedulers_timer(host: Host) -> None:
    timer = host.loop.timers["snapshots"]
    host.store.save_snapshots(time.time() - OLD, [{"plugin_id": "good", "status": "HEALTHY"}])
    assert old_rows(host) == 1
    host.round()  # due at the first round
    assert old_rows(host) == 0
    assert timer.next >= host.clocks.monotonic() + PRUNE_EVERY - 60  # then in an hour
    host.store.save_snapshots(time.time() - OLD, [{"plugin_id": "good", "status": "HEALTHY"}])
    host.round()
    assert old_rows(host) == 1  # not due: kept
    timer.next = host.clocks.monotonic()  # the scheduler says it is due
    host.round()
    assert old_rows(host) == 0
