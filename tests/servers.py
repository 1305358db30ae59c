"""Real Prometheus and Alertmanager servers (Debian packages) on free loopback ports,
each under a temporary directory, started and stopped by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.livehost import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(f"none of {names} is installed: run scripts/test, which installs "
                         "the Debian packages the tests need")


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def server(args: list[str], ready: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: _ready(ready) or proc.poll() is not None, timeout=60)
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextmanager
def alertmanager(root: Path) -> Iterator[str]:
    """A real Alertmanager; yields its base URL."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "alertmanager.yml"
    config.write_text("route:\n  receiver: blackhole\n  group_wait: 1s\n"
                      "receivers:\n  - name: blackhole\n", encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    args = [binary("prometheus-alertmanager", "alertmanager"), f"--config.file={config}",
            f"--storage.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address="]
    with server(args, f"{url}/-/ready", root / "alertmanager.log"):
        yield url


@contextmanager
def prometheus(root: Path, target: str, token: str | None = None) -> Iterator[str]:
    """A real Prometheus scraping ``target`` (host:port) every second; yields its URL."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    auth = f"    authorization:\n      credentials: {token}\n" if token else ""
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                      "scrape_configs:\n  - job_name: zepix\n" + auth +
                      f"    static_configs:\n      - targets: ['{target}']\n", encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    args = [binary("prometheus"), f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
    with server(args, f"{url}/-/ready", root / "prometheus.log"):
        yield url
