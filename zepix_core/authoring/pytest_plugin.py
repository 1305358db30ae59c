"""Pytest plugin registered by zepix-core (entry point ``pytest11``, name ``zepix``).

``pytest --zepix-plugin ID`` (repeatable) adds the conformance suite against
the installed plugin ``ID``: one test item per check, named
``zepix[ID]::<check>``, collected even when the run has no other tests.
Fixtures: ``zepix_clock``, ``zepix_host``, ``zepix_make_host`` and
``zepix_load`` (see ``zepix_core.testing``).

The host's modules are imported only when a fixture or the suite is used,
so the plugin costs next to nothing in test runs that do not use it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from zepix_core.authoring.testing import FakeClock, PluginLoader
    from zepix_core.host.host import Host
    from zepix_core.loading.discovery import EntryRecord


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zepix", "Zepix plugin conformance")
    group.addoption(
        "--zepix-plugin",
        action="append",
        default=[],
        metavar="ID",
        help="run the Zepix conformance suite against the installed plugin ID (repeatable)",
    )


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    asked = list(dict.fromkeys(config.getoption("zepix_plugin")))
    if asked:  # a PluginConformance class of the same plugin would run the suite twice
        twice = [i for i in items if _class_suite_of(i) in asked]
        if twice:
            config.hook.pytest_deselected(items=twice)
            items[:] = [i for i in items if _class_suite_of(i) not in asked]
    for plugin_id in asked:
        suite = ConformanceSuite.from_parent(session, name=f"zepix[{plugin_id}]",
                                             nodeid=f"zepix[{plugin_id}]", plugin_id=plugin_id)
        items.extend(session.genitems(suite))


def _class_suite_of(item: pytest.Item) -> str | None:
    """The plugin id of a ``PluginConformance`` test, else None."""
    from zepix_core.authoring.testing import PluginConformance

    owner = getattr(item, "cls", None)
    if isinstance(owner, type) and issubclass(owner, PluginConformance):
        return owner.plugin_id or None
    return None


class ConformanceSuite(pytest.Collector):
    """The conformance checks against one installed plugin."""

    def __init__(self, *, plugin_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin_id = plugin_id
        self._records: Sequence[EntryRecord] | None = None

    def records(self) -> Sequence[EntryRecord]:
        """What discovery finds, read once for all the checks (it reads every installed
        distribution's metadata)."""
        if self._records is None:
            from zepix_core.loading.discovery import enumerate_plugins

            self._records = enumerate_plugins()
        return self._records

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from zepix_core.authoring.conformance import CHECKS

        return [ConformanceItem.from_parent(self, name=check.name) for check in CHECKS]


class ConformanceItem(pytest.Item):
    """One conformance check; fails with the findings, skips when it cannot run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        assert isinstance(self.parent, ConformanceSuite)
        self.suite = self.parent
        self.plugin_id = self.parent.plugin_id

    def runtest(self) -> None:
        from zepix_core.authoring.testing import check_plugin

        with tempfile.TemporaryDirectory(prefix="zepix-conformance-") as workdir:
            check_plugin(self.plugin_id, self.name, Path(workdir),
                         records=self.suite.records())

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, f"zepix conformance of {self.plugin_id}: {self.name}"


@pytest.fixture
def zepix_clock() -> FakeClock:
    """Time that moves only when told (``advance``); call it for the wall-clock time."""
    from zepix_core.authoring.testing import FakeClock

    return FakeClock()


@pytest.fixture
def zepix_make_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    zepix_clock: FakeClock) -> Iterator[Callable[..., Host]]:
    """Build hosts on a temporary database, ``$ZEPIX_HOME`` and ``$ZEPIX_DB`` in tmp_path and
    the ``zepix_clock`` time: ``zepix_make_host(config="[host]\\ninterval = 5\\n", paths=...)``.
    Every host is shut down at the end of the test."""
    from zepix_core.authoring.testing import make_host

    home = tmp_path / "zepix-home"
    monkeypatch.setenv("ZEPIX_HOME", str(home))
    monkeypatch.setenv("ZEPIX_DB", str(home / "zepix.db"))
    hosts: list[Host] = []

    def build(**kwargs: Any) -> Host:
        hosts.append(make_host(home, zepix_clock, **kwargs))
        return hosts[-1]

    yield build
    for host in hosts:
        host.shutdown()
        host.store.close()


@pytest.fixture
def zepix_host(zepix_make_host: Callable[..., Host]) -> Host:
    """A host with default config on a temporary database and the ``zepix_clock`` time."""
    return zepix_make_host()


@pytest.fixture
def zepix_load() -> Iterator[PluginLoader]:
    """Load plugins: ``zepix_load("my_id")`` through the installed entry point, or
    ``zepix_load(MyPlugin, plugin_id="mine")`` from an object; closed after the test."""
    from zepix_core.authoring.testing import PluginLoader

    loader = PluginLoader()
    yield loader
    loader.close()
