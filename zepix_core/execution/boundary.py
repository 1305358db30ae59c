"""The boundary where a plugin's values enter the host.

Every reply of every hook passes ``plain`` once, on the thread (or in the
worker process) that ran the plugin, under the call's deadline. What comes
out is builtin data within ``ReplyLimits``: ``None``, ``bool``, ``int``, finite
``float``, ``str``, ``list`` and ``dict`` with scalar keys. Code after the
boundary never touches a plugin's objects, so no ``__eq__``, ``__hash__``,
``__iter__``, ``__str__`` or ``__repr__`` of a plugin runs in the host's own
code paths. Anything else, a dunder that raises included, is a ``WrongShape``
with one line saying where and what.

The node count counts visits, not objects: a small structure of shared
references that expands exponentially stops at ``nodes`` like a big one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zepix_core.contract.errors import WrongShape, describe


@dataclass(frozen=True)
class ReplyLimits:
    """How much plain data one reply may hold."""

    depth: int = 32             # containers inside containers
    nodes: int = 20_000         # values visited, shared references counted each time
    string: int = 64 * 1024     # characters of one string
    total: int = 1024 * 1024    # characters of all strings together
    integer_bits: int = 64      # an int beyond +-2**64 is no count or price


LIMITS = ReplyLimits()
_KEY_TYPES = (str, int, float, bool, type(None))


class _Bad(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why
        self.path: list[str] = []


def plain(value: object, limits: ReplyLimits = LIMITS) -> object:
    """``value`` as plain bounded data; raises ``WrongShape`` naming the problem."""
    walk = _Walk(limits)
    try:
        return walk.convert(value, 0)
    except _Bad as bad:
        where = "".join(reversed(bad.path))
        where = where if len(where) <= 60 else where[:57] + "..."
        raise WrongShape(f"reply{where}: {bad.why}" if where else f"reply: {bad.why}") from None
    except RecursionError:
        raise WrongShape(f"reply nested deeper than {limits.depth} levels") from None
    except BaseException as exc:  # noqa: BLE001 - a plugin's dunder may raise anything
        raise WrongShape(f"reading the reply raised {describe(exc)}") from None


def is_finite_number(value: object) -> bool:
    """A real number the host can store and print as JSON (not bool, not NaN/inf)."""
    kind = type(value)
    return (kind is int or kind is float) and math.isfinite(value)  # type: ignore[arg-type]


class _Walk:
    def __init__(self, limits: ReplyLimits) -> None:
        self.limits = limits
        self.nodes = 0
        self.chars = 0

    def convert(self, value: object, depth: int) -> object:
        self.nodes += 1
        if self.nodes > self.limits.nodes:
            raise _Bad(f"more than {self.limits.nodes} values")
        kind = type(value)
        if value is None or kind is bool:
            return value
        scalar = self._scalar(value, kind)
        if scalar is not _NONE:
            return scalar
        if depth >= self.limits.depth:
            raise _Bad(f"nested deeper than {self.limits.depth} levels")
        if issubclass(kind, dict):
            return self._mapping(list(dict.items(value)), depth)  # type: ignore[arg-type]
        if issubclass(kind, (list, tuple)):
            base: Any = list if issubclass(kind, list) else tuple
            return self._sequence(base.__iter__(value), depth)
        if isinstance(value, Mapping):  # a plugin's own mapping: its items() is plugin code
            return self._mapping(list(value.items()), depth)
        raise _Bad(f"{_name(kind)} is not plain data (use dict, list, str, int, float, bool, "
                   "None)")

    def _scalar(self, value: object, kind: type) -> object:
        if issubclass(kind, int):
            return self._int(int.__index__(value))  # type: ignore[arg-type]
        if issubclass(kind, float):
            return self._float(float.__float__(value))  # type: ignore[arg-type]
        if issubclass(kind, str):
            return self._str(str.__str__(value))
        if isinstance(value, numbers.Integral):  # numpy integers and the like
            return self._int(int.__index__(value.__index__()))
        if isinstance(value, numbers.Real):
            number = value.__float__()
            return self._float(float.__float__(number) if isinstance(number, float) else
                               _raise(f"{_name(kind)}.__float__ returned no float"))
        return _NONE

    def _int(self, number: int) -> int:
        if number.bit_length() > self.limits.integer_bits:
            raise _Bad(f"integer with {number.bit_length()} bits is too large")
        return number

    def _float(self, number: float) -> float:
        if not math.isfinite(number):
            raise _Bad(f"{number!r} is not a finite number (NaN and infinity cannot be "
                       "stored or compared: leave the value out or send a finite one)")
        return number

    def _str(self, text: str) -> str:
        if len(text) > self.limits.string:
            raise _Bad(f"string of {len(text)} characters exceeds {self.limits.string}")
        self.chars += len(text)
        if self.chars > self.limits.total:
            raise _Bad(f"strings exceed {self.limits.total} characters in all")
        return text

    def _mapping(self, items: list[tuple[object, object]], depth: int) -> dict[object, object]:
        out: dict[object, object] = {}
        for key, item in items:
            plain_key = self.convert(key, depth + 1)
            if type(plain_key) not in _KEY_TYPES:
                raise _Bad(f"a key of type {_name(type(key))} is not a str or number")
            try:
                out[plain_key] = self.convert(item, depth + 1)
            except _Bad as bad:
                bad.path.append(f"[{_short(plain_key)}]")
                raise
        return out

    def _sequence(self, items: Any, depth: int) -> list[object]:
        out = []
        for index, item in enumerate(items):
            if index >= self.limits.nodes:
                raise _Bad(f"more than {self.limits.nodes} values")
            try:
                out.append(self.convert(item, depth + 1))
            except _Bad as bad:
                bad.path.append(f"[{index}]")
                raise
        return out


_NONE = object()


def _raise(why: str) -> float:
    raise _Bad(why)


def _name(kind: type) -> str:
    name = type.__dict__["__name__"].__get__(kind)
    return name if type(name) is str else "object"


def _short(key: object) -> str:
    text = repr(key)  # a plain key: str, int, float, bool or None
    return text if len(text) <= 40 else text[:37] + "..."
