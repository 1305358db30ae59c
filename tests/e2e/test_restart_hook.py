"""``plugin_restarted`` (issue 28, the seeds' restart callback): a plugin restarted by
the host learns it, and why; one without the hook restarts as before, and one whose
hook raises has it counted as an error and stays active."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from tests.waiting import wait_until
from zepix_core import PluginState
from zepix_core.execution.worker import ProcessRunner
from zepix_core.host.host import create_host
from zepix_core.supervision.requests import request_restart

OFF = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)


def noting(log: Path, body: str = "") -> str:
    """The good plugin, with a ``plugin_restarted`` that appends what it was told."""
    return good_plugin() + f'''
    @hookimpl
    def plugin_restarted(self, reason, restarts):
        import json, os
        with open({str(log)!r}, "a") as out:
            out.write(json.dumps({{"reason": reason, "restarts": restarts,
                                   "pid": os.getpid(), "active": self.active}}) + "\\n")
        {body or "return None"}
'''


def notices(log: Path) -> list[dict[str, object]]:
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_a_crashed_worker_and_an_operator_restart_are_told(tmp_path: Path,
                                                           dists: DistFactory) -> None:
    log = tmp_path / "notices.jsonl"
    dists.add("zx-phoenix", "1.0.0", {"phoenix": "zx_phoenix_mod:Plugin"},
              {"zx_phoenix_mod": noting(log)})
    path = tmp_path / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n[plugins.phoenix]\nisolation = \"process\"\n"
                    "restart_backoff = 0.1\nrestart_jitter = 0\n" + OFF, encoding="utf-8")
    host = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)])
    thread = threading.Thread(target=host.run, kwargs={"interval": 0.3}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: host.monitor.rounds >= 1, timeout=60)
        assert notices(log) == []  # the first activation is no restart
        first = host.slots["phoenix"].runner
        assert isinstance(first, ProcessRunner) and first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        [told] = wait_until(lambda: notices(log), timeout=60)
        slot = host.slots["phoenix"]
        assert isinstance(slot.runner, ProcessRunner)
        assert told["pid"] == slot.runner.pid != first.pid  # the fresh worker heard it
        assert told["restarts"] == 1 and told["active"] is True  # after activate
        reason = str(told["reason"])
        assert reason.startswith("restart 1 of") and "SIGKILL" in reason, reason
        # the same words as the activation history
        assert host.store.history("phoenix", 1)[0]["activation_reason"] == reason

        request_restart(host.store, "phoenix", "cli:alice", time.time(), host_running=True)
        wait_until(lambda: len(notices(log)) == 2, timeout=60)
        second = notices(log)[1]
        assert second["restarts"] == 2
        assert "operator restart" in str(second["reason"]) and "cli:alice" in str(
            second["reason"])
        assert host.slots["phoenix"].state is PluginState.ACTIVE
    finally:
        host.clocks.stop.set()
        thread.join(30)
        host.store.close()
    assert not thread.is_alive()


def test_without_the_hook_or_with_a_raising_one_the_plugin_goes_on(
        tmp_path: Path, dists: DistFactory) -> None:
    log = tmp_path / "notices.jsonl"
    dists.add("zx-plain", "1.0.0", {"plain": "zx_plain_mod:Plugin"},
              {"zx_plain_mod": good_plugin()})
    dists.add("zx-grumpy", "1.0.0", {"grumpy": "zx_grumpy_mod:Plugin"},
              {"zx_grumpy_mod": noting(log, 'raise RuntimeError("not again")')})
    path = tmp_path / "zepix.toml"
    path.write_text("[host]\nwarmup_bars = 0\n" + OFF, encoding="utf-8")
    host = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)])
    try:
        host.start()
        for pid in ("plain", "grumpy"):
            assert host.reload(pid, "operator restart (test)").state is PluginState.ACTIVE
        assert [n["reason"] for n in notices(log)] == ["operator restart (test)"]
        host.round()
        plain, grumpy = (host.store.latest_snapshot(p) for p in ("plain", "grumpy"))
        assert plain is not None and grumpy is not None
        assert "plugin_restarted" not in plain["hook_errors"]
        error = grumpy["hook_errors"]["plugin_restarted"]
        assert error["exceptions"] == 1 and "not again" in error["last_message"]
        assert error["severity"] == "error" and grumpy["critical_errors"] == 0
        assert grumpy["status"] == "HEALTHY"
    finally:
        host.shutdown()
        host.store.close()
