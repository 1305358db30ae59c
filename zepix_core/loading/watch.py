"""Watching the config file: what changed since the config in force, or why it is refused.

``ConfigWatcher.check`` reads the whole file when its stamp (size, mtime)
moved, validates the whole text with the checks of a start and returns the
changed dotted keys; a file that does not validate (a typo, or an editor's
save caught half-way) is refused whole and tried again on the next check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zepix_core.contract.errors import ConfigError
from zepix_core.loading.config import Config, parse_config

#: Seconds between two looks at the file.
POLL = 2.0


@dataclass(frozen=True)
class Rejected:
    """The file does not validate: ``message`` names file, line and key."""

    message: str
    key: str
    line: int | None


@dataclass(frozen=True)
class Changed:
    """A valid new config and its changes: dotted key -> (old, new)."""

    config: Config
    changes: Mapping[str, tuple[object, object]] = field(default_factory=dict)


def diff(old: Mapping[str, object], new: Mapping[str, object],
         prefix: str = "") -> dict[str, tuple[object, object]]:
    """Dotted keys whose values differ between two tables (None: not set)."""
    changes: dict[str, tuple[object, object]] = {}
    for name in sorted(old.keys() | new.keys()):
        key = f"{prefix}{name}"
        a, b = old.get(name), new.get(name)
        tables = isinstance(a, Mapping | None) and isinstance(b, Mapping | None)
        if tables and (a is not None or b is not None):  # a table changed, came or went
            changes.update(diff(_table(a), _table(b), key + "."))
        elif a != b:
            changes[key] = (a, b)
    return changes


def _table(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def raw(cfg: Config) -> dict[str, object]:
    """The tables of a config as one mapping, for ``diff``."""
    return {"host": dict(cfg.host), "plugins": {p: dict(t) for p, t in cfg.plugins.items()},
            **{name: dict(table) for name, table in cfg.sections.items()}}


_WHERE = re.compile(r"^\S+?(?::(\d+))?: (?:(not valid TOML)|([A-Za-z0-9_.\"<>-]+):)")


def locate(message: str) -> tuple[str, int | None]:
    """The key and line of a ``ConfigError`` worded ``FILE:LINE: KEY: problem``."""
    match = _WHERE.match(message)
    if match is None:
        return "<file>", None
    line = int(match.group(1)) if match.group(1) else None
    return ("<syntax>" if match.group(2) else match.group(3)), line


class ConfigWatcher:
    """Looks at one config file; ``check`` says what changed against ``current``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._read_stamp()

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns

    def check(self, current: Config, force: bool = False) -> Changed | Rejected | None:
        """None when the file did not move (and ``force`` is off) or nothing changed."""
        stamp = self._read_stamp()
        if stamp == self._stamp and not force:
            return None
        try:
            text = self.path.read_text(encoding="utf-8") if stamp is not None else ""
        except (OSError, UnicodeDecodeError) as exc:
            return Rejected(f"{self.path}: cannot read the config file ({exc})", "<file>", None)
        try:
            new = parse_config(text, self.path)
        except ConfigError as exc:
            key, line = locate(str(exc))
            self._stamp = stamp  # a fixed file moves the stamp again
            return Rejected(str(exc), key, line)
        self._stamp = stamp
        changes = diff(raw(current), raw(new))
        return Changed(new, changes) if changes else None
