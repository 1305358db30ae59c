"""Issue 19: what a first-time operator tripped over, each pinned by a test."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory, good_plugin
from tests.paths import ROOT
from zepix_core import Alert, AlertLevel, PluginState
from zepix_core.cli.commands.base import since
from zepix_core.cli.main import main
from zepix_core.contract.logs import fields_of
from zepix_core.host.host import create_host
from zepix_core.loading.paths import data_dir, store_dir
from zepix_core.storage import Store
from zepix_core.storage.schema import MIGRATIONS


def test_the_misspelt_canary_abort_events_are_renamed_by_a_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    mine = next(i for i, script in enumerate(MIGRATIONS) if "canary_abortd" in script)
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:mine]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {mine}")
    conn.executemany("INSERT INTO events (ts, plugin_id, kind, version, actor, detail) "
                     "VALUES (?, 'alpha', ?, '1.1.0', 'alice', 'x')",
                     [(1.0, "canary_abortd"), (2.0, "canary_promoted")])
    conn.commit()
    conn.close()
    store = Store(path)
    try:
        kinds = [e["kind"] for e in store.events("alpha")]
    finally:
        store.close()
    assert kinds == ["canary_promoted", "canary_aborted"]


def zepix(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``zepix argv`` in process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# -- 4: install and upgrade name the real problem ------------------------------
@pytest.mark.parametrize("source", ["nonexistent.whl", "dist/zepix_demo-1.0.0.tar.gz",
                                    "./nowhere"])
def test_installing_a_missing_file_says_no_such_file(capsys: pytest.CaptureFixture[str],
                                                      source: str) -> None:
    code, _, err = zepix(capsys, "install", source)
    assert code == 2
    assert err == f"zepix: error: install: no such file: {source}\n"


def test_upgrading_an_unknown_plugin_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (("upgrade", "nosuch", "1.0.0"), ("canary", "nosuch", "1.0.0")):
        code, _, err = zepix(capsys, *argv)
        assert code == 2
        assert f"{argv[0]}: unknown plugin 'nosuch'; see 'zepix plugins'" in err, err


@pytest.fixture
def _signals() -> Iterator[None]:
    """``zepix run`` installs SIGINT/SIGTERM handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def seed(dists: DistFactory) -> None:
    dists.add("zepix-seed", "1.2.0", {"seed": "seed_mod:Plugin"},
              {"seed_mod": good_plugin("1.2.0")})


# -- 9: run --once says what it does --------------------------------------------
@pytest.mark.usefixtures("_signals")
def test_run_once_does_not_claim_a_schedule(capsys: pytest.CaptureFixture[str],
                                            dists: DistFactory) -> None:
    seed(dists)
    code, out, err = zepix(capsys, "run", "--once")
    assert code == 0, err
    assert " active; one monitoring round, then shut down\n" in out
    assert "monitoring every" not in out
    code, out, err = zepix(capsys, "run", "--duration", "0.2", "--interval", "5")
    assert code == 0, err
    assert "monitoring every 5s for 0.2s" in out


# -- 11: the running version in the health table --------------------------------
@pytest.mark.usefixtures("_signals")
def test_health_shows_the_version_column(capsys: pytest.CaptureFixture[str],
                                         dists: DistFactory) -> None:
    seed(dists)
    assert zepix(capsys, "run", "--once")[0] == 0
    code, out, _ = zepix(capsys, "health")
    no_host, head, *rows = out.splitlines()  # no host runs now: the first line says so
    assert no_host.startswith("no zepix host is running on ")
    assert code == 0 and head.split()[:3] == ["PLUGIN_ID", "VERSION", "STATUS"]
    assert ["seed", "1.2.0", "no", "host", "(last", "HEALTHY)"] in [row.split()[:6]
                                                                    for row in rows]


# -- 12: time and plugin filters on alerts and history ---------------------------
def test_since_reads_durations_and_iso_times() -> None:
    now = 1_700_000_000.0
    assert since("24h", now) == now - 86400 and since("1h30m", now) == now - 5400
    assert since("90s", now) == now - 90 and since("2w", now) == now - 14 * 86400
    assert since("2023-11-14T22:13:20Z") == now == since("2023-11-14T22:13:20")
    assert since("2023-11-14T23:13:20+01:00") == now
    with pytest.raises(argparse.ArgumentTypeError, match="neither a duration"):
        since("yesterday")


