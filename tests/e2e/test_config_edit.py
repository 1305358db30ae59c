"""``zepix config show|get|set`` in-process and as racing subprocesses, on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import cli
from zepix_core.loading.config import load_config
from zepix_core.loading.edit import parse_value, split_key

CONFIG = """\
# operator notes: keep this comment
[host]
interval = 5   # fast rounds

[plugins.combined_v3]
enabled = true
risk_per_trade = 0.01
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.setenv("ZEPIX_DB", str(tmp_path / "zepix.db"))
    path = tmp_path / "zepix.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_values_read_as_toml_else_as_string() -> None:
    assert parse_value("true") is True
    assert parse_value("3") == 3
    assert parse_value("0.02") == 0.02
    assert parse_value('"text"') == "text"
    assert parse_value('["BTCUSD"]') == ["BTCUSD"]
    assert parse_value("~=3.2") == "~=3.2"
    assert split_key('retry."sink.webhook".base') == ["retry", "sink.webhook", "base"]


def test_show_includes_defaults(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "config", "show", "--json", "--config", str(config))
    document = json.loads(out)
    assert code == 0
    assert document["host"]["interval"] == 5.0
    assert document["host"]["retention_days"] == 30.0  # a default
    assert document["plugins"]["combined_v3"]["risk_per_trade"] == 0.01
    assert document["plugins"]["combined_v3"]["ping_timeout"] == 2.0  # a default
    assert document["supervision"]["max_restarts"] == 3
    code, out, _ = cli(capsys, "config", "show", "--config", str(config))
    assert "host.interval = 5.0\n" in out


def test_get(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "config", "get", "plugins.combined_v3.risk_per_trade",
               "--config", str(config))[:2] == (0, "0.01\n")
    assert cli(capsys, "config", "get", "host.self_test_every")[:2] == (0, "10\n")
    code, out, err = cli(capsys, "config", "get", "plugins.combined_v3.nope")
    assert code == 1 and out == "" and "plugins.combined_v3.nope" in err


def test_set_keeps_comments_and_validates(config: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = cli(capsys, "config", "set", "plugins.combined_v3.risk_per_trade", "0.02")
    assert code == 0
    text = config.read_text(encoding="utf-8")
    assert "# operator notes: keep this comment" in text and "# fast rounds" in text
    assert load_config(config).plugins["combined_v3"]["risk_per_trade"] == 0.02
    assert cli(capsys, "config", "set", "plugins.price_action_1m.enabled", "false")[0] == 0
    assert load_config(config).plugins["price_action_1m"]["enabled"] is False
    assert "[plugins.price_action_1m]" in config.read_text(encoding="utf-8")
    before = config.read_text(encoding="utf-8")
    code, _, err = cli(capsys, "config", "set", "host.interval", "-3")
    assert code == 2 and "host.interval" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "config", "set", "plugins.combined_v3.isolation", "thread")
    assert code == 2 and "plugins.combined_v3.isolation" in err
    assert config.read_text(encoding="utf-8") == before  # rejected: the file untouched
    assert not list(config.parent.glob(".zepix.toml.*.tmp"))


def test_set_creates_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    assert cli(capsys, "config", "set", "host.interval", "10")[0] == 0
    assert load_config(tmp_path / "zepix.toml").host["interval"] == 10.0


def test_racing_sets_lose_nothing(config: Path) -> None:
    """Many concurrent ``zepix config set`` processes, each a different key: all land."""
    env = {**os.environ, "ZEPIX_HOME": str(config.parent)}
    # (a plugin that is not installed: an installed one's undeclared keys are refused,
    # tests/e2e/test_config_plugin_settings.py)
    procs = [subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", "config", "set",
                               f"plugins.racer.key_{n}", str(n)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for n in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    table = load_config(config).plugins["racer"]
    assert {table[f"key_{n}"] for n in range(8)} == set(range(8))
    assert load_config(config).plugins["combined_v3"]["risk_per_trade"] == 0.01


def test_history_records_sets_and_rejections(config: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "config", "set", "plugins.combined_v3.risk_per_trade", "0.02")[0] == 0
    assert cli(capsys, "config", "set", "host.interval", "-3")[0] == 2
    code, out, _ = cli(capsys, "config", "history", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["status"] for r in rows] == ["rejected", "applied"]
    rejected, applied = rows
    assert set(applied) == {"timestamp", "key", "old", "new", "status", "reason", "by"}
    assert (applied["key"], applied["old"], applied["new"], applied["by"]) == (
        "plugins.combined_v3.risk_per_trade", 0.01, 0.02, "cli")
    assert applied["timestamp"].endswith(("Z", "+00:00"))
    assert rejected["key"] == "host.interval" and "host.interval" in rejected["reason"]
    code, out, _ = cli(capsys, "config", "history")
    assert code == 0 and "plugins.combined_v3.risk_per_trade" in out and "rejected" in out


def test_history_is_pruned_with_retention(tmp_path: Path) -> None:
    from zepix_core.storage import Store

    store = Store(tmp_path / "zepix.db")
    store.add_config_change(100.0, "host.interval", 30.0, 5.0, "applied", "file")
    store.add_config_change(200.0, "host.interval", 5.0, 7.0, "applied", "file")
    assert store.prune_config_changes(150.0) == 1
    assert [r["new"] for r in store.config_changes()] == [7.0]
    store.close()
