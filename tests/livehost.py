"""A real host running its loop on a thread, with its HTTP API on a free loopback port.

Shared by the API, metrics, Alertmanager and dashboard tests. Plugins: the five
bundled ones (pip-installed), plus any written with ``dists``; ``hanger(flag)``
is a plugin whose ``health_ping`` blocks for as long as the file ``flag`` exists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.distfactory import DistFactory, good_plugin
from tests.waiting import wait_until
from zepix_core.api import ApiServer, start
from zepix_core.host.host import Host, create_host

BUNDLED = ("combined_v3", "price_action_15m", "price_action_1h", "price_action_1m",
           "price_action_5m")


def hanger(flag: Path) -> str:
    """The good plugin, but ``health_ping`` and ``on_bar`` block while ``flag`` exists."""
    block = (f"        import os, time\n        while os.path.exists({str(flag)!r}):\n"
             "            time.sleep(0.05)\n")
    source = good_plugin()
    for hook in ("    def health_ping(self, now):\n", "    def on_bar(self, bar):\n"):
        source = source.replace(hook, hook + block)
    return source


@dataclass
class Live:
    host: Host
    server: ApiServer
    home: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return (self.home / "api-token").read_text(encoding="utf-8").strip()

    def client(self, token: bool = False) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def live_host(home: Path, dists: DistFactory | None = None, config: str = "",
              interval: float = 0.5, plugins: dict[str, str] | None = None) -> Iterator[Live]:
    for pid, source in (plugins or {}).items():
        assert dists is not None
        dists.add(f"zepix-{pid}", "1.0.0", {pid: f"{pid}_mod:Plugin"}, {f"{pid}_mod": source})
    path = home / "zepix.toml"
    path.write_text(config, encoding="utf-8")
    host = create_host(path, home / "zepix.db")
    server = start(host, interval, home=home)
    assert server is not None
    thread = threading.Thread(target=host.run, kwargs={"interval": interval}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: host.monitor.last_round is not None, timeout=60)  # one round done
        yield Live(host, server, home)
    finally:
        host.clocks.stop.set()
        thread.join(30)
        server.stop()
        host.store.close()
    assert not thread.is_alive()
