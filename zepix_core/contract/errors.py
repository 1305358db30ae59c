"""The few exception classes of the host, all under ``ZepixError``.

Each carries the plugin id (when there is one) and the cause, so the message
alone tells an operator what to fix.
"""

from __future__ import annotations


class ZepixError(Exception):
    """Base class of every error the host raises on purpose."""

    def __init__(self, message: str, *, plugin_id: str | None = None) -> None:
        super().__init__(message)
        self.plugin_id = plugin_id


class PluginError(ZepixError):
    """A plugin could not be loaded, validated or called."""


class ConfigError(ZepixError):
    """The configuration file or a value in it is invalid; exit status 2."""


class StorageError(ZepixError):
    """The database cannot be opened, migrated or written."""


class IntentError(ZepixError):
    """A fill names an intent the host did not hand out (unknown id, or a canary's
    shadow intent), or is not a valid fill."""


class RemoteError(PluginError):
    """A hook raised inside a worker process; the message is already ``Type: message``."""


class HookTimeout(PluginError):
    """A hook call missed its deadline."""


class PluginBusy(PluginError):
    """A previous hook call to the plugin is still running, so no new call starts."""


class PluginDead(PluginError):
    """The plugin's worker is not running."""


def describe(exc: BaseException) -> str:
    """One line naming the exception type and its message."""
    if isinstance(exc, RemoteError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
