"""The config in force of a running host (contract section 16, issue 25 item 5):
``zepix config show --running`` and ``GET /api/v1/config`` show what the host uses now,
defaults in and secrets hidden, with ``file_valid`` and ``last_reload``; an invalid file
on disk does not change it, and the documented tool repairs the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.livehost import Live, live_host, wait_until
from zepix_core.cli.main import main

CONFIG = ("[alerts]\ncooldown = 7\nwebhook_url = \"http://127.0.0.1:9/hooks/SECRETPATH\"\n"
          "[plugins.combined_v3]\nrisk_per_trade = 0.01\n")


def _cli(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", str(home / "zepix.toml"), "--db", str(home / "zepix.db")])
    out, err = capsys.readouterr()
    return code, out, err


def _api(live: Live) -> dict[str, Any]:
    with live.client(token=True) as client:
        answer = client.get("/api/v1/config")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_the_running_config_is_shown_redacted_and_survives_an_invalid_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with live_host(tmp_path, config=CONFIG) as live:
        document = _api(live)
        assert document["alerts"]["cooldown"] == 7
        assert document["thresholds"]["p95_latency_ms"] == 5000.0  # every default in
        assert document["alerts"]["webhook_url"] == "http://127.0.0.1:9/***"
        assert document["file_valid"] is True and document["last_reload"]["status"] == "loaded"
        assert document["plugins"]["combined_v3"]["risk_per_trade"] == 0.01
        code, out, _ = _cli(capsys, tmp_path, "config", "show", "--running", "--json")
        assert code == 0 and json.loads(out) == document
        assert "SECRETPATH" not in out
        code, out, _ = _cli(capsys, tmp_path, "config", "get", "alerts.cooldown", "--running")
        assert (code, out) == (0, "7\n")

        config = tmp_path / "zepix.toml"
        config.write_text(CONFIG.replace("cooldown = 7", "cooldown = 8\nbogus = 1"),
                          encoding="utf-8")
        wait_until(lambda: _api(live)["file_valid"] is False, timeout=60, step=0.2)
        refused = _api(live)
        assert refused["alerts"]["cooldown"] == 7  # the old config stays in force
        assert refused["last_reload"]["status"] == "rejected"
        assert f"{config}:3: alerts.bogus: unknown key" in refused["last_reload"]["reason"]
        code, out, err = _cli(capsys, tmp_path, "config", "show", "--json")  # the file
        assert code == 0 and json.loads(out)["alerts"]["cooldown"] == 8 and "bogus" in err

        assert _cli(capsys, tmp_path, "config", "unset", "alerts.bogus")[0] == 0  # repaired
        wait_until(lambda: _api(live)["file_valid"] is True, timeout=60, step=0.2)
        applied = _api(live)
        assert applied["alerts"]["cooldown"] == 8 and applied["last_reload"]["status"] == "applied"
        wait_until(lambda: json.loads(_cli(capsys, tmp_path, "config", "show", "--running",
                                           "--json")[1]) == _api(live), timeout=30, step=0.2)


def test_running_says_when_no_host_runs(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, tmp_path, "config", "show", "--running")
    assert (code, out) == (1, "") and "no host is running" in err
