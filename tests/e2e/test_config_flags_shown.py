"""A true/false key whose name looks secret (``[http] reads_need_token``) is shown as it
is: ``zepix config show``, ``get`` and the running host's ``GET /api/v1/config`` said
``***``, so an operator could not see whether reads need a token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.livehost import live_host
from zepix_core.cli.main import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_a_flag_named_like_a_secret_is_shown(zepix_home: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = "[host]\nwarmup_bars = 5\nbars_per_round = 1\n[http]\nreads_need_token = true\n"
    with live_host(zepix_home, config=config) as live:
        with live.client(token=True) as http:
            running = http.get("/api/v1/config").json()
        code, out = cli(capsys, "config", "show", "--json")
        assert code == 0 and json.loads(out)["http"]["reads_need_token"] is True
        assert cli(capsys, "config", "get", "http.reads_need_token") == (0, "true\n")
    assert running["http"]["reads_need_token"] is True
    assert running["http"]["token_file"] is None  # an unset secret still reads as unset
