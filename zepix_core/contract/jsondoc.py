"""Strict JSON: what the host stores and prints never holds ``NaN`` or ``Infinity``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def finite(value: Any) -> Any:
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
