"""Issue 10's "Done when": hostile plugins pip-installed beside the bundled ones.

``tests/fixtures_pkgs/hostile`` (``zepix-hostile``) is a real distribution written
against the plugin contract only; its README lists what each plugin does. It is
built into the session's wheelhouse and pip-installed with the bundled packages
into a fresh virtual environment. Then, as an operator would:

- ``zepix run --duration 10`` exits 0 although a plugin leaves a non-daemon
  thread running and another's worker forges a 4 GiB frame;
- ``plugins``, ``health`` and ``self-test`` ``--json`` print one strict JSON
  document each, whatever the plugins print;
- the bundled plugins stay ACTIVE and HEALTHY;
- every hostile plugin has a state, or a snapshot, with a reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.venvs import BUNDLED, Venv, clean_env, make_venv, one_json

pytestmark = pytest.mark.slow

FIVE = ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m",
        "price_action_1h")

CONFIG = """
[host]
warmup_bars = 60

[plugins.hostile_frame]
isolation = "process"
max_restarts = 1
restart_backoff = 0.1
"""

#: plugin id -> (state in `zepix plugins`, words its reason or snapshot reasons hold)
EXPECTED = {
    "hostile_exit": ("FAILED", "SystemExit: 3"),
    "hostile_features": ("REJECTED", "features must be a list"),
    "hostile_keys": ("REJECTED", "unknown key"),
    "hostile_str": ("ACTIVE", "<str() of the exception raised>"),
    "hostile_millis": ("ACTIVE", "milliseconds"),
    "hostile_print": ("ACTIVE", "self test failed"),
    "hostile_thread": ("ACTIVE", "not a finite number"),
    "hostile_blowup": ("ACTIVE", "more than 20000 values"),
    "hostile_frame": ("FAILED", "a frame of 4294967295 bytes exceeds the limit"),
}


def strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name} in {text[:200]!r}")
    one_json(text)  # exactly one document, nothing else on stdout
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def hostile_venv(wheelhouse: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return make_venv(tmp_path_factory.mktemp("hostile") / "env", wheelhouse[0].parent,
                     (*BUNDLED, "zepix-hostile"))


def test_hostile_plugins_neither_end_nor_stall_nor_blind_the_host(
        hostile_venv: Venv, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "zepix.toml").write_text(CONFIG, encoding="utf-8")
    env = clean_env(home)

    done = hostile_venv.run("run", "--duration", "10", "--interval", "2", env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "shut down cleanly" in done.stdout
    assert "exiting past threads plugins left running" in done.stderr
    assert "lingering" in done.stderr and "zepix-spawner" not in done.stderr
    assert "zepix_hostile.answers imported" not in done.stdout  # plugin prints are logged

    listing = hostile_venv.run("plugins", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    plugins = {p["id"]: p for p in strict(listing.stdout)}
    health = hostile_venv.run("health", "--json", env=env)
    assert health.returncode == 0, health.stderr
    snapshots = {s["plugin_id"]: s for s in strict(health.stdout)}
    tests = hostile_venv.run("self-test", "--json", env=env, timeout=120)
    assert tests.returncode == 1, tests.stderr  # hostile self tests fail, and say so
    results = {t["plugin_id"]: t for t in strict(tests.stdout)}

    for pid in FIVE:
        assert plugins[pid]["state"] == "ACTIVE", plugins[pid]
        assert snapshots[pid]["status"] == "HEALTHY", snapshots[pid]
        assert results[pid]["passed"] is True
    for pid, (state, words) in EXPECTED.items():
        row = plugins[pid]
        assert row["state"] == state, row
        snap = snapshots.get(pid, {})
        told = " ".join([row["reason"] or "", *snap.get("reasons", [])])
        if state == "ACTIVE":
            assert snap["status"] != "HEALTHY" and snap["reasons"], snap
        assert words in told, f"{pid}: {words!r} not in {told!r}"
        assert results[pid]["detail"]
