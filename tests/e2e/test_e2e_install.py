"""End to end: pip-install the real packages into a fresh venv and drive the ``zepix`` command.

Nothing is imported from the repository here: every check goes through the
installed ``zepix`` executable in a subprocess, as an operator would use it.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.venvs import BUNDLED, Venv, clean_env, make_venv, one_json, wheel_versions

pytestmark = pytest.mark.slow

V3 = ("combined_v3",)
V6 = ("price_action_1m", "price_action_5m", "price_action_15m", "price_action_1h")
FIVE = (*V3, *V6)


def _expected_versions(wheelhouse: list[Path]) -> dict[str, str]:
    versions = wheel_versions(wheelhouse)
    return {**{pid: versions["zepix-combined-v3"] for pid in V3},
            **{pid: versions["zepix-price-action"] for pid in V6}}


def _json(env: Venv, home: Path, *args: str) -> object:
    done = env.run(*args, "--json", env=clean_env(home))
    assert done.returncode == 0, done.stderr
    return one_json(done.stdout)


def _utc(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    assert when.utcoffset() == timedelta(0), f"{text} is not UTC"
    return when


def test_installed_copies_win_over_the_outer_editable_ones(bundled_venv: Venv) -> None:
    probe = ("import importlib.metadata as m, zepix_core, zepix_combined_v3, zepix_price_action;"
             "print(zepix_core.__file__); print(zepix_combined_v3.__file__);"
             "print(zepix_price_action.__file__); print(m.distribution('zepix-core')._path)")
    done = subprocess.run([str(bundled_venv.python), "-c", probe], check=False, capture_output=True,
                          text=True, env=clean_env(bundled_venv.root),
                          cwd=bundled_venv.root, timeout=30)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.split():
        assert Path(line).is_relative_to(bundled_venv.root), line


def test_run_once_activates_the_five_bundled_plugins(
        bundled_venv: Venv, wheelhouse: list[Path], tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = bundled_venv.run("run", "--once", env=clean_env(home))
    assert done.returncode == 0, done.stderr
    assert "5 active" in done.stdout and "shut down cleanly" in done.stdout

    plugins = _json(bundled_venv, home, "plugins")
    assert isinstance(plugins, list)
    by_id = {p["id"]: p for p in plugins}
    for pid, version in _expected_versions(wheelhouse).items():
        assert (by_id[pid]["state"], by_id[pid]["version"]) == ("ACTIVE", version), by_id[pid]
        assert by_id[pid]["reason"] is None, by_id[pid]["reason"]

    history = _json(bundled_venv, home, "history")
    assert isinstance(history, list)
    assert sorted(h["plugin_id"] for h in history) == sorted(FIVE)
    for row in history:
        assert row["activation_reason"] == "startup"
        assert row["deactivation_reason"] == "shutdown" == row["reason"]
        assert _utc(row["activated_at"]) <= _utc(row["deactivated_at"])
    starts = [_utc(h["activated_at"]) for h in history]
    assert starts == sorted(starts, reverse=True), "history is not newest first"


def test_every_listing_prints_one_json_document(bundled_venv: Venv, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert bundled_venv.run("run", "--once", env=clean_env(home)).returncode == 0
    for command in ("plugins", "history", "health"):
        document = _json(bundled_venv, home, command)
        assert isinstance(document, list) and document, command
    assert isinstance(_json(bundled_venv, home, "alerts"), list)
    tests = _json(bundled_venv, home, "self-test")
    assert isinstance(tests, list)
    assert {t["plugin_id"]: t["passed"] for t in tests} == dict.fromkeys(FIVE, True)
    snapshots = _json(bundled_venv, home, "health")
    assert isinstance(snapshots, list)
    assert {s["plugin_id"] for s in snapshots} == set(FIVE)
    for snap in snapshots:
        _utc(snap["timestamp"])


THIRD_PARTY = {
    # plugin id: (distribution, version, state, words the reason must contain)
    "broken_import": ("zepix-broken-import", "0.1.0", "FAILED",
                      ("ModuleNotFoundError", "zepix_missing_dependency")),
    "bad_version": ("zepix-bad-version", "0.2.0", "REJECTED",
                    ("'not-a-version'", "not a valid PEP 440 version")),
    "future_api": ("zepix-future-api", "2.0.0", "REJECTED", ("requires_api '>=2'", "API 1.0")),
}


@pytest.fixture(scope="module")
def mixed_venv(wheelhouse: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The bundled packages, then the broken third-party ones pip-installed beside them."""
    third_party = [dist for dist, *_ in THIRD_PARTY.values()]
    return make_venv(tmp_path_factory.mktemp("mixed") / "env", wheelhouse[0].parent,
                     (*BUNDLED, *third_party))


def test_broken_third_party_packages_are_reported_and_isolated(
        mixed_venv: Venv, wheelhouse: list[Path], tmp_path: Path) -> None:
    home = tmp_path / "home"
    plugins = _json(mixed_venv, home, "plugins")
    assert isinstance(plugins, list)
    by_id = {p["id"]: p for p in plugins}
    assert set(by_id) == {*FIVE, *THIRD_PARTY}
    for pid, (dist, version, state, words) in THIRD_PARTY.items():
        row = by_id[pid]
        assert (row["distribution"], row["version"], row["state"]) == (dist, version, state)
        reason = row["reason"]
        assert "\n" not in reason
        for word in (f"'{pid}'", dist, *words):
            assert word in reason, f"{word!r} missing from {reason!r}"
    for pid, version in _expected_versions(wheelhouse).items():
        assert (by_id[pid]["state"], by_id[pid]["version"]) == ("ACTIVE", version)

    done = mixed_venv.run("run", "--once", env=clean_env(home))
    assert done.returncode == 0, done.stderr
    assert "5 active" in done.stdout
    history = _json(mixed_venv, home, "history")
    assert isinstance(history, list)
    assert sorted(h["plugin_id"] for h in history) == sorted(FIVE)
