"""Declared plugin settings: parse a plugin's declaration, check its config table against it.

A plugin declares its settings with the optional hook ``plugin_settings``; the host
checks ``[plugins.<id>]`` against that declaration before activation. Keys the host
reads itself (``PLUGIN_DEFAULTS``) are not the plugin's and are never checked here.
Pure: no plugin code runs in this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zepix_core.contract.configschema import did_you_mean, of_kind
from zepix_core.contract.errors import ConfigError, PluginError

TYPES = ("int", "float", "bool", "str", "list")
_KEYS = frozenset({"name", "type", "default", "min", "max", "choices", "description"})


@dataclass(frozen=True)
class Setting:
    """One declared setting."""

    name: str
    type: str
    default: object
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[object, ...] | None = None
    description: str = ""

    def problem(self, value: object) -> str | None:
        """Why ``value`` does not fit this setting, or None."""
        if not of_kind(value, self.type):
            return f"expected {_type_words(self.type)}"
        if self.choices is not None and value not in self.choices:
            return f"expected one of {', '.join(repr(c) for c in self.choices)}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                return f"expected at least {self.minimum:g}"
            if self.maximum is not None and value > self.maximum:
                return f"expected at most {self.maximum:g}"
        return None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "default": self.default,
                "min": self.minimum, "max": self.maximum,
                "choices": None if self.choices is None else list(self.choices),
                "description": self.description}


def _type_words(kind: str) -> str:
    return {"bool": "true or false", "int": "a whole number", "float": "a finite number",
            "str": "a string", "list": "a list of strings"}[kind]


def parse_settings(value: object) -> tuple[Setting, ...] | None:
    """A plugin's ``plugin_settings`` answer; None when it declares nothing.

    Raises ``PluginError`` saying what is wrong with a malformed declaration.
    """
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise PluginError(f"plugin_settings returned {type(value).__name__}; return a list "
                          "of settings such as [{'name': 'fast', 'type': 'int', 'default': 5}]")
    settings: list[Setting] = []
    for n, item in enumerate(value):
        settings.append(_one(n, item))
    names = [s.name for s in settings]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise PluginError(f"plugin_settings declares {', '.join(twice)} more than once")
    return tuple(settings)


def _one(n: int, item: object) -> Setting:
    where = f"plugin_settings item {n}"
    if not isinstance(item, Mapping):
        raise PluginError(f"{where} is {type(item).__name__}, not a mapping")
    unknown = sorted(str(k) for k in item if k not in _KEYS)
    if unknown:
        raise PluginError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                          f"the keys are {', '.join(sorted(_KEYS))}")
    name, kind = item.get("name"), item.get("type")
    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"{where}: name must be an identifier string, got {name!r}")
    if kind not in TYPES:
        raise PluginError(f"{where} ({name}): type must be one of {', '.join(TYPES)}, "
                          f"got {kind!r}")
    if "default" not in item:
        raise PluginError(f"{where} ({name}): a default is required")
    bounds = [item.get("min"), item.get("max")]
    for bound in bounds:
        if bound is not None and not of_kind(bound, "float"):
            raise PluginError(f"{where} ({name}): min and max must be finite numbers")
    choices = item.get("choices")
    if choices is not None and (not isinstance(choices, list | tuple) or not choices):
        raise PluginError(f"{where} ({name}): choices must be a non-empty list")
    description = item.get("description", "")
    if not isinstance(description, str):
        raise PluginError(f"{where} ({name}): description must be a string")
    setting = Setting(name, str(kind), item["default"],
                      None if bounds[0] is None else float(bounds[0]),
                      None if bounds[1] is None else float(bounds[1]),
                      None if choices is None else tuple(choices), description)
    if setting.default is not None and (problem := setting.problem(setting.default)):
        raise PluginError(f"{where} ({name}): the default {setting.default!r} does not fit: "
                          f"{problem}")
    return setting


def apply_settings(settings: tuple[Setting, ...], table: Mapping[str, Any], *, where: str,
                   plugin_id: str, host_keys: Iterable[str]) -> dict[str, object]:
    """The plugin's typed values (declared defaults filled in) from its config ``table``.

    Raises ``ConfigError`` naming the file and key: a wrong type or range, or a key
    that is neither declared nor the host's (with "did you mean").
    """
    own = {s.name: s for s in settings}
    host = set(host_keys)
    values: dict[str, object] = {}
    for key, value in table.items():
        if key in host:
            continue
        setting = own.get(key)
        if setting is None:
            fix = did_you_mean(key, [*own, *host],
                               f"{plugin_id} declares {', '.join(sorted(own)) or 'no settings'}")
            raise ConfigError(f"{where}: plugins.{plugin_id}.{key}: unknown setting; {fix}")
        problem = setting.problem(value)
        if problem is not None:
            raise ConfigError(f"{where}: plugins.{plugin_id}.{key}: got {value!r}; {problem}")
        values[key] = float(value) if setting.type == "float" else value
    for setting in settings:
        values.setdefault(setting.name, setting.default)
    return values
