"""Helpers for testing Zepix plugins and the host: time that moves when told, a host on a
temporary database, loading a plugin, and the conformance suite as a base class.

Adopt the conformance suite in one line::

    from zepix_core.testing import PluginConformance

    class TestMine(PluginConformance):
        plugin_id = "mine"

The pytest plugin ``zepix`` (installed with zepix-core) wraps these as the
fixtures ``zepix_clock``, ``zepix_host``, ``zepix_make_host`` and
``zepix_load``, and adds ``pytest --zepix-plugin ID``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from zepix_core.authoring.conformance import CHECK_NAMES, CheckResult, Finding, run_check
from zepix_core.authoring.harness import PluginHandle, load_installed, load_instance
from zepix_core.execution.lifecycle import RunnerFactory
from zepix_core.execution.ports import Clocks
from zepix_core.host.host import Host, create_host
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins


class FakeClock:
    """Wall-clock and monotonic time that only move when told.

    Calling the clock returns the wall-clock time, so it can stand in for
    ``time.time`` wherever a plugin takes a ``clock``; ``clocks()`` gives a
    host the same time, with waits that advance it instead of sleeping.
    """

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 1_000.0) -> None:
        self._wall = wall
        self._monotonic = monotonic

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def __call__(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both readings ``seconds`` forward."""
        if seconds < 0:
            raise ValueError(f"time only moves forward; got {seconds} s")
        self._wall += seconds
        self._monotonic += seconds

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` for code under test: returns at once, ``seconds`` later."""
        self.advance(seconds)

    def clocks(self) -> Clocks:
        """The host's clocks on this fake time."""
        return _FakeClocks(monotonic=self.monotonic, wall=self.time, clock=self)


@dataclass
class _FakeClocks(Clocks):
    clock: FakeClock = field(default_factory=FakeClock)

    def wait(self, seconds: float) -> bool:
        if not self.stop.is_set():
            self.clock.advance(max(0.0, seconds))
        return self.stop.is_set()


def make_host(home: Path, clock: FakeClock | None = None, *, config: str | None = None,
              paths: Sequence[str] | None = None,
              runner_factories: Mapping[str, RunnerFactory] | None = None) -> Host:
    """A host with its database (and config, from the TOML text ``config``) under ``home``.

    Plugins' data directories follow ``$ZEPIX_HOME``: point it at ``home`` as
    the ``zepix_host`` fixture does. ``paths`` limits discovery to those
    directories. Shut the host down and close ``host.store`` when done.
    """
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "zepix.toml"
    if config is not None:
        config_file.write_text(config, encoding="utf-8")
    return create_host(config_file, home / "zepix.db", paths=paths,
                       clocks=(clock or FakeClock()).clocks(),
                       runner_factories=dict(runner_factories or {}))


class PluginLoader:
    """Loads plugins for a test and closes them all at the end (the ``zepix_load`` fixture)."""

    def __init__(self) -> None:
        self.handles: list[PluginHandle] = []

    def __call__(self, target: object, *, plugin_id: str = "plugin", version: str = "0",
                 paths: Sequence[str] | None = None) -> PluginHandle:
        """A plugin id (str) loads the installed entry point; anything else (a module,
        class or instance) is registered as ``plugin_id`` at ``version``."""
        handle = (load_installed(target, paths) if isinstance(target, str)
                  else load_instance(target, plugin_id, version))
        self.handles.append(handle)
        return handle

    def close(self) -> None:
        for handle in self.handles:
            handle.close()
        self.handles.clear()


def enforce(result: CheckResult) -> None:
    """Fail the current test with the findings, or skip it when the check could not run."""
    if result.findings:
        pytest.fail(result.report(), pytrace=False)
    if result.blocked:
        pytest.skip(result.blocked)


def check_plugin(plugin_id: str, check: str, workdir: Path,
                 paths: Sequence[str] | None = None,
                 records: Sequence[EntryRecord] | None = None) -> CheckResult:
    """Run one conformance check inside a test: fails it with the findings, skips it when
    it cannot run. ``records`` reuses a discovery result (``enumerate_plugins(paths)``)."""
    result = run_check(check, plugin_id, workdir, paths, records=records)
    enforce(result)
    return result


class PluginConformance:
    """The conformance suite as test methods: subclass it and set ``plugin_id``.

    Each check is one test, ``test_conformance[<check>]``. ``plugin_paths``
    limits discovery to some directories (default: all of ``sys.path``).
    """

    plugin_id: ClassVar[str] = ""
    plugin_paths: ClassVar[Sequence[str] | None] = None

    @pytest.fixture(scope="class")
    @classmethod
    def zepix_discovery(cls) -> Sequence[EntryRecord]:
        """What discovery finds, read once for all the checks of the class."""
        return enumerate_plugins(cls.plugin_paths)

    @pytest.mark.parametrize("check", CHECK_NAMES)
    def test_conformance(self, check: str, tmp_path: Path,
                         zepix_discovery: Sequence[EntryRecord]) -> None:
        if not self.plugin_id:
            pytest.fail(f"{type(self).__name__} needs the id of the plugin under test: "
                        "plugin_id = 'your_plugin_id'", pytrace=False)
        check_plugin(self.plugin_id, check, tmp_path, self.plugin_paths, zepix_discovery)


__all__ = [
    "CHECK_NAMES", "CheckResult", "FakeClock", "Finding", "PluginConformance", "PluginHandle",
    "PluginLoader", "check_plugin", "enforce", "load_installed", "load_instance", "make_host",
]
