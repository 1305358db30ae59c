"""Shared fixtures: every test runs with ZEPIX_HOME and ZEPIX_DB in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def zepix_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "zepix-home"
    home.mkdir()
    monkeypatch.setenv("ZEPIX_HOME", str(home))
    monkeypatch.setenv("ZEPIX_DB", str(home / "zepix.db"))
    return home
