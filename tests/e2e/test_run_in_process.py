"""``zepix run`` called as ``main()`` inside another process (a test, a bot) ends its
run and leaves that process as it found it: no shutdown deadline armed to end the
caller later with ``os._exit``, its signal handlers back, its own children alive."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.waiting import wait_until
from zepix_core.cli.main import main


def test_run_in_process_leaves_no_deadline_and_spares_the_callers_children(
        zepix_home: Path) -> None:
    (zepix_home / "zepix.toml").write_text("[host]\nwarmup_bars = 5\nbars_per_round = 1\n"
                                           "shutdown_timeout = 2\n", encoding="utf-8")
    caller_child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        assert main(["run", "--once"]) == 0
        # The deadline thread ends as soon as the command returned in time, so the
        # caller is not ended 2 s later (it used to be: os._exit(1) from that thread).
        wait_until(lambda: not any(t.name == "zepix-deadline" and t.is_alive()
                                   for t in threading.enumerate()))
        assert {s: signal.getsignal(s) for s in handlers} == handlers
        assert caller_child.poll() is None, "the host ended a process its caller started"
    finally:
        caller_child.kill()
        caller_child.wait(30)
