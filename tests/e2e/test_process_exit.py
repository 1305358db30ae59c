"""``zepix run`` ends, whatever its plugins leave behind: ignored signals, ``atexit``
handlers that sleep, non-daemon threads (named like the host's), a crashed run loop.
Each case is a real process with a hostile plugin distribution on ``PYTHONPATH``."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.distfactory import DistFactory
from tests.hostileproc import command, env, hostile, start, zepix
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

FOREVER = '''
import threading, time
threading.Thread(target=time.sleep, args=(3600,), name="zepix-rounds-2").start()
'''


def ended(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_a_plugin_that_ignores_sigterm_and_sigint_at_import_cannot_keep_run_alive(
        tmp_path: Path) -> None:
    root, home = tmp_path / "dists", tmp_path / "home"
    hostile(root, "deaf", "", prelude="import signal\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n")
    for sig in (signal.SIGTERM, signal.SIGINT):
        out = tmp_path / f"out-{sig.name}"
        with out.open("w") as stdout:
            proc = subprocess.Popen(command("run", "--interval", "0.5"), env=env(home, root),
                                    stdout=stdout, stderr=subprocess.PIPE, text=True)
            wait_until(lambda: "round " in out.read_text(), timeout=60)  # noqa: B023
            proc.send_signal(sig)
            code, _, err = ended(proc, 30)
        assert code == 0, (sig, err)
        assert "shut down cleanly" in out.read_text(), sig


def test_signals_ignored_later_off_the_main_thread_are_taken_back(tmp_path: Path) -> None:
    """Code a plugin runs after start (a hook, or a reload's import on the round thread)
    can set SIG_IGN through libc, below Python: ``run`` re-installs between batches."""
    root, home = tmp_path / "dists", tmp_path / "home"
    hostile(root, "latedeaf", """
    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        libc = ctypes.CDLL(None)
        libc.signal(signal.SIGTERM, ctypes.c_void_p(1))  # SIG_IGN
        libc.signal(signal.SIGINT, ctypes.c_void_p(1))
        return None
""", prelude="import ctypes, signal")
    out = tmp_path / "out"
    with out.open("w") as stdout:
        proc = subprocess.Popen(command("run", "--interval", "0.5"), env=env(home, root),
                                stdout=stdout, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: "round 2" in out.read_text(), timeout=60)
        proc.send_signal(signal.SIGTERM)
        code, _, err = ended(proc, 30)
    assert code == 0, err
    assert "shut down cleanly" in out.read_text()


def test_atexit_handlers_and_threads_a_plugin_leaves_do_not_hold_the_process(
        tmp_path: Path) -> None:
    root, home = tmp_path / "dists", tmp_path / "home"
    hostile(root, "clingy", "", prelude="import atexit, time\n"
            "atexit.register(time.sleep, 3600)\n" + FOREVER)
    began = time.monotonic()
    done = zepix(home, root, "run", "--once", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "shut down cleanly" in done.stdout
    assert time.monotonic() - began < 60
    # The plugin's thread is named like the host's; it is still reported as stray.
    assert "exiting past threads plugins left running" in done.stderr
    assert "zepix-rounds-2" in done.stderr


SOURCE = '''
import threading, time

class Crashing:
    def __init__(self, options):
        threading.Thread(target=time.sleep, args=(3600,), name="zepix-feed").start()

    def batches(self, stop):
        raise RuntimeError("the source broke")
        yield []
'''


def test_after_a_crash_of_the_run_loop_the_process_still_ends(tmp_path: Path) -> None:
    root, home = tmp_path / "dists", tmp_path / "home"
    DistFactory(root).add("zepix-crashing-source", "1.0.0", {"crashing": "rp_crash:Crashing"},
                          {"rp_crash": SOURCE}, group="zepix.sources")
    done = zepix(home, root, "run", "--source", "crashing", timeout=60)
    assert done.returncode == 1, done.stderr
    assert "the source broke" in done.stderr


@pytest.mark.parametrize("where", ["import", "construction"])
def test_keyboard_interrupt_from_a_plugin_is_that_plugin_failed_not_exit_130(
        tmp_path: Path, where: str) -> None:
    root, home = tmp_path / "dists", tmp_path / "home"
    if where == "import":
        hostile(root, "ctrlc", "", prelude="raise KeyboardInterrupt")
    else:
        hostile(root, "ctrlc", "    def __init__(self):\n        raise KeyboardInterrupt\n")
    hostile(root, "exits", "", prelude="raise SystemExit(0)")
    for args in (["plugins"], ["self-test"], ["run", "--once"]):
        done = zepix(home, root, *args)
        assert done.returncode in (0, 1), (args, done.returncode, done.stderr)
        assert "ctrlc" in done.stdout and "FAILED" in done.stdout, args
    listed = zepix(home, root, "plugins", "ctrlc")
    assert "KeyboardInterrupt" in listed.stdout, listed.stdout


def test_a_real_sigint_during_discovery_still_stops_the_command(tmp_path: Path) -> None:
    root, home = tmp_path / "dists", tmp_path / "home"
    hostile(root, "slowimport", "", prelude="import pathlib, time, os\n"
            f"pathlib.Path({str(tmp_path / 'importing')!r}).write_text(str(os.getpid()))\n"
            "time.sleep(30)\n")
    proc = start(home, root, "plugins")
    wait_until(lambda: (tmp_path / "importing").exists(), timeout=60)
    proc.send_signal(signal.SIGINT)
    code, _, err = ended(proc, 30)
    assert code == 130, err


def test_a_shutdown_slower_than_shutdown_timeout_ends_the_process_at_the_timeout(
        tmp_path: Path) -> None:
    root, home = tmp_path / "dists", tmp_path / "home"
    slow = ("    @hookimpl\n    def deactivate(self, reason):\n"
            "        import time\n        time.sleep(4)  # within its 5 s deadline\n")
    hostile(root, "slowstop_a", slow)
    hostile(root, "slowstop_b", slow)
    home.mkdir()
    (home / "zepix.toml").write_text("[host]\nshutdown_timeout = 2\n")
    done = zepix(home, root, "run", "--duration", "0", timeout=60)
    # Without the deadline both hooks run to the end (8 s) and the run exits 0.
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "zepix: shutdown took longer than [host] shutdown_timeout (2 s); exiting now")