def test_alerts_and_history_filter_by_time_and_plugin(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, now = tmp_path / "filters.db", time.time()
    store = Store(db)
    store.record_alerts([Alert("p", "hung", AlertLevel.CRITICAL, "old", now - 3 * 86400),
                         Alert("p", "stale", AlertLevel.HIGH, "new", now - 600),
                         Alert("q", "stale", AlertLevel.HIGH, "other", now - 60)])
    store.begin_host("h", 1, now - 4 * 86400, lambda h: False)
    for pid, start, end in (("p", 4 * 86400, 3 * 86400), ("p", 3 * 86400, None),
                            ("q", 3600, 1800)):
        row = store.open_activation(pid, "1.0.0", "d", "h", now - start, "startup")
        if end is not None:
            store.close_activation(row, now - end, "shutdown")
    store.record_event("p", "crashed", "old", now - 2 * 86400)
    store.record_event("p", "restarted", "new", now - 120)
    store.close()

    def listed(*argv: str) -> list[dict[str, Any]]:
        code, out, err = zepix(capsys, *argv, "--json", "--db", str(db))
        assert code == 0, err
        return json.loads(out)  # type: ignore[no-any-return]

    assert [a["message"] for a in listed("alerts")] == ["other", "new", "old"]
    assert [a["message"] for a in listed("alerts", "--since", "24h")] == ["other", "new"]
    assert [a["message"] for a in listed("alerts", "--since", "24h", "--plugin", "p")] == ["new"]
    # the run still going, which started before then, is part of "since then"
    ran = listed("history", "--plugin", "p", "--since", "1d")
    assert [(r["plugin_id"], r["deactivated_at"]) for r in ran] == [("p", None)]
    assert len(listed("history", "--since", "2h")) == 2
    story = listed("history", "p", "--events", "--since", "1d")
    assert [e["kind"] for e in story] == ["restarted"]
    code, _, err = zepix(capsys, "alerts", "p", "--plugin", "q", "--db", str(db))
    assert code == 2 and "ID and --plugin name different plugins" in err
    code, _, err = zepix(capsys, "alerts", "--since", "yesterday", "--db", str(db))
    assert code == 2 and "neither a duration" in err and err.count("\n") == 1


# -- 8: workers log at the verbosity the user asked for --------------------------
def test_workers_log_at_the_cli_verbosity(capfd: pytest.CaptureFixture[str],
                                          dists: DistFactory,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seed(dists)
    for name in ("ZEPIX_LOG_LEVEL", "ZEPIX_LOG_FORMAT"):  # main sets them; restore after
        monkeypatch.setenv(name, "")
    (data_dir() / "zepix.toml").write_text('[plugins.seed]\nisolation = "process"\n',
                                           encoding="utf-8")
    for argv in (("plugins",), ("self-test", "seed")):
        capfd.readouterr()
        assert main(list(argv)) == 0
        err = capfd.readouterr().err
        assert " INFO " not in err and "plugin loaded" not in err, err
    assert main(["-v", "self-test", "seed"]) == 0
    err = capfd.readouterr().err
    assert "INFO zepix.worker plugin=seed" in err and "plugin loaded" in err
    assert "distribution=zepix-seed version=1.2.0" in err


# -- 7: version transitions in the host's log and round line ---------------------
@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str]) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)  # 1.0.0 passes its (quiet) gate
    yield rig
    rig.close()


class Records(logging.Handler):
    """Every record of the ``zepix`` loggers at INFO and above. (``zepix`` commands
    reconfigure the root logger, so pytest's caplog handler would not survive them.)"""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def said(self, event: str) -> list[dict[str, Any]]:
        return [fields_of(r) for r in self.records if r.getMessage() == event]


