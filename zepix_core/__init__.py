"""Zepix: the plugin host for trading-bot strategies.

A plugin author needs only ``from zepix_core import hookimpl``, plus the records a hook
receives (``Bar``, ``PluginContext``) and the typed reply shapes its hooks return
(``VersionInfo``, ``HealthReply``, ``Metrics``, ``SelfTestReply``, ``IntentReply``).
Its own database (``context.database``) is a ``PluginDatabase`` of ``Trade`` and
``DailyStats`` records. Tests of a plugin use ``zepix_core.testing``; the bundled strategies' paper-trading
helpers are ``zepix_core.paper``. Nothing else is public: the one list of public names
is ``zepix_core.contract.public.PUBLIC`` (docs/plugin-authoring.md, "What is public"),
and the conformance check ``public_api`` fails a plugin importing anything else.
"""

from typing import Any

from zepix_core.contract.api import API_VERSION, DB_SCHEMA_VERSION
from zepix_core.contract.errors import (
    ConfigError,
    IntentError,
    PluginError,
    StorageError,
    ZepixError,
)
from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.model import (
    Alert,
    AlertLevel,
    Bar,
    Fill,
    HealthStatus,
    Intent,
    PluginContext,
    PluginState,
)
from zepix_core.contract.plugindata import PluginDatabaseAPI
from zepix_core.contract.replies import (
    CheckReport,
    HealthReply,
    IntentReply,
    KnownMetrics,
    Metrics,
    SelfTestReply,
    SettingSpec,
    VersionInfo,
)
from zepix_core.plugindb import DailyStats, DatabaseLocked, Migration, PluginDatabase, Trade

_MOVED = {
    "hookspec": ("zepix_core.contract.hookspecs", "hookspec"),
    "REQUIRED_HOOKS": ("zepix_core.contract.hookspecs", "REQUIRED_HOOKS"),
}


def __getattr__(name: str) -> Any:
    """The embedding API, loaded on first use; and names that left the public surface,
    which keep working with a warning until 1.2."""
    if name in _MOVED:
        import importlib
        import warnings

        module, attr = _MOVED[name]
        warnings.warn(f"zepix_core.{name} is not for plugin authors and goes away in 1.2; "
                      f"import it from {module} if the host's internals are what you need",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), attr)
    # The embedding API pulls in the whole host; plugins importing ``hookimpl``
    # (and every worker process) should not pay for it.
    if name in ("open_host", "open_host_async"):
        from zepix_core import app

        return getattr(app, name)
    raise AttributeError(f"module 'zepix_core' has no attribute {name!r}")


__all__ = [
    "API_VERSION",
    "DB_SCHEMA_VERSION",
    "Alert",
    "AlertLevel",
    "Bar",
    "CheckReport",
    "ConfigError",
    "DailyStats",
    "DatabaseLocked",
    "Fill",
    "HealthReply",
    "HealthStatus",
    "Intent",
    "IntentError",
    "IntentReply",
    "KnownMetrics",
    "Metrics",
    "Migration",
    "PluginContext",
    "PluginDatabase",
    "PluginDatabaseAPI",
    "PluginError",
    "PluginState",
    "SelfTestReply",
    "SettingSpec",
    "StorageError",
    "Trade",
    "VersionInfo",
    "ZepixError",
    "hookimpl",
    "open_host",
    "open_host_async",
]
