"""What docs/hardening.md says the host cannot contain, shown as it is: ``os._exit``
in an in-process plugin ends ``zepix run`` at once (no clean stop), the next start
records the crash; the same plugin under ``isolation = "process"`` only ends its
worker, which is restarted while ``zepix run`` goes on ("Faults the host cannot
contain", and the advice given there).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psutil

from tests.distfactory import DistFactory, plugin_with
from tests.livehost import BUNDLED
from tests.runproc import Running
from tests.waiting import wait_until

EXITER = plugin_with(header="import os\n", on_bar="""
    if os.path.exists(self.config["flag"]):
        os._exit(7)
    return None
""")


def _config(home: Path, flag: Path, isolation: str) -> None:
    (home / "zepix.toml").write_text(
        "[host]\ninterval = 1\nwarmup_bars = 0\n"
        + "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)
        + f'[plugins.exiter]\nflag = "{flag}"\nisolation = "{isolation}"\n'
        "restart_backoff = 0.2\n", encoding="utf-8")


def _closed_reasons(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "zepix.db")
    try:
        return [r for (r,) in conn.execute(
            "SELECT deactivation_reason FROM activations WHERE plugin_id = 'exiter' "
            "AND deactivation_reason IS NOT NULL")]
    finally:
        conn.close()


def test_os_exit_in_process_ends_zepix_run_and_the_next_start_records_a_crash(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-exiter", "1.0.0", {"exiter": "exiter_mod:Plugin"}, {"exiter_mod": EXITER})
    flag = tmp_path / "exit-now"
    _config(tmp_path, flag, "inprocess")
    env = {"PYTHONPATH": str(dists.root)}
    run = Running(tmp_path, env=env)
    try:
        run.wait_rounds(1)
        flag.touch()
        code = run.proc.wait(120)
    finally:
        if run.proc.poll() is None:
            run.kill()
    assert code == 7, run.tail()  # the plugin's status, not the host's
    assert "shut down cleanly" not in run.out, run.tail()
    flag.unlink()
    again = Running(tmp_path, env=env)
    try:
        again.wait_rounds(1)
    finally:
        assert again.stop() == 0, again.tail()
    assert any(r.startswith(f"crash: host pid {run.pid} ended without shutting down")
               for r in _closed_reasons(tmp_path)), _closed_reasons(tmp_path)


def test_os_exit_in_a_worker_ends_only_the_worker_which_is_restarted(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-exiter", "1.0.0", {"exiter": "exiter_mod:Plugin"}, {"exiter_mod": EXITER})
    flag = tmp_path / "exit-now"
    _config(tmp_path, flag, "process")
    run = Running(tmp_path, env={"PYTHONPATH": str(dists.root)})

    def worker() -> int | None:
        for child in psutil.Process(run.pid).children(recursive=True):
            try:
                if "exiter" in " ".join(child.cmdline()):
                    return child.pid
            except psutil.Error:
                continue
        return None
    try:
        run.wait_rounds(1)
        first = wait_until(worker, timeout=120, step=0.1)
        flag.touch()
        wait_until(lambda: not psutil.pid_exists(first) or
                   psutil.Process(first).status() == psutil.STATUS_ZOMBIE, timeout=120)
        flag.unlink()
        second = wait_until(lambda: (w := worker()) not in (None, first) and w, timeout=120,
                            step=0.1)
        run.wait_rounds(2)  # the host never stopped
    finally:
        code = run.stop()
    assert code == 0 and "shut down cleanly" in run.out, run.tail()
    assert second != first
