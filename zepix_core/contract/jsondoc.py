"""Strict JSON: what the host stores and prints never holds ``NaN`` or ``Infinity``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

#: A JSON document as ``json.loads`` gives it back (once narrowed).
JSON: TypeAlias = "str | int | float | bool | None | list[JSON] | dict[str, JSON]"
#: Plain data that dumps as JSON: read-only containers, so ``list[str]`` fits.
JSONLike: TypeAlias = ("str | int | float | bool | None | Sequence[JSONLike] "
                       "| Mapping[str, JSONLike]")
#: A JSON object as the host writes it (an API reply, a ``--json`` document).
JSONObject: TypeAlias = dict[str, JSONLike]


def finite(value: object) -> object:
    """``value`` with non-finite floats as None, tuples as lists, other objects as str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return str(value)


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` of ``finite(value)`` with ``allow_nan=False``."""
    return json.dumps(finite(value), allow_nan=False, **options)


#: In the output only when a key was a bool or None (values print unquoted), or a
#: string equals one of these words: then the slow path decides.
_KEY_WORDS = ('"true"', '"false"', '"null"')


def dumps_plain(value: object) -> str:
    """``dumps(value)``, exactly, but at C speed for plain data (``boundary.plain``'s
    output and host records: dict, list, str, int, float, bool, None): the walk of
    ``finite`` runs only when ``json.dumps`` meets NaN, infinity, another type, or
    a key that is a bool or None. A monitoring round writes one snapshot per
    plugin; the walk was a fifth of a round over 1,000 plugins."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return dumps(value)
    if any(word in text for word in _KEY_WORDS):
        return dumps(value)
    return text
