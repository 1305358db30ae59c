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


#: The test files that take longest (per-file totals of a full --durations=0 run),
#: longest first. pytest-xdist's loadfile mode hands whole files to workers in
#: collection order (scripts/test passes --no-loadscope-reorder, which would
#: otherwise order files by their number of tests), so putting these first is the
#: longest-processing-time rule: the long files start at once on both cores, and no
#: core idles at the end while the other finishes a three-minute file.
LONGEST_FIRST = (
    "tests/e2e/test_chaos.py",
    "tests/e2e/test_shutdown_race.py",
    "tests/checks/test_docs_examples.py",
    "tests/e2e/test_faulty_plugins.py",
    "tests/e2e/test_resource_limits.py",
    "tests/e2e/test_dashboard_ops.py",
    "tests/e2e/test_pytest_plugin.py",
    "tests/e2e/test_template.py",
    "tests/e2e/test_hostile_e2e.py",
    "tests/e2e/test_config_reload_e2e.py",
    "tests/e2e/test_papercuts.py",
    "tests/e2e/test_supervision_e2e.py",
    "tests/e2e/test_process_exit.py",
    "tests/e2e/test_controls_e2e.py",
    "tests/e2e/test_e2e_install.py",
    "tests/e2e/test_sync.py",
    "tests/e2e/test_backtest_research.py",
    "tests/e2e/test_children.py",
    "tests/e2e/test_telegram.py",
    "tests/e2e/test_telegram_e2e.py",
    "tests/e2e/test_metrics_e2e.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the collection longest file first (see ``LONGEST_FIRST``); stable otherwise."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
