"""Shared by tests/ and plugins/: every test runs with ZEPIX_HOME and ZEPIX_DB in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def zepix_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "zepix-home"
    home.mkdir()
    monkeypatch.setenv("ZEPIX_HOME", str(home))
    monkeypatch.setenv("ZEPIX_DB", str(home / "zepix.db"))
    # Every host a test starts serves its HTTP API on a free loopback port, never 8787.
    monkeypatch.setenv("ZEPIX_HTTP_LISTEN", "127.0.0.1:0")
    return home


@pytest.fixture
def dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A ``DistFactory`` whose root is on sys.path; discovery reads ``[str(dists.root)]``."""
    from tests.distfactory import DistFactory

    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    factory = DistFactory(root)
    yield factory
    factory.cleanup()