@pytest.fixture
def logged() -> Iterator[Records]:
    handler, logger = Records(), logging.getLogger("zepix")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_version_transitions_are_logged_once_each_and_shown_in_the_round_line(
        rig: pv.Rig, logged: Records) -> None:
    rig.install("1.1.0", "1.2.0")
    assert rig.zepix("upgrade", "alpha", "1.1.0")[0] == 0
    rig.wall.now += 30.0
    rig.host.work()
    line = rig.host.round()
    assert line.endswith("; versions: alpha 1.0.0 -> 1.1.0"), line
    [up] = logged.said("plugin upgraded")
    assert (up["plugin"], up["old"], up["new"], up["probation_rounds"]) == (
        "alpha", "1.0.0", "1.1.0", 3)
    rig.wall.now += 30.0
    rig.host.work()
    assert "versions:" not in rig.host.round()  # nothing changed this round
    rig.rounds(2)
    [passed] = logged.said("probation passed")
    assert (passed["version"], passed["quiet"]) == ("1.1.0", False)

    logged.records.clear()
    assert rig.zepix("upgrade", "alpha", "1.2.0")[0] == 0  # its on_bar raises
    rig.rounds(3)
    [failed] = logged.said("gate failed, rolled back")
    assert (failed["version"], failed["to"]) == ("1.2.0", "1.1.0")
    assert "circuit breaker" in failed["why"]

    logged.records.clear()
    assert rig.zepix("canary", "alpha", "1.0.0")[0] == 0
    rig.rounds(1)
    [started] = logged.said("canary started")
    assert (started["version"], started["beside"]) == ("1.0.0", "1.1.0")
    assert rig.zepix("canary", "abort", "alpha")[0] == 0
    rig.rounds(1)
    [aborted] = logged.said("canary aborted")
    assert (aborted["version"], aborted["by"]) == ("1.0.0", getpass.getuser())


# -- 5: zepix restart ID re-reads that plugin's table ----------------------------
def test_restart_rereads_the_plugins_table(capsys: pytest.CaptureFixture[str],
                                           dists: DistFactory) -> None:
    seed(dists)
    config = data_dir() / "zepix.toml"
    config.write_text("[host]\ninterval = 5\n", encoding="utf-8")
    host = create_host(paths=[str(dists.root)])
    host.start()
    try:
        assert getattr(host.slots["seed"].runner, "pid", None) is None  # in process
        config.write_text('[host]\ninterval = 60\n\n[plugins.seed]\nisolation = "process"\n'
                          'ping_timeout = 3.0\n', encoding="utf-8")
        code, out, _ = zepix(capsys, "restart", "seed")
        assert code == 0 and "applies it within one round, with [plugins.seed] as the " in out
        host.work()
        host.round()
        slot = host.slots["seed"]
        assert slot.state is PluginState.ACTIVE and slot.config.isolation == "process"
        assert isinstance(getattr(slot.runner, "pid", None), int)  # now in a worker
        [request] = host.store.requests("seed")
        assert request["outcome"] == ("[plugins.seed] re-read (isolation, ping_timeout "
                                      "changed); ACTIVE")
        assert host.config.host["interval"] == 5  # host keys wait for a host restart
        config.write_text("[plugins.seed]\nisolation = \"sideways\"\n", encoding="utf-8")
        assert zepix(capsys, "restart", "seed")[0] == 0
        host.round()
        request = host.store.requests("seed")[0]
        assert request["outcome"].startswith("config not re-read, the old table stays (")
        assert "plugins.seed.isolation" in request["outcome"]
        assert host.slots["seed"].config.isolation == "process"
    finally:
        host.shutdown()


