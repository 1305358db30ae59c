"""An embedded host's ``close()`` returns within ``[host] shutdown_timeout`` (contract
section 14), whatever its plugins' deactivate hooks take."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from tests.distfactory import good_plugin
from zepix_core.app.embedded import EmbeddedHost
from zepix_core.host.host import create_host

SLOW = good_plugin() + '''

class Slow(Plugin):
    @hookimpl
    def deactivate(self, reason):
        import time
        time.sleep(4)  # within its 5 s deadline
'''


def test_close_returns_at_the_shutdown_timeout(tmp_path: Path, dists: object,
                                               caplog: pytest.LogCaptureFixture) -> None:
    for name in ("slow_a", "slow_b"):
        dists.add(f"zepix-{name}", "1.0.0", {name: f"{name}_mod:Slow"},  # type: ignore[attr-defined]
                  {f"{name}_mod": SLOW})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\nshutdown_timeout = 1\n")
    paths = [str(dists.root)]  # type: ignore[attr-defined]
    embedded = EmbeddedHost.start(create_host(config, tmp_path / "z.db", paths=paths),
                                  services=False)
    assert {r["id"] for r in embedded.plugins()} == {"slow_a", "slow_b"}
    began = time.monotonic()
    with caplog.at_level(logging.CRITICAL, logger="zepix.app"):
        assert embedded.close() is None
    returned = time.monotonic() - began
    assert "host close took longer than [host] shutdown_timeout" in caplog.text
    # The two hooks alone take 8 s: close came back well before they ended.
    assert returned < 8
    for thread in threading.enumerate():  # the shutdown ends in the background
        if thread.name == "zepix-close":
            thread.join(60)
