"""One plugin loaded for testing: its own plugin manager and runner, and hook calls under deadlines.

Tests and the conformance checks load a plugin the way the host does (its
real entry point, or an object registered under a plugin id) and call its
hooks through an ``InProcessRunner``, so a hung hook costs its deadline and
nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import pluggy

from zepix_core.contract.errors import PluginError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import PluginContext
from zepix_core.execution.runner import CallResult, InProcessRunner, call
from zepix_core.loading.config import PLUGIN_DEFAULTS
from zepix_core.loading.discovery import (
    GROUP,
    EntryRecord,
    build_manager,
    enumerate_plugins,
    load_plugin,
)
from zepix_core.loading.settings import apply_settings, parse_settings

if TYPE_CHECKING:  # at run time imported where a context is built (context())
    from zepix_core.plugindb import PluginDatabase


def find_record(plugin_id: str, paths: Sequence[str] | None = None) -> EntryRecord:
    """The installed entry point named ``plugin_id``; raises ``PluginError`` naming the fix."""
    records = enumerate_plugins(paths)
    for record in records:
        if record.plugin_id == plugin_id:
            return record
    installed = ", ".join(sorted({r.plugin_id for r in records})) or "none"
    raise PluginError(
        f"no plugin '{plugin_id}' is installed: no entry point named '{plugin_id}' in group "
        f"'{GROUP}' (installed: {installed}); declare it under "
        f'[project.entry-points."{GROUP}"] and pip install the package',
        plugin_id=plugin_id)


class PluginHandle:
    """A loaded plugin with a runner of its own; close it (or use ``with``) when done."""

    def __init__(self, record: EntryRecord, obj: object, pm: pluggy.PluginManager) -> None:
        self.record = record
        self.obj = obj
        self.pm = pm
        self.runner = InProcessRunner(record.plugin_id, pm)
        self._databases: list[PluginDatabase] = []  # handed out by context(); closed like the host

    @property
    def plugin_id(self) -> str:
        return self.record.plugin_id

    def implements(self, hook: str) -> bool:
        """Whether the plugin has an implementation of ``hook``."""
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def call(self, hook: str, timeout: float | None = None, **kwargs: object) -> CallResult:
        """Call ``hook`` on the plugin's runner within ``timeout`` (default: its deadline)."""
        limit = DEFAULT_DEADLINES.get(hook, 10.0) if timeout is None else timeout
        return call(self.runner, hook, limit, kwargs)

    def value(self, hook: str, timeout: float | None = None, **kwargs: object) -> object:
        """The hook's answer; raises ``PluginError`` when it raised or missed its deadline,
        or when the plugin does not implement ``hook`` (None would look like an answer)."""
        if not self.implements(hook):
            raise PluginError(f"plugin {self.plugin_id} does not implement {hook}; add a "
                              f"method {hook} marked @hookimpl", plugin_id=self.plugin_id)
        result = self.call(hook, timeout, **kwargs)
        if not result.ok:
            raise PluginError(f"{hook} of plugin {self.plugin_id} failed: {result.error}",
                              plugin_id=self.plugin_id)
        return result.value

    def context(self, data_dir: Path | str) -> PluginContext:
        """The context the host would hand this plugin, with ``data_dir`` as its directory
        (and its database, ``context.database``, in there)."""
        from zepix_core.contract.api import API_VERSION
        from zepix_core.plugindb import PluginDatabase, database_file

        Path(data_dir).mkdir(parents=True, exist_ok=True)
        database = PluginDatabase(database_file(self.plugin_id, data_dir), self.plugin_id)
        self._databases.append(database)
        return PluginContext(plugin_id=self.plugin_id, version=self.record.dist_version,
                             api_version=API_VERSION, data_dir=str(data_dir), database=database)

    def settings(self, config: Mapping[str, object] | None = None) -> dict[str, object]:
        """What ``activate`` gets from the host for the table ``config``: the table with
        the declared settings' typed values, defaults filled in. Raises ``ConfigError``
        for a key that is neither declared nor the host's, or a value out of its range,
        and ``PluginError`` when ``plugin_settings`` fails or is malformed, as the host
        would refuse the plugin."""
        table = dict(config or {})
        if not self.implements("plugin_settings"):
            return table
        declared = parse_settings(self.value("plugin_settings"))
        if declared is None:
            return table
        values = apply_settings(declared, table, where="the test's config",
                                plugin_id=self.plugin_id, host_keys=PLUGIN_DEFAULTS)
        return {**table, **values}

    def activate(self, data_dir: Path | str,
                 config: Mapping[str, object] | None = None) -> CallResult:
        """Call ``activate`` as the host does: ``config`` is the plugin's table, checked
        against its declared settings and completed with their defaults (``settings``)."""
        return self.call("activate", context=self.context(data_dir),
                         config=self.settings(config))

    def deactivate(self, reason: str = "shutdown") -> CallResult:
        """Call ``deactivate``, then close the plugin's database, as the host does."""
        result = self.call("deactivate", reason=reason)
        self._close_databases()
        return result

    def close(self) -> None:
        """Stop the runner; a call still hanging is abandoned."""
        self.runner.close(timeout=0.5)
        self._close_databases()

    def _close_databases(self) -> None:
        while self._databases:
            self._databases.pop().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def load_installed(plugin_id: str, paths: Sequence[str] | None = None) -> PluginHandle:
    """Load an installed plugin through its real entry point, as the host does.

    Raises ``PluginError`` when no such entry point exists and ``LoadFailure``
    (a ``PluginError``) when it cannot be loaded, with the host's reason.
    """
    return load_record(find_record(plugin_id, paths))


def load_record(record: EntryRecord) -> PluginHandle:
    """Load the plugin of an entry point found by discovery; raises ``LoadFailure``."""
    pm = load_plugin(record)
    return PluginHandle(record, pm.get_plugin(record.plugin_id), pm)


def load_instance(obj: object, plugin_id: str = "plugin", version: str = "0") -> PluginHandle:
    """Register ``obj`` (a module, a class to instantiate, or an instance) as ``plugin_id``.

    ``version`` stands in for the distribution's version. Validation is the
    host's: a missing required hook or a mismatched signature raises
    ``LoadFailure``.
    """
    value = f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', type(obj).__name__)}"
    record = EntryRecord(plugin_id=plugin_id, distribution="(in memory)", dist_version=version,
                         value=value, location="")
    instance = obj() if isinstance(obj, type) else obj
    return PluginHandle(record, instance, build_manager(record, instance))


__all__ = ["PluginHandle", "find_record", "load_installed", "load_instance", "load_record"]
