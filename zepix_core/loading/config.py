"""Configuration: one TOML file, every key optional, every error naming file, key and fix."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from zepix_core.contract.configschema import Problem, check_table, did_you_mean, edits
from zepix_core.contract.errors import ConfigError
from zepix_core.loading.paths import data_dir
from zepix_core.loading.resolution import PluginPolicy
from zepix_core.loading.riskconfig import check_risk
from zepix_core.loading.syncconfig import SyncSettings
from zepix_core.loading.tables import (
    HOST,
    PLUGIN,
    PLUGIN_ID,
    STORE,
    SUPERVISION,
    TABLES,
)

#: ``[host]`` keys with their defaults (declared in ``loading.tables``).
HOST_DEFAULTS: Mapping[str, object] = HOST.defaults()

#: Further top-level tables, read by the module that owns them.
SECTIONS = tuple(name for name in TABLES if name != "host")

#: Supervision keys (``_supervisor``): in ``[supervision]`` for every plugin, or in a
#: ``[plugins.<id>]`` table for one; docs/supervision.md explains each.
SUPERVISION_DEFAULTS: Mapping[str, object] = SUPERVISION.defaults()

#: ``[store]`` keys (version management, ``_reconcile``); docs/operations.md.
STORE_DEFAULTS: Mapping[str, object] = STORE.defaults()

#: Keys of a ``[plugins.<id>]`` table the host reads; any other key is passed to the plugin.
PLUGIN_DEFAULTS: Mapping[str, object] = {k.name: k.default for k in PLUGIN.keys}


@dataclass(frozen=True)
class PluginConfig:
    plugin_id: str
    enabled: bool = True
    version: SpecifierSet | None = None
    isolation: str = "inprocess"
    ping_timeout: float = 2.0
    allow_prereleases: bool = False
    table: Mapping[str, object] = field(default_factory=dict)
    #: The config file the table came from, for messages (``<defaults>`` without one).
    source: str = "<defaults>"
    max_frame: int = 4 * 2**20

    def policy(self) -> PluginPolicy:
        return PluginPolicy(enabled=self.enabled, pin=self.version,
                      allow_prereleases=self.allow_prereleases)


@dataclass(frozen=True)
class Config:
    host: Mapping[str, Any] = field(default_factory=lambda: dict(HOST_DEFAULTS))
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    path: Path | None = None
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def sync(self) -> SyncSettings:
        """``[sync]`` with its defaults (the ledger in the data directory)."""
        return SyncSettings.from_config(self.sections.get("sync", {}), data_dir(),
                                        str(self.path or "<defaults>"))

    def plugin(self, plugin_id: str) -> PluginConfig:
        table = dict(self.plugins.get(plugin_id, {}))
        prerelease = table.get("allow_prereleases")
        return PluginConfig(
            plugin_id=plugin_id,
            enabled=table.get("enabled", True),
            version=_pin(self, plugin_id, table.get("version")),
            isolation=table.get("isolation") or self.host["isolation"],
            ping_timeout=float(table.get("ping_timeout", 2.0)),
            allow_prereleases=bool(self.host["allow_prereleases"] if prerelease is None
                                   else prerelease),
            table=table,
            source=str(self.path or "<defaults>"),
            max_frame=int(float(self.host["max_frame_mb"]) * 2**20),
        )


def _where(cfg: Config, key: str) -> str:
    return f"{cfg.path or '<defaults>'}: {key}"


def _pin(cfg: Config, plugin_id: str, text: object) -> SpecifierSet | None:
    if text is None:
        return None
    try:
        if not isinstance(text, str):
            raise InvalidSpecifier(text)
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ConfigError(f"{_where(cfg, f'plugins.{plugin_id}.version')}: {text!r} is not "
                          "a PEP 440 specifier (e.g. \"~=3.2\" or \">=6,<7\")") from None


def load_config(path: Path | None) -> Config:
    """Read and validate the config at ``path``; no path or no file means all defaults."""
    if path is None or not path.exists():
        return Config(path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Validate the whole ``text`` of the config file at ``path`` (the checks of a start).

    Raises ``ConfigError`` worded ``FILE:LINE: KEY: problem`` for the first problem.
    """
    raw = _toml(text, path)
    problems = check(raw)
    if problems:
        raise ConfigError(worded(text, path, problems[0]))
    cfg = _built(raw, path)
    try:
        _check_across(cfg)
    except ConfigError as exc:
        raise ConfigError(_located(text, path, str(exc))) from None
    return cfg


