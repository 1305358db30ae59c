"""``zepix dev PATH``: an editable install in a scratch prefix, conformance and a short
backtest per cycle, a new cycle on every save, and what changed in a few lines."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import pytest

from zepix_core.app.dev import changes
from zepix_core.cli.main import main


def project(tmp_path: Path) -> Path:
    assert main(["new-plugin", "dev-strat", "--dir", str(tmp_path)]) == 0
    return tmp_path / "dev-strat"


def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    return {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"),
            "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}


def test_one_cycle_checks_and_backtests_without_touching_the_environment(
        tmp_path: Path) -> None:
    root = project(tmp_path)
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "dev", str(root),
                           "--once", "--json"], env=env(tmp_path), capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["plugins"] == ["dev_strat"]
    assert document["checks"]["dev_strat:public_api"] == "passed"
    assert all(v in ("passed", "skipped") for v in document["checks"].values())
    figures = document["backtest"]["dev_strat"]
    assert figures["trades"] > 0 and figures["errors"] == 0
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("dev-strat")  # installed into the scratch prefix only


def test_changes_are_a_few_lines() -> None:
    first = {"checks": {"p:on_bar": "passed", "p:lifecycle": "passed"},
             "backtest": {"p": {"trades": 4, "total_return_pct": 1.5, "errors": 0,
                                "ruined": False, "first_error": None}}}
    assert changes(None, first) == ["conformance: 2/2 checks pass",
                                    "backtest p: 4 trades, return 1.50%, 0 errors"]
    assert changes(first, first) == ["no change"]
    broken = {"checks": {"p:on_bar": "failed: on_bar: boom", "p:lifecycle": "passed"},
              "backtest": {"p": {"trades": 0, "total_return_pct": 0.0, "errors": 9,
                                 "ruined": False, "first_error": "plugin p: on_bar: boom"}}}
    assert changes(first, broken) == [
        "conformance: 1/2 checks pass", "  p:on_bar: failed: on_bar: boom",
        "backtest p: 0 trades, return 0.00%, 9 errors (was 4 trades, 1.50%, 0 errors)",
        "  first error: plugin p: on_bar: boom"]
    assert changes(broken, first)[:2] == ["conformance: 2/2 checks pass", "  p:on_bar: fixed"]


@pytest.mark.slow
def test_a_save_reruns_the_cycle_and_says_what_changed(tmp_path: Path) -> None:
    root = project(tmp_path)
    child = subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", "dev", str(root)],
                             env=env(tmp_path), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in child.stdout or ()],
                     daemon=True).start()

    def until(text: str, seen: list[str]) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert child.poll() is None, "\n".join(seen)
                continue
            seen.append(line.rstrip("\n"))
            if text in line:
                return
        raise AssertionError(f"no {text!r} in:\n" + "\n".join(seen))

    try:
        first: list[str] = []
        until("watching for changes", first)
        assert any(x.startswith("conformance: ") and "checks pass" in x for x in first)
        plugin = root / "dev_strat" / "plugin.py"
        text = plugin.read_text()
        marker = '        self._counts["bars_received"] += 1\n'
        assert marker in text
        broken = text.replace(marker, marker + '        raise ValueError("oops")\n')
        saved = threading.Event()

        def save() -> None:  # again until seen: the watcher may start after the first
            while not saved.is_set():
                plugin.write_text(broken)
                saved.wait(3)

        threading.Thread(target=save, daemon=True).start()
        second: list[str] = []
        try:
            until("changed: ", second)
        finally:
            saved.set()
        until("watching for changes", second)
        assert any(x.startswith("changed: ") and "plugin.py" in x for x in second), second
        assert any(x.startswith("  dev_strat:on_bar: failed") for x in second), second
        assert any("first error: plugin dev_strat: on_bar: ValueError: oops (at " in x
                   and "plugin.py:" in x for x in second), second
    finally:
        os.killpg(child.pid, signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
