"""Shared by tests/ and plugins/: every test runs with ZEPIX_HOME and ZEPIX_DB in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Module- and session-scoped fixtures run before the per-test environment is
    set; a host they start must not take the default port 8787 either (two test
    workers, or a developer's own host, may hold it)."""
    os.environ["ZEPIX_HTTP_LISTEN"] = "127.0.0.1:0"


@pytest.fixture(autouse=True)
def zepix_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "zepix-home"
    home.mkdir()
    monkeypatch.setenv("ZEPIX_HOME", str(home))
    monkeypatch.setenv("ZEPIX_DB", str(home / "zepix.db"))
    # Every host a test starts serves its HTTP API on a free loopback port, never 8787.
    monkeypatch.setenv("ZEPIX_HTTP_LISTEN", "127.0.0.1:0")
    return home


@pytest.fixture(autouse=True)
def _cli_log_settings() -> Iterator[None]:
    """``zepix`` run in-process exports its log level and format for worker processes;
    one test's CLI call must not set how the next test's workers log."""
    keys = ("ZEPIX_LOG_LEVEL", "ZEPIX_LOG_FORMAT")
    saved = {k: os.environ.get(k) for k in keys}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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
