"""Shared fixtures: real wheels and a fresh virtual environment for the end-to-end tests,
and scripted loopback HTTP servers for the retry and sink tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.retryserver import Reply, ScriptedServer
from tests.venvs import BUNDLED, BUNDLED_SOURCES, FIXTURE_PACKAGES, Venv, build_wheels, make_venv


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Wheels of the repository's own packages and of tests/fixtures_pkgs, built once."""
    root = tmp_path_factory.mktemp("wheels")
    third_party = sorted(p for p in FIXTURE_PACKAGES.iterdir() if (p / "pyproject.toml").exists())
    return build_wheels([*BUNDLED_SOURCES, *third_party], root / "wheelhouse")


@pytest.fixture(scope="session")
def bundled_venv(wheelhouse: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with zepix-core and the two bundled plugin distributions pip-installed."""
    return make_venv(tmp_path_factory.mktemp("venv") / "env", wheelhouse[0].parent, BUNDLED)


@pytest.fixture
def server() -> Iterator[Callable[..., ScriptedServer]]:
    """Scripted loopback HTTP servers (``tests.retryserver``), stopped after the test."""
    started: list[ScriptedServer] = []

    def start(replies: list[Reply | int] | None = None) -> ScriptedServer:
        started.append(ScriptedServer(replies))
        return started[-1]

    yield start
    for s in started:
        s.stop()
