"""One typed config schema (issue 23 item 2): every table declared once, one validator
worded ``FILE:LINE: KEY: problem``, every default shown, ``config set`` = the start's
checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.distfactory import DistFactory
from tests.paths import ROOT
from tests.unit.loading.test_settings import _host
from zepix_core import PluginState
from zepix_core.cli.main import main
from zepix_core.contract.configschema import Key, Table
from zepix_core.host.reconfig import AT_START
from zepix_core.loading.config import load_config
from zepix_core.loading.configdoc import COMMAND, spliced
from zepix_core.loading.tables import TABLES


def _cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", str(tmp_path / "zepix.toml"), "--db", str(tmp_path / "z.db")])
    out, err = capsys.readouterr()
    return code, out, err


def test_set_of_an_unknown_http_key_exits_2_naming_file_and_key_file_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "zepix.toml"
    before = b"# mine\n[http]\nlisten = \"127.0.0.1:0\"   # keep\n"
    config.write_bytes(before)
    code, out, err = _cli(capsys, tmp_path, "config", "set", "http.token", "abc")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"{config}:" in err and "http.token: unknown key" in err
    assert "abc" not in err  # a would-be secret is not echoed
    assert config.read_bytes() == before


@pytest.mark.parametrize(("key", "value"), [
    ("http.listen", "nowhere"), ("telegram.allowed_chats", "[true]"),
    ("alerts.webhook_url", "ftp://x"), ("sync.batch", "0"), ("anomaly.warmup", "0"),
    ("thresholds.error_rate", "2"), ('retry."sink.webhook".strategy', '"random"'),
])
def test_set_refuses_what_a_start_would_refuse(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str) -> None:
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\ninterval = 5\n", encoding="utf-8")
    before = config.read_bytes()
    code, _, err = _cli(capsys, tmp_path, "config", "set", key, value)
    assert code == 2 and key in err and config.read_bytes() == before


def test_get_gives_the_default_of_every_table(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    expected = {"thresholds.p95_latency_ms": 5000.0, "alerts.cooldown": 300.0,
                "anomaly.sensitivity": 4.0, 'retry."sink.webhook".base': 0.5,
                "retry.alert_after": 3, "sync.batch": 1000, "http.max_body": 65536,
                "telegram.api_url": "https://api.telegram.org/bot", "market.source": "replay",
                "host.interval": 30.0}
    for key, value in expected.items():
        code, out, err = _cli(capsys, tmp_path, "config", "get", key, "--json")
        assert code == 0, err
        assert json.loads(out) == value, key


def test_show_json_lists_every_table_with_its_defaults(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, tmp_path, "config", "show", "--json")
    document = json.loads(out)
    assert code == 0
    assert set(document) == {"host", "supervision", "store", "thresholds", "anomaly", "alerts",
                             "retry", "http", "telegram", "sync", "risk", "plugindb", "market", "plugins"}
    assert document["retry"]["sync"] == {
        "strategy": "exponential", "base": 5.0, "max_delay": 60.0, "max_attempts": 4,
        "jitter": False, "retry_after_cap": 60.0, "unknown_attempts": 3}
    assert document["thresholds"]["hung_after"] == 2
    assert document["http"].items() >= {"listen": "127.0.0.1:8787", "token_file": None,
                                        "max_body": 65536}.items()


def test_a_plugin_table_shows_what_it_inherits(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "zepix.toml").write_text(
        "[thresholds]\nmemory_mb = 100\n[plugins.x.thresholds]\ncpu_percent = 10\n",
        encoding="utf-8")
    code, out, _ = _cli(capsys, tmp_path, "config", "show", "--json")
    assert code == 0
    plugin = json.loads(out)["plugins"]["x"]
    assert plugin["thresholds"]["memory_mb"] == 100 and plugin["thresholds"]["cpu_percent"] == 10
    assert plugin["thresholds"]["p95_latency_ms"] == 5000.0 and plugin["max_restarts"] == 3


@pytest.mark.parametrize("table", ['[plugins."a.b"]\nenabled = true\n',
                                   '[plugins.Upper]\nenabled = true\n',
                                   '[plugins."9x"]\n'])
def test_a_table_for_an_impossible_plugin_id_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str) -> None:
    (tmp_path / "zepix.toml").write_text(table, encoding="utf-8")
    code, out, err = _cli(capsys, tmp_path, "plugins", "--check")
    assert code == 2 and out == "" and "no plugin can have this id" in err and ":1: plugins." in err


def test_every_error_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "zepix.toml"
    config.write_text("# a comment\n[host]\ninterval = 5\n\n[retry.\"sink.webhook\"]\n"
                      "base = 1\nmax_attempts = 0\n", encoding="utf-8")
    with pytest.raises(Exception) as caught:
        load_config(config)
    assert str(caught.value) == (f'{config}:7: retry."sink.webhook".max_attempts: got 0; '
                                 "expected a whole number >= 1")


def test_a_plugin_with_declared_settings_may_have_its_own_thresholds(
        tmp_path: Path, dists: DistFactory) -> None:
    host, _ = _host(dists, tmp_path, "fast = 8\n[plugins.ema.thresholds]\nmemory_mb = 900\n"
                                     "[plugins.ema.anomaly]\nwarmup = 5\n")
    try:
        host.start()
        slot = host.slots["ema"]
        assert slot.state is PluginState.ACTIVE, slot.reason
        assert slot.values["fast"] == 8
    finally:
        host.shutdown()


def test_the_key_table_of_docs_config_md_is_the_schema() -> None:
    docs = ROOT / "docs" / "config.md"
    text = docs.read_text(encoding="utf-8")
    assert spliced(text) == text, f"docs/config.md drifted from the schema; run {COMMAND}"
    for table in TABLES.values():
        assert f"### [{table.name}]" in text
        for key in table.keys:
            assert f"| `{key.name}` |" in text, key.name


def test_what_the_schema_calls_live_is_what_a_running_host_applies_live() -> None:
    for table in TABLES.values():
        for key, declared in _keys(table, table.name):
            restarted = table.name in ("http", "telegram", "sync")  # restarted on a change
            assert declared.live == (restarted or not key.startswith(AT_START)), key


def _keys(table: Table, prefix: str) -> list[tuple[str, Key]]:
    found = [(f"{prefix}.{k.name}", k) for k in table.keys]
    for name, sub in table.tables.items():
        found += _keys(sub, f"{prefix}.{name}")
    return found


def test_help_of_the_console_script_exits_0() -> None:
    done = subprocess.run([sys.executable, "-c", "from zepix_core.cli.main import entry; entry()",
                           "config", "--help"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and "unset KEY" in done.stdout and done.stderr == ""


def test_get_of_a_plugin_key_the_file_does_not_set_gives_what_it_inherits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "zepix.toml").write_text("[supervision]\nmax_restarts = 7\n", encoding="utf-8")
    for key, value in (("plugins.combined_v3.max_restarts", 7),
                       ("plugins.combined_v3.thresholds.memory_mb", 500.0),
                       ("plugins.combined_v3.enabled", True)):
        code, out, err = _cli(capsys, tmp_path, "config", "get", key, "--json")
        assert code == 0 and json.loads(out) == value, (key, err)