def _built(raw: Mapping[str, Mapping[str, object]], path: Path) -> Config:
    """A ``Config`` of the checked tables of ``raw`` (which it leaves as it is)."""
    rest = dict(raw)
    host = {**HOST_DEFAULTS, **HOST.typed(rest.pop("host", {}))}
    plugins = cast("Mapping[str, Mapping[str, object]]", rest.pop("plugins", {}))
    return Config(host=host, plugins=plugins, path=path, sections=rest)


def _check_across(cfg: Config) -> None:
    """What the schema of one key cannot check: the sync url's scheme,
    critical_after >= warn_after, the pins, the risk limits with their overrides."""
    cfg.sync()
    for plugin_id in cfg.plugins:
        cfg.plugin(plugin_id)
    check_risk(str(cfg.path), cfg.sections.get("risk", {}), cfg.plugins)


def _key_in(message: str) -> str:
    """The dotted key of a ``FILE: KEY: problem`` message ("" when it names none)."""
    return message.split(": ")[1] if message.count(": ") > 1 else ""


def _located(text: str, path: Path, message: str) -> str:
    """``FILE: KEY: problem`` with the key's line: ``FILE:LINE: KEY: problem``."""
    key = _key_in(message)
    line = line_of(text, tuple(split_dotted(key))) if key else None
    return f"{path}:{line}{message.removeprefix(str(path))}" if line else message


def worded(text: str, path: Path, problem: Problem) -> str:
    """``FILE:LINE: KEY: problem`` (``FILE: KEY: ...`` when the key is not in ``text``)."""
    line = line_of(text, problem.parts)
    return f"{path}:{line}: {problem}" if line else f"{path}: {problem}"


def load_lenient(path: Path | None) -> tuple[Config, list[str]]:
    """The config at ``path`` without the keys that do not validate, and why each was
    left out (``FILE:LINE: KEY: problem``): what ``config show``/``get``/``set`` read,
    so the documented tool still works on (and can repair) a file a start would refuse.
    A file that is not TOML at all still raises ``ConfigError``."""
    if path is None or not path.exists():
        return Config(path=path), []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    try:
        return parse_config(text, path), []
    except ConfigError:
        pass
    raw = _toml(text, path)
    problems = check(raw)
    for problem in problems:
        _drop(raw, problem.parts)
    reasons = [worded(text, path, p) for p in problems]
    # Then what only the keys together get wrong (a pin, the sync url, the risk limits):
    # each such key is left out in turn; a table whose problem has no key of its own
    # (an override) goes as a whole, and all defaults are the last resort.
    for _ in range(_MOST_LEFT_OUT):
        cfg = _built(raw, path)
        try:
            _check_across(cfg)
        except ConfigError as exc:
            reasons.append(_located(text, path, str(exc)))
            parts = tuple(split_dotted(_key_in(str(exc))))
            if not (_drop(raw, parts) or _drop(raw, parts[:2] if parts[:1] == ("plugins",)
                                               else parts[:1])):
                break
        else:
            return cfg, reasons
    return Config(path=path), reasons


#: How many keys ``load_lenient`` leaves out one by one before it falls back to defaults.
_MOST_LEFT_OUT = 20


def _drop(raw: dict[str, object], parts: tuple[str, ...]) -> bool:
    """Remove the key ``parts`` from ``raw``; False when it is not there."""
    node: object = raw
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not parts or not isinstance(node, dict) or parts[-1] not in node:
        return False
    node.pop(parts[-1])
    return True


def require_valid(cfg: Config) -> None:
    """Raise ``ConfigError`` (``FILE: KEY: problem``) for the first problem of a config
    built in code rather than read from a file (tests, an embedding bot)."""
    document = {"host": dict(cfg.host), "plugins": dict(cfg.plugins), **cfg.sections}
    problems = check(document)
    if problems:
        raise ConfigError(f"{cfg.path or '<defaults>'}: {problems[0].key}: "
                          f"{problems[0].message}")


