"""Zepix: the plugin host for trading-bot strategies.

A plugin author needs only ``from zepix_core import hookimpl``.
"""

from ._errors import ConfigError, PluginError, StorageError, ZepixError
from ._hookspecs import REQUIRED_HOOKS, hookimpl, hookspec
from ._model import Alert, AlertLevel, Bar, HealthStatus, PluginContext, PluginState

#: The plugin API version the host offers; plugins state ``requires_api`` against it.
API_VERSION = "1.0"

__all__ = [
    "API_VERSION",
    "REQUIRED_HOOKS",
    "Alert",
    "AlertLevel",
    "Bar",
    "ConfigError",
    "HealthStatus",
    "PluginContext",
    "PluginError",
    "PluginState",
    "StorageError",
    "ZepixError",
    "hookimpl",
    "hookspec",
]
