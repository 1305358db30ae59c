"""Zepix: the plugin host for trading-bot strategies.

A plugin author needs only ``from zepix_core import hookimpl``.
"""

from zepix_core.contract.api import API_VERSION, DB_SCHEMA_VERSION
from zepix_core.contract.errors import ConfigError, PluginError, StorageError, ZepixError
from zepix_core.contract.hookspecs import REQUIRED_HOOKS, hookimpl, hookspec
from zepix_core.contract.model import (
    Alert,
    AlertLevel,
    Bar,
    HealthStatus,
    PluginContext,
    PluginState,
)
from zepix_core.plugindb import DailyStats, PluginDatabase, Trade

__all__ = [
    "API_VERSION",
    "DB_SCHEMA_VERSION",
    "REQUIRED_HOOKS",
    "Alert",
    "AlertLevel",
    "Bar",
    "ConfigError",
    "DailyStats",
    "HealthStatus",
    "PluginContext",
    "PluginDatabase",
    "PluginError",
    "PluginState",
    "StorageError",
    "Trade",
    "ZepixError",
    "hookimpl",
    "hookspec",
]
