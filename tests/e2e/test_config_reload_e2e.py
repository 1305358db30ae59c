"""Config hot-reload against a real ``zepix run`` subprocess over the bundled plugins.

The Done-when of issue 15: disabling ``price_action_1m`` in the file deactivates it
alone, a typo is refused with file, line and key while the host goes on, and
``zepix config set plugins.combined_v3.risk_per_trade 0.02`` reaches ``combined_v3``
through ``config_changed`` without a restart; ``zepix config history`` tells all of it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.livehost import BUNDLED, wait_until
from tests.venvs import clean_env, one_json

CONFIG = """\
# the operator's own notes
[host]
interval = 1

[plugins.combined_v3]
risk_per_trade = 0.01
"""


def zepix(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args],
                          env=clean_env(home), capture_output=True, text=True, timeout=120,
                          check=False)


def listing(home: Path, *args: str) -> Any:
    """A listing read from the database; ``--config`` elsewhere, as the file may be broken."""
    done = zepix(home, *args, "--json", "--config", str(home / "absent.toml"))
    assert done.returncode == 0, done.stderr
    return one_json(done.stdout)


def states(home: Path) -> dict[str, str]:
    """ACTIVE or INACTIVE per plugin, from the running host's activation history."""
    newest: dict[str, dict[str, Any]] = {}
    for row in listing(home, "history"):  # newest first
        newest.setdefault(row["plugin_id"], row)
    return {pid: "INACTIVE" if row["deactivated_at"] else "ACTIVE"
            for pid, row in newest.items()}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    (tmp_path / "zepix.toml").write_text(CONFIG, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", "run"],
                            env=clean_env(tmp_path, ZEPIX_HTTP_LISTEN="127.0.0.1:0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: proc.poll() is None and all(
            states(tmp_path).get(pid) == "ACTIVE" for pid in BUNDLED), timeout=120, step=0.5)
        yield tmp_path, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def history(home: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = listing(home, "config", "history")
    return rows


def activations(home: Path, plugin_id: str) -> int:
    return len(listing(home, "history", plugin_id))


@pytest.mark.slow
def test_a_running_host_applies_edits_alone_and_refuses_typos(
        running: tuple[Path, subprocess.Popen[str]]) -> None:
    home, proc = running
    path = home / "zepix.toml"
    combined = activations(home, "combined_v3")

    path.write_text(CONFIG + "\n[plugins.price_action_1m]\nenabled = false\n", encoding="utf-8")
    wait_until(lambda: states(home)["price_action_1m"] == "INACTIVE", timeout=30, step=0.2)
    assert all(states(home)[pid] == "ACTIVE" for pid in BUNDLED if pid != "price_action_1m")

    typo = CONFIG.replace("interval = 1", "inteval = 1")
    path.write_text(typo, encoding="utf-8")
    rejected = wait_until(lambda: [r for r in history(home) if r["status"] == "rejected"],
                          timeout=30, step=0.2)[0]
    assert rejected["key"] == "host.inteval" and rejected["by"] == "file"
    assert f"{path}:3" in rejected["reason"]  # file and line
    alerts = listing(home, "alerts")
    assert any(a["level"] == "WARNING" and "host.inteval" in a["message"]
               and not a["resolved"] for a in alerts)
    assert proc.poll() is None
    assert states(home)["price_action_1m"] == "INACTIVE"  # the old config stays

    path.write_text(CONFIG, encoding="utf-8")  # fixed, and price_action_1m back on
    wait_until(lambda: states(home)["price_action_1m"] == "ACTIVE", timeout=30, step=0.2)
    wait_until(lambda: all(a["resolved"] for a in listing(home, "alerts")
                           if "host.inteval" in a["message"]), timeout=30, step=0.2)

    done = zepix(home, "config", "set", "plugins.combined_v3.risk_per_trade", "0.02")
    assert done.returncode == 0, done.stderr
    assert "# the operator's own notes" in path.read_text(encoding="utf-8")
    live = wait_until(lambda: [r for r in history(home) if r["by"] == "file" and
                               r["key"] == "plugins.combined_v3.risk_per_trade"],
                      timeout=30, step=0.2)[0]
    assert (live["old"], live["new"], live["status"]) == (0.01, 0.02, "applied")
    assert "config_changed" in live["reason"]
    assert activations(home, "combined_v3") == combined  # no restart

    proc.send_signal(signal.SIGHUP)  # forces a check; never ends the host
    reload = zepix(home, "config", "reload", "--json")
    assert reload.returncode == 0, reload.stderr
    assert one_json(reload.stdout)["outcome"] == "no change"
    assert proc.poll() is None

    keys = [(r["key"], r["status"], r["by"]) for r in history(home)]
    assert ("plugins.price_action_1m.enabled", "applied", "file") in keys
    assert ("host.inteval", "rejected", "file") in keys
    assert ("plugins.combined_v3.risk_per_trade", "applied", "cli") in keys
