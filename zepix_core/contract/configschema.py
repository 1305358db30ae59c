"""The config schema mechanism: a table is declared once, as a tuple of ``Key``.

Each key says its type, default, range, choices, whether a running host applies
it live and whether it is a secret. One validator (``check_table``) reads those
declarations and words every problem the same way, ``KEY: problem; did you mean
...``; the loader prefixes ``FILE:LINE``. ``config show``, the docs' key table and
redaction (``redact_config``) read the same declarations. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from zepix_core.contract.errors import ConfigError
from zepix_core.contract.redact import HIDDEN, redact_source, redact_url

Kind = Literal["bool", "int", "float", "str", "list[str]", "list[int]", "path", "url"]

_WORDS: Mapping[str, str] = {
    "bool": "true or false", "int": "a whole number", "float": "a finite number",
    "str": "a string", "list[str]": "a list of strings", "list[int]": "a list of whole numbers",
    "path": "a path string", "url": "a URL string",
}


@dataclass(frozen=True)
class Key:
    """One config key: ``kind``, ``default`` (None: unset), the least and largest
    value (``above``/``below``: that bound is excluded), ``choices``, ``live`` (a running host
    applies it at once) and ``secret`` (shown as ``***`` everywhere)."""

    name: str
    kind: Kind
    default: object
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False
    below: bool = False
    choices: tuple[object, ...] | None = None
    live: bool = True
    secret: bool = False
    #: An empty string is refused (``str``/``path``/``url``).
    nonempty: bool = False
    #: What a value must be, when the type's words are too vague.
    words: str = ""
    #: A further check of a well-typed value (a URL's scheme, a specifier): its problem.
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    def problem(self, value: object) -> str | None:
        """Why ``value`` does not fit, or None."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"got {value!r}; expected a finite number"
        if not of_kind(value, self.kind) or (self.nonempty and value == ""):
            return f"got {_shown(self, value)}; expected {self.wanted()}"
        if self.choices is not None and value not in self.choices:
            return (f"got {_shown(self, value)}; expected one of "
                    f"{', '.join(repr(c) for c in self.choices)}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            low, high = self.minimum, self.maximum
            if low is not None and (value <= low if self.above else value < low):
                return f"got {value!r}; expected {self.wanted()}"
            if high is not None and (value >= high if self.below else value > high):
                return f"got {value!r}; expected {self.wanted()}"
        return self.check(value) if self.check is not None else None

    def wanted(self) -> str:
        """What a value must be, in words: ``a number > 0``, ``true or false``."""
        if self.words:
            return self.words
        words = _WORDS[self.kind]
        if self.nonempty:
            words = f"a non-empty {words.removeprefix('a ')}"
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind in ("int", "float"):
            noun = "a whole number" if self.kind == "int" else "a number"
            low, high = self.minimum, self.maximum
            if low is not None and high is not None:
                return (f"{noun} in {'(' if self.above else '['}{low:g}, {high:g}"
                        f"{')' if self.below else ']'}")
            if low is not None:
                return f"{noun} {'>' if self.above else '>='} {low:g}"
            if high is not None:
                return f"{noun} {'<' if self.below else '<='} {high:g}"
        return words

    def typed(self, value: object) -> object:
        """``value`` as the program reads it (a whole number where a float is wanted)."""
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


@dataclass(frozen=True)
class Table:
    """One table: its keys, fixed sub-tables (``retry."sink.webhook"``), and whether
    other keys are passed on (``[market]`` options, a plugin's own settings)."""

    name: str
    keys: tuple[Key, ...]
    doc: str = ""
    tables: Mapping[str, Table] = field(default_factory=dict)
    open: bool = False

    def key(self, name: str) -> Key | None:
        return next((k for k in self.keys if k.name == name), None)

    def defaults(self) -> dict[str, Any]:
        """Every key with its default, fixed sub-tables included."""
        values: dict[str, object] = {k.name: k.default for k in self.keys}
        for name, table in self.tables.items():
            values[name] = table.defaults()
        return values

    def names(self) -> tuple[str, ...]:
        return (*(k.name for k in self.keys), *self.tables)

    def typed(self, values: Mapping[str, object]) -> dict[str, Any]:
        """``values`` (already checked) as the program reads them; see ``Key.typed``."""
        return {name: key.typed(value) if (key := self.key(name)) else value
                for name, value in values.items()}


def of_kind(value: object, kind: str) -> bool:
    """Whether ``value`` is of a schema kind (``bool``, ``int``, ``float`` finite, ``str``,
    ``path``, ``url``, ``list[int]``, a list of strings otherwise): the one such check,
    for the host's tables and plugins' declared settings alike."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return finite_number(value)
    if kind in ("str", "path", "url"):
        return isinstance(value, str)
    if kind == "list[int]":
        return isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def finite_number(value: object) -> bool:
    """A real, finite number: not a bool, not NaN, not infinity. The one such check."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _shown(key: Key, value: object) -> str:
    return HIDDEN if key.secret else repr(value)


def edits(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``.

    The one edit distance of the host: "did you mean" hints and typo checks use it.
    """
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb)))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` is most likely a typo of (at most a third of it off)."""
    most = max(2, len(name) // 3)
    best = min(((edits(name, k), k) for k in known), default=None)
    return best[1] if best is not None and best[0] <= most else None


def did_you_mean(name: str, known: Iterable[str], otherwise: str = "remove it") -> str:
    """``did you mean 'x'?`` when ``name`` is close to a known one, else ``otherwise``."""
    hint = nearest(name, known)
    return f"did you mean '{hint}'?" if hint is not None else otherwise


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the file: the dotted key (parts) and what to fix."""

    parts: tuple[str, ...]
    message: str

    @property
    def key(self) -> str:
        return dotted(self.parts)

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def dotted(parts: Iterable[str]) -> str:
    """``("retry", "sink.webhook", "base")`` -> ``retry."sink.webhook".base``."""
    return ".".join(f'"{p}"' if "." in p or not p else p for p in parts)


def check_table(table: Table, values: object, parts: tuple[str, ...]) -> list[Problem]:
    """Every problem of ``values`` against ``table`` (unknown keys, types, ranges)."""
    if not isinstance(values, Mapping):
        return [Problem(parts, f"must be a table ([{dotted(parts)}])")]
    problems: list[Problem] = []
    for name, value in values.items():
        where = (*parts, name)
        key, sub = table.key(name), table.tables.get(name)
        if sub is not None:
            problems += check_table(sub, value, where)
        elif key is not None:
            problem = key.problem(value)
            if problem is not None:
                problems.append(Problem(where, problem))
        elif not table.open:
            problems.append(Problem(where, "unknown key; " + did_you_mean(
                name, table.names(), f"known: {', '.join(table.names())}")))
    return problems


def require(table: Table, values: object, parts: tuple[str, ...], where: str) -> None:
    """Raise ``ConfigError`` (``WHERE: KEY: problem``) for the first problem of ``values``."""
    problems = check_table(table, values, parts)
    if problems:
        raise ConfigError(f"{where}: {problems[0].key}: {problems[0].message}")


def secret_names(tables: Iterable[Table]) -> frozenset[str]:
    """The names of every key marked secret in ``tables`` (and their sub-tables)."""
    names: set[str] = set()
    for table in tables:
        names |= {k.name for k in table.keys if k.secret}
        names |= secret_names(table.tables.values())
    return frozenset(names)


def is_secret_name(name: str, marked: Iterable[str] = ()) -> bool:
    """A key whose value is never shown: marked secret, or named ``*token*``/``*password*``."""
    lower = name.lower()
    return name in set(marked) or "token" in lower or "password" in lower or "secret" in lower


def redact_value(name: str, value: object, marked: Iterable[str] = ()) -> object:
    """``value`` of key ``name`` as it may be shown: a secret is ``***`` (None stays
    None, so "unset" still reads as unset; true or false holds no secret, so a flag
    such as ``reads_need_token`` stays readable); a URL loses its user information."""
    if value is None or isinstance(value, bool):
        return value
    marked = frozenset(marked)
    if is_secret_name(name, marked) and not name.endswith(("_file", "_env")):
        return redact_url(value) if isinstance(value, str) and "://" in value else HIDDEN
    if isinstance(value, str):
        return redact_source(value)
    if isinstance(value, list):
        return [redact_value(name, v, marked) for v in value]
    if isinstance(value, Mapping):
        return redact_config(value, marked)
    return value


def redact_config(document: Mapping[str, object], marked: Iterable[str] = ()) -> dict[str, object]:
    """A config document (or any part of it) with every secret hidden; see ``redact_value``."""
    names = frozenset(marked)
    return {name: redact_value(str(name), value, names) for name, value in document.items()}