# -- 10: the plugin store belongs to the database --------------------------------
def test_each_database_has_its_own_store(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path / "other.db"
    assert store_dir() == data_dir() / "store"  # beside the default zepix.db, as before
    assert store_dir(other) == tmp_path / "other.store"
    assert store_dir(tmp_path / "zepix.db") == tmp_path / "store"
    pv.fill_store(tmp_path_factory, store_dir(), "1.0.0")
    pv.fill_store(tmp_path_factory, store_dir(other), "1.1.0")

    def versions(*db: str) -> list[str]:
        code, out, err = zepix(capsys, "versions", "alpha", "--json", *db)
        assert code == 0, err
        return [row["version"] for row in json.loads(out)]

    assert versions() == ["1.0.0"]
    assert versions("--db", str(other)) == ["1.1.0"]
    host = create_host(db=other)
    try:
        assert host.versions.plugins.root == tmp_path / "other.store"
    finally:
        host.store.close()


# -- 13: uninstall and store prune -------------------------------------------------
def test_uninstall_and_prune_keep_the_active_and_last_known_good_versions(rig: pv.Rig) -> None:
    rig.install("1.1.0", "1.2.0", "2.0.0")
    assert rig.zepix("upgrade", "alpha", "1.1.0")[0] == 0
    rig.rounds(4)  # 1.1.0 active and gated; 1.0.0 is the last known good below it
    assert rig.running() == ("1.1.0", PluginState.ACTIVE)
    code, _, err = rig.zepix("uninstall", "alpha", "1.1.0")
    assert code == 2 and "1.1.0 is the running version; move off it first" in err
    code, _, err = rig.zepix("uninstall", "alpha", "1.0.0")
    assert code == 2 and "1.0.0 is the last known good version" in err
    code, _, err = rig.zepix("uninstall", "alpha", "3.0.0")
    assert code == 2 and "3.0.0 is not in the store (in the store: 1.0.0, 1.1.0, 1.2.0, 2.0.0)" in err
    code, _, err = rig.zepix("uninstall", "beta", "1.0.0")
    assert code == 2 and "comes from the host environment" in err and "pip uninstall zx-beta" in err
    code, _, err = rig.zepix("uninstall", "nosuch", "1.0.0")
    assert code == 2 and "unknown plugin 'nosuch'" in err

    code, out, err = rig.zepix("uninstall", "alpha", "2.0.0")
    assert code == 0 and out.startswith("zx-alpha 2.0.0 removed from the store"), err
    assert not (store_dir() / "zx-alpha" / "2.0.0").exists()
    assert "2.0.0" not in rig.versions()
    [event] = rig.events("uninstalled")
    assert event["version"] == "2.0.0" and "uninstall alpha 2.0.0" in event["detail"]

    code, out, _ = rig.zepix("store", "prune", "--keep", "1", "--dry-run", "--json")
    plan = {row["version"]: (row["action"], row["why"]) for row in json.loads(out)}
    assert plan["1.2.0"] == ("kept", "one of the 1 newest of alpha")
    code, out, _ = rig.zepix("store", "prune", "--keep", "0", "--dry-run")
    assert "would remove" in out and "store prune --keep 0" in out
    assert plan["1.1.0"][1].startswith("the running version")
    assert (store_dir() / "zx-alpha" / "1.2.0").is_dir()
    code, out, _ = rig.zepix("store", "prune", "--keep", "0", "--json")
    done = {row["version"]: row["action"] for row in json.loads(out)}
    assert done == {"1.0.0": "kept", "1.1.0": "kept", "1.2.0": "removed"}
    assert sorted(p.name for p in (store_dir() / "zx-alpha").iterdir()) == ["1.0.0", "1.1.0"]
    rig.rounds(1)  # the running host goes on with what it runs
    assert rig.running() == ("1.1.0", PluginState.ACTIVE)
    assert rig.zepix("rollback", "alpha")[0] == 0  # its last known good is still there


# -- 3: the walkthrough's build step works in the README's venv --------------------
OPERATIONS = ROOT / "docs" / "operations.md"


@pytest.mark.slow
def test_the_walkthroughs_wheel_build_works_in_a_bare_venv(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's venv has pip and the interpreter's bundled setuptools, no ``wheel``:
    the guide's ``pip wheel`` line, exactly as written, must build the template there."""
    lines = {ln.strip() for ln in OPERATIONS.read_text(encoding="utf-8").splitlines()
             if ln.strip().startswith("pip wheel")}
    [command] = lines
    env_dir = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    assert not (env_dir / "bin" / "wheel").exists()
    assert zepix(capsys, "new-plugin", "zepix-demo", "--dir", str(tmp_path / "src"))[0] == 0
    home = tmp_path / "home"
    done = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path / "src" / "zepix-demo", capture_output=True,
        text=True, timeout=600, check=False,
        env={**os.environ, "ZEPIX_HOME": str(home),
             "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (home / "wheels").iterdir()] == [
        "zepix_demo-0.1.0-py3-none-any.whl"]
