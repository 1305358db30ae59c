"""Zepix: the plugin host for trading-bot strategies.

A plugin author needs only ``from zepix_core import hookimpl``.
"""

from typing import Any

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


def __getattr__(name: str) -> Any:
    # The embedding API pulls in the whole host; plugins importing ``hookimpl``
    # (and every worker process) should not pay for it.
    if name in ("open_host", "open_host_async"):
        from zepix_core import app

        return getattr(app, name)
    raise AttributeError(f"module 'zepix_core' has no attribute {name!r}")


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
    "open_host",
    "open_host_async",
]
