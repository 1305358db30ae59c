"""Resource limits (issue 22, item 3): a real ``zepix run`` outlives a flood of idle
connections and an in-process plugin that leaks file handles.

Defects covered: about 1,100 idle, half-sent HTTP connections used up the default
1,024 open files; uvicorn logged megabytes of accept tracebacks, psutil's read of
``/proc`` raised ``OSError: Too many open files``, the round thread died and
``zepix run`` exited 1. A plugin leaking files did the same. The children here run
with a hard open-file limit of 1,024, so raising the soft limit cannot help: the
connection cap, the header timeout and the sample error must.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.runproc import Running, run_cli
from tests.waiting import wait_until
from zepix_core.api.limits import HEADER_TIMEOUT, MAX_CONNECTIONS

pytestmark = pytest.mark.slow

CONFIG = """
[host]
interval = 1
warmup_bars = 0
"""


def _limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-file limit in /proc")


def test_idle_half_sent_connections_neither_kill_nor_silence_zepix_run(
        tmp_path: Path) -> None:
    (tmp_path / "zepix.toml").write_text(CONFIG, encoding="utf-8")
    run = Running(tmp_path, "--interval", "1", nofile=(1024, 1024))
    flood: list[socket.socket] = []
    try:
        url = run.url()
        run.wait_rounds(1)
        port = int(url.rsplit(":", 1)[1])
        for _ in range(1100):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            flood.append(sock)
        connected(flood)  # handshakes complete; then half a request on each
        for sock in flood:
            try:
                sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                pass  # refused by the cap: the host gave the file back
        run.wait_rounds(3, timeout=120)
        assert _limits(run.pid)[0] == 1024
        # The cap held: at most MAX_CONNECTIONS of the flood are open in the host.
        fds = len(list(Path(f"/proc/{run.pid}/fd").iterdir()))
        assert fds < MAX_CONNECTIONS + 200, fds
        # Idle connections are closed after the header timeout; the API answers again.
        def answers() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=5).status_code in (200, 503)
            except httpx.HTTPError:
                return False
        wait_until(answers, timeout=HEADER_TIMEOUT * 6, step=0.5)
        run.wait_rounds(2)
    finally:
        for sock in flood:
            sock.close()
        code = run.stop()
    assert code == 0, run.tail()
    assert "shut down cleanly" in run.out, run.tail()
    assert "Traceback" not in "\n".join(run.err), run.tail()
    assert run.err_bytes < 200_000, run.err_bytes  # the server's error log is rate-limited


def test_the_soft_open_file_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    (tmp_path / "zepix.toml").write_text(CONFIG, encoding="utf-8")
    run = Running(tmp_path, "--interval", "1", nofile=(1024, 4096))
    try:
        run.wait_rounds(1)
        assert _limits(run.pid) == (4096, 4096)
    finally:
        assert run.stop() == 0, run.tail()


LEAKER = good_plugin().replace("    def on_bar(self, bar):\n", '''    def on_bar(self, bar):
        import os
        kept = globals().setdefault("KEPT", [])
        try:
            for _ in range(50):
                kept.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
''')


def test_an_in_process_plugin_leaking_files_does_not_kill_zepix_run(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-leaker", "1.0.0", {"leaker": "leaker_mod:Plugin"}, {"leaker_mod": LEAKER})
    (tmp_path / "zepix.toml").write_text(CONFIG, encoding="utf-8")
    run = Running(tmp_path, "--interval", "1", env={"PYTHONPATH": str(dists.root)},
                  nofile=(1024, 1024))
    try:
        run.wait_rounds(1)
        # The leak reaches the limit within a few rounds; the rounds go on past it.
        wait_until(lambda: len(list(Path(f"/proc/{run.pid}/fd").iterdir())) >= 1000,
                   timeout=120, step=0.5)
        run.wait_rounds(3)
    finally:
        code = run.stop()
    assert code == 0, run.tail()
    assert "shut down cleanly" in run.out, run.tail()
    done = run_cli(tmp_path, "alerts", "--json")
    assert done.returncode == 0, done.stderr
    alerts = [a for a in json.loads(done.stdout) if a["plugin_id"] == "zepix"
              and a["kind"] == "open_files"]
    assert alerts and alerts[0]["level"] == "WARNING", alerts


def connected(socks: list[socket.socket], timeout: float = 30.0) -> None:
    """Wait until every non-blocking connect has finished (writable), or ``timeout``."""
    with selectors.DefaultSelector() as waiting:  # epoll: more than select's 1,024 fds
        for sock in socks:
            waiting.register(sock, selectors.EVENT_WRITE)
        deadline = time.monotonic() + timeout
        while waiting.get_map() and time.monotonic() < deadline:
            for key, _ in waiting.select(timeout=1.0):
                waiting.unregister(key.fileobj)
