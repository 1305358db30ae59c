"""Reading and editing the config file by dotted key: validated, atomic, comments kept.

``set_value`` holds a lock file beside the config while it reads, edits,
validates and replaces the file, so two racing ``zepix config set`` never lose
one; the new text is validated whole (``parse_config``) before it is written,
and written to a temporary file that is fsynced and renamed over the old one,
so a watching host never sees half of it.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from zepix_core.contract.configschema import Problem, dotted
from zepix_core.contract.errors import ConfigError
from zepix_core.loading.config import HOST_DEFAULTS, Config, check, parse_config, worded
from zepix_core.loading.tables import PLUGIN, TABLES

_SEGMENT = re.compile(r'"([^"]*)"|([^."]+)')


def split_key(key: str) -> list[str]:
    """``plugins.combined_v3.risk_per_trade`` -> its parts; ``retry."sink.webhook".base``
    keeps a quoted part whole."""
    parts, at = [], 0
    while at < len(key):
        match = _SEGMENT.match(key, at)
        if match is None:
            raise ConfigError(f"{key!r}: not a dotted key (e.g. plugins.combined_v3.enabled)")
        parts.append(match.group(1) if match.group(1) is not None else match.group(2))
        at = match.end()
        if at < len(key):
            if key[at] != ".":
                raise ConfigError(f"{key!r}: not a dotted key (e.g. plugins.combined_v3.enabled)")
            at += 1
            if at == len(key):
                raise ConfigError(f"{key!r}: ends with a dot; name the key")
    if not parts:
        raise ConfigError("the key is empty; name one (e.g. host.interval)")
    return parts


def parse_value(text: str) -> object:
    """``VALUE`` read as a TOML value (``true``, ``3``, ``0.02``, ``"text"``, ``[..]``),
    else taken as a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def effective(cfg: Config) -> dict[str, object]:
    """The config in force with every default filled in, as plain data: every table of
    the schema, and each ``[plugins.<id>]`` with the global values it inherits."""
    document: dict[str, object] = {"host": {**HOST_DEFAULTS, **cfg.host}}
    for name, table in TABLES.items():
        if name != "host":
            document[name] = _merged(table.defaults(), cfg.sections.get(name, {}))
    document["plugins"] = {pid: _merged(plugin_defaults(document), table)
                           for pid, table in cfg.plugins.items()}
    return document


def _merged(defaults: Mapping[str, object], values: Mapping[str, object]) -> dict[str, object]:
    merged = dict(defaults)
    for name, value in values.items():
        below = merged.get(name)
        merged[name] = (_merged(below, value) if isinstance(below, Mapping)
                        and isinstance(value, Mapping) else value)
    return merged


def plugin_defaults(document: Mapping[str, Any]) -> dict[str, object]:
    """What a ``[plugins.<id>]`` table inherits in ``document`` (an ``effective`` one)."""
    return {**PLUGIN.defaults(), **document["supervision"],
            "isolation": document["host"]["isolation"],
            "allow_prereleases": document["host"]["allow_prereleases"],
            **{name: document[name] for name in PLUGIN.tables if name in document}}


def lookup(document: Mapping[str, object], parts: list[str]) -> object:
    """The value at ``parts``; KeyError naming the dotted key when it is absent."""
    node: object = document
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(".".join(parts))
        node = node[part]
    return node


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``<config>.lock`` exclusively: one editor of the file at a time."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    """Temp file beside ``path``, fsync, rename over it, fsync the directory."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@dataclass(frozen=True)
class Edit:
    """One edit by dotted key: the old and new value (None: not set), the file written
    (a symlink's target), and what still keeps the file from loading (a partial repair)."""

    old: object
    new: object
    target: Path
    remaining: tuple[str, ...] = ()


def set_value(path: Path, key: str, value: object) -> tuple[Any, Any]:
    """Set ``key`` to ``value`` in the file at ``path``, validated and atomic.

    Returns ``(old, new)``; ``old`` is None when the file did not set the key.
    Raises ConfigError (the file untouched) when the result would not load.
    """
    done = edit_value(path, key, value)
    return done.old, done.new


def edit_value(path: Path, key: str, value: object, *, remove: bool = False) -> Edit:
    """Set (or, with ``remove``, delete) ``key`` in the file at ``path``: the whole result
    is checked as a start checks it, then written atomically, comments kept.

    A file that already does not load may be repaired step by step: the edit is written
    when it adds no problem of its own, and ``Edit.remaining`` says what is still wrong.
    A symlink is kept: its target is written. Raises ConfigError (the file untouched)
    when the edit itself would not load.
    """
    parts = split_key(key)
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target):
        text = target.read_text(encoding="utf-8") if target.exists() else ""
        try:
            document = tomlkit.parse(text)
        except TOMLKitError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
        old = _remove(document, parts, key) if remove else _assign(document, parts, value, key)
        new_text = tomlkit.dumps(document)
        remaining = _still_wrong(text, new_text, path, parts)
        write_atomic(target, new_text)
    return Edit(old, None if remove else value, target, remaining)


def _still_wrong(text: str, new_text: str, path: Path, parts: list[str]) -> tuple[str, ...]:
    """What keeps ``new_text`` from loading, when every bit of it was wrong before too;
    raises ConfigError (the start's message) when the edit is wrong or adds a problem."""
    try:
        parse_config(new_text, path)  # the checks of a start, on the whole new text
        return ()
    except ConfigError as refused:
        before = {p.key for p in _problems(text)}
        after = _problems(new_text)
        edited = dotted(parts)
        added = [p for p in after if p.key not in before or p.key.startswith(edited)]
        if added:  # name what the edit got wrong, not what the file already had
            raise ConfigError(worded(new_text, path, added[0])) from None
        if not before or not after:
            raise refused from None
        return tuple(worded(new_text, path, p) for p in after)


def _problems(text: str) -> list[Problem]:
    try:
        return check(tomllib.loads(text))
    except tomllib.TOMLDecodeError:
        return []


def _remove(document: object, parts: list[str], key: str) -> object:
    node = document
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            raise ConfigError(f"{key}: not set in the file; nothing to remove")
    if not isinstance(node, Mapping) or parts[-1] not in node:
        raise ConfigError(f"{key}: not set in the file; nothing to remove")
    current = node[parts[-1]]
    old = current.unwrap() if hasattr(current, "unwrap") else current
    del node[parts[-1]]  # type: ignore[attr-defined]
    return old


def _assign(document: Any, parts: list[str], value: Any, key: str) -> object:
    node = document
    for depth, part in enumerate(parts[:-1], start=2):
        if part not in node:  # a table only holding tables gets no header of its own
            node[part] = tomlkit.table(is_super_table=depth < len(parts))
        node = node[part]
        if not isinstance(node, Mapping):
            raise ConfigError(f"{key}: {part} is a value, not a table; set a key beside it")
    current = node.get(parts[-1])
    old = current.unwrap() if hasattr(current, "unwrap") else current
    node[parts[-1]] = value
    return old
