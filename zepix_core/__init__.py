"""Zepix: the plugin host for trading-bot strategies.

A plugin author needs only ``from zepix_core import hookimpl``.
"""

from zepix_core.contract.api import API_VERSION
from zepix_core.contract.errors import (
    ConfigError,
    IntentError,
    PluginError,
    StorageError,
    ZepixError,
)
from zepix_core.contract.hookspecs import REQUIRED_HOOKS, hookimpl, hookspec
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

__all__ = [
    "API_VERSION",
    "REQUIRED_HOOKS",
    "Alert",
    "AlertLevel",
    "Bar",
    "ConfigError",
    "Fill",
    "HealthStatus",
    "Intent",
    "IntentError",
    "PluginContext",
    "PluginError",
    "PluginState",
    "StorageError",
    "ZepixError",
    "hookimpl",
    "hookspec",
]
