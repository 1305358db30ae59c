"""Config secrets are marked once in the schema and hidden at every config exit: set's
output, show (text and JSON), get, history (text and JSON) and zepix.db itself (issue 24
item 2, issue 22's symlinked config, issue 25 item 5's repair of an invalid file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from zepix_core.cli.main import main
from zepix_core.loading.tables import SECRETS, hidden, redact

PASSWORD = "hunter2secret"
URL = f"postgresql://trader:{PASSWORD}@db.example.org:5432/ledger"
HOOK = "https://hooks.example.org/services/T0/B0/XYZSECRETPATH"


def _cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", str(tmp_path / "zepix.toml"), "--db", str(tmp_path / "z.db")])
    out, err = capsys.readouterr()
    return code, out, err


def _everything_shown(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    shown = []
    for argv in (["config", "show"], ["config", "show", "--json"], ["config", "get", "sync.url"],
                 ["config", "get", "alerts.webhook_url", "--json"], ["config", "history"],
                 ["config", "history", "--json"]):
        code, out, err = _cli(capsys, tmp_path, *argv)
        assert code == 0, (argv, err)
        shown.append(out + err)
    return "\n".join(shown)


def test_a_secret_is_hidden_at_every_config_exit_and_in_the_database(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for key, value in (("sync.url", URL), ("alerts.webhook_url", HOOK),
                       ("sync.url", URL.replace(PASSWORD, PASSWORD + "2"))):
        code, out, err = _cli(capsys, tmp_path, "config", "set", key, value)
        assert code == 0, err
        outputs.append(out + err)
    outputs.append(_everything_shown(capsys, tmp_path))
    text = "\n".join(outputs)
    assert PASSWORD not in text and "XYZSECRETPATH" not in text
    assert "postgresql://***@db.example.org:5432/ledger" in text  # which ledger stays clear
    assert "https://hooks.example.org/***" in text
    history = json.loads(_cli(capsys, tmp_path, "config", "history", "--json")[1])
    assert [row["key"] for row in history] == ["sync.url", "alerts.webhook_url", "sync.url"]
    assert history[0]["old"] != history[0]["new"] or history[0]["old"] is not None
    for database in tmp_path.glob("z.db*"):
        assert PASSWORD.encode() not in database.read_bytes()
        assert b"XYZSECRETPATH" not in database.read_bytes()
    assert PASSWORD in (tmp_path / "zepix.toml").read_text(encoding="utf-8")  # the file keeps it


def test_a_refused_secret_is_not_recorded_in_clear(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, tmp_path, "config", "set", "http.token", "s3cr3t-value")
    assert code == 2 and "s3cr3t-value" not in err
    assert _cli(capsys, tmp_path, "config", "history", "--json")[0] == 0
    for database in tmp_path.glob("z.db*"):
        assert b"s3cr3t-value" not in database.read_bytes()


def test_secrets_are_marked_in_the_schema_and_redacted_by_one_function() -> None:
    assert {"webhook_url"} <= SECRETS
    document = {"sync": {"url": URL, "password_file": "/etc/pw"},
                "http": {"token_file": "/etc/tok"}, "x": {"api_token": "abc", "n": 1}}
    assert redact(document) == {
        "sync": {"url": "postgresql://***@db.example.org:5432/ledger", "password_file": "/etc/pw"},
        "http": {"token_file": "/etc/tok"}, "x": {"api_token": "***", "n": 1}}
    assert hidden("plugins.x.password", "pw") == "***" and hidden("host.interval", 5) == 5


def test_set_on_a_symlinked_config_writes_the_target_and_keeps_the_link(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "etc" / "zepix.toml"
    real.parent.mkdir()
    real.write_text("# managed\n[host]\ninterval = 5\n", encoding="utf-8")
    link = tmp_path / "zepix.toml"
    link.symlink_to(os.path.relpath(real, tmp_path))
    code, _, err = _cli(capsys, tmp_path, "config", "set", "host.interval", "7")
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.read_text(encoding="utf-8") == "# managed\n[host]\ninterval = 7\n"
    assert _cli(capsys, tmp_path, "config", "get", "host.interval")[1] == "7.0\n"


def test_show_get_and_set_work_on_a_file_a_start_would_refuse(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "zepix.toml"
    config.write_text('[host]\ninterval = "fast"\nbogus = 1\n[alerts]\ncooldown = 9\n',
                      encoding="utf-8")
    code, out, err = _cli(capsys, tmp_path, "config", "show", "--json")
    assert code == 0 and json.loads(out)["alerts"]["cooldown"] == 9
    assert f"{config}:2: host.interval" in err and f"{config}:3: host.bogus" in err
    code, out, err = _cli(capsys, tmp_path, "config", "get", "host.interval")
    assert code == 0 and out == "30.0\n"  # the bad value left out: the default shows
    code, out, err = _cli(capsys, tmp_path, "config", "set", "host.interval", "5")
    assert code == 0 and "still does not load" in err and "host.bogus" in err
    code, _, err = _cli(capsys, tmp_path, "config", "set", "host.other", "1")  # adds a problem
    assert code == 2 and "host.other" in err
    code, out, err = _cli(capsys, tmp_path, "config", "unset", "host.bogus")
    assert code == 0 and err == ""
    assert config.read_text(encoding="utf-8") == "[host]\ninterval = 5\n[alerts]\ncooldown = 9\n"
    assert _cli(capsys, tmp_path, "plugins", "--json")[0] == 0  # a start accepts it now


def test_history_shows_the_default_as_the_old_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, tmp_path, "config", "set", "thresholds.p95_latency_ms", "100")[0] == 0
    [row] = json.loads(_cli(capsys, tmp_path, "config", "history", "--json")[1])
    assert (row["old"], row["new"], row["status"]) == (5000.0, 100, "applied")
