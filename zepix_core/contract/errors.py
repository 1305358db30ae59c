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
    """A hook raised (in process or in a worker); the message is already ``Type: message``.

    The plugin's own exception never crosses the boundary: only this line does.
    """


class WrongShape(PluginError):
    """A plugin's reply is not plain, bounded data (``execution.boundary``)."""


class HookTimeout(PluginError):
    """A hook call missed its deadline."""


class PluginBusy(PluginError):
    """A previous hook call to the plugin is still running, so no new call starts."""


class PluginDead(PluginError):
    """The plugin's worker is not running."""


#: The longest exception message ``describe`` keeps.
MESSAGE_LIMIT = 500


def describe(exc: BaseException) -> str:
    """One line naming the exception type and its message.

    Safe on a plugin's exception: a ``__str__`` that raises, returns a non-string
    or a huge text gives a placeholder or a cut line, never a new exception.
    """
    kind = type(exc)
    if issubclass(kind, RemoteError):
        return Exception.__str__(exc)
    name = _type_name(kind)
    try:
        raw = str(exc)
        text = str.__str__(raw).strip() if isinstance(raw, str) else ""
    except BaseException:  # noqa: BLE001 - a plugin's __str__ may raise anything
        text = "<str() of the exception raised>"
    text = text.splitlines()[0] if text else ""
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "..."
    return f"{name}: {text}" if text else name


def _type_name(kind: type) -> str:
    name = type.__dict__["__name__"].__get__(kind)
    return name if type(name) is str else "Exception"


def describe_hook(exc: BaseException) -> str:
    """``describe`` of a plugin's exception followed by where in the plugin it was
    raised: ``ValueError: boom (at /src/my_plugin/plugin.py:42 in on_bar)``."""
    where = plugin_frame(exc)
    return f"{describe(exc)} (at {where})" if where else describe(exc)


_HOST_PACKAGES = ("zepix_core", "pluggy", "concurrent", "threading", "asyncio")


def plugin_frame(exc: BaseException) -> str | None:
    """``FILE:LINE in FUNCTION`` of the deepest frame of the plugin's own package in
    ``exc``'s traceback: the package of the first frame the host did not write, so a
    library the plugin calls (numpy, json) names the plugin's line that called it."""
    frames: list[tuple[str, str, int, str]] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        module = tb.tb_frame.f_globals.get("__name__")
        frames.append((module if type(module) is str else "", code.co_filename,
                       tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    own = [f for f in frames if f[0].partition(".")[0] not in _HOST_PACKAGES]
    if not own:
        return None
    package = own[0][0].partition(".")[0]
    _, filename, line, function = [f for f in own if f[0].partition(".")[0] == package][-1]
    return f"{filename}:{line} in {function}"