def _toml(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(f"{where}: not valid TOML ({exc}); fix the syntax") from None


def check(raw: Mapping[str, object]) -> list[Problem]:
    """Every problem of a parsed config file against the schema, in file order."""
    problems: list[Problem] = []
    for name, value in raw.items():
        problems += [p for p in _nonfinite((name,), value)
                     if name in ("plugins", "market")]  # the open tables
        table = TABLES.get(name)
        if table is not None:
            problems += check_table(table, value, (name,))
        elif name == "plugins":
            problems += _check_plugins(value)
        else:
            problems.append(Problem((name,), "unknown table; " + did_you_mean(
                name, [*TABLES, "plugins"], f"known: {', '.join([*TABLES, 'plugins'])}")))
    return problems


def _check_plugins(plugins: object) -> list[Problem]:
    if not isinstance(plugins, Mapping):
        return [Problem(("plugins",), "must be a table of [plugins.<id>] tables")]
    problems: list[Problem] = []
    for plugin_id, table in plugins.items():
        if not PLUGIN_ID.match(plugin_id):
            problems.append(Problem(("plugins", plugin_id), (
                "no plugin can have this id (ids are lower case letters, digits and _, "
                "starting with a letter); remove the table or fix the id")))
            continue
        problems += check_table(PLUGIN, table, ("plugins", plugin_id))
        if isinstance(table, Mapping):
            problems += _misspelt(("plugins", plugin_id), table)
    return problems


def line_of(text: str, parts: tuple[str, ...] | list[str]) -> int | None:
    """The line of ``text`` (TOML) where the dotted key ``parts`` is set, else where its
    nearest enclosing table starts; None when neither is written in the file."""
    header: list[str] = []
    best: tuple[int, int] | None = None  # (matched parts, line)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inner = stripped.strip("[]").split("]")[0].strip()
            header = split_dotted(inner)
            here = header
        else:
            name = stripped.split("=", 1)[0].strip() if "=" in stripped else ""
            if not name or stripped.startswith("#"):
                continue
            here = [*header, *split_dotted(name)]
        matched = _common(here, parts)
        if matched == len(here) and (best is None or matched > best[0]):
            best = (matched, number)
    return best[1] if best is not None and best[0] > 0 else None


def _common(a: list[str], b: tuple[str, ...] | list[str]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def split_dotted(key: str) -> list[str]:
    """``a."b.c".d`` -> ``["a", "b.c", "d"]`` (bare or quoted parts, spaces around dots)."""
    return [m.group(1) if m.group(1) is not None else m.group(2).strip()
            for m in _PART.finditer(key) if m.group(1) is not None or m.group(2).strip()]


_PART = re.compile(r'"([^"]*)"|\'[^\']*\'|([^."\']+)')


#: Keys of a ``[plugins.<id>]`` table the host reads; a plugin's own key one or two
#: edits away from one of these is taken for a typo (``enable``, ``verison``).
HOST_PLUGIN_KEYS = PLUGIN.names()


def _misspelt(parts: tuple[str, ...], table: Mapping[str, object]) -> list[Problem]:
    problems = []
    for name in table:
        if name in HOST_PLUGIN_KEYS:
            continue
        near = sorted((edits(name, known), known) for known in HOST_PLUGIN_KEYS)
        if near and near[0][0] <= 2:
            problems.append(Problem((*parts, name), (
                f"did you mean '{near[0][1]}'? (a plugin's own key must not be this "
                "close to a host key; rename it)")))
    return problems


def _nonfinite(parts: tuple[str, ...], value: object) -> list[Problem]:
    """NaN and infinity anywhere under ``parts``: no setting means either."""
    if isinstance(value, float) and not math.isfinite(value):
        return [Problem(parts, f"got {value!r}; expected a finite number")]
    if isinstance(value, dict):
        return [p for name, item in value.items() for p in _nonfinite((*parts, name), item)]
    if isinstance(value, list):
        return [p for item in value for p in _nonfinite(parts, item)]
    return []
