"""Retry policies: one per operation, with documented defaults and config overrides.

A policy says how often and how far apart one operation is tried. Its
delay before retry ``n`` (``n`` = 1 for the first retry) is, before jitter:

==============  ===========================  =====================
strategy        delay                        ``base=1``
==============  ===========================  =====================
``exponential``  ``base * 2**(n-1)``          1, 2, 4, 8 ...
``linear``       ``base * n``                 1, 2, 3, 4 ...
``fixed``        ``base``                     1, 1, 1, 1 ...
``fibonacci``    ``base * fib(n)``            1, 1, 2, 3, 5 ...
==============  ===========================  =====================

capped at ``max_delay``; with ``jitter`` (full jitter) the delay actually
waited is drawn uniformly from ``[0, capped delay]``, so callers that failed
together do not retry in lockstep. ``max_attempts`` counts every try, the
first included.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from zepix_core.contract.errors import ConfigError

Strategy = Literal["exponential", "linear", "fixed", "fibonacci"]
STRATEGIES: tuple[Strategy, ...] = ("exponential", "linear", "fixed", "fibonacci")


@dataclass(frozen=True)
class Policy:
    """How one operation is retried.

    ``retry_after_cap`` bounds a server's ``Retry-After`` (a longer wait is
    cut to it, and the cut is logged); ``unknown_attempts`` bounds the tries
    of a failure nobody could classify (conservative: it may be a bug, not
    weather).
    """

    strategy: Strategy = "exponential"
    base: float = 1.0
    max_delay: float = 30.0
    max_attempts: int = 4
    jitter: bool = True
    retry_after_cap: float = 60.0
    unknown_attempts: int = 3


#: Every outbound operation (CONTRACT §13) and its default policy; docs/operations.md
#: has the same table. Sync uses the 5, 10, 20 s of the batch 09 design, without jitter.
OPERATIONS: Mapping[str, Policy] = {
    "sink.webhook": Policy("exponential", base=0.5, max_delay=30.0, max_attempts=4),
    "sink.telegram": Policy("exponential", base=1.0, max_delay=30.0, max_attempts=4),
    "sink.alertmanager": Policy("exponential", base=1.0, max_delay=30.0, max_attempts=4),
    "telegram": Policy("exponential", base=1.0, max_delay=10.0, max_attempts=3),
    "sync": Policy("exponential", base=5.0, max_delay=60.0, max_attempts=4, jitter=False),
    "store.install": Policy("exponential", base=2.0, max_delay=30.0, max_attempts=3),
}

#: ``[retry]`` keys that are not operation tables.
GLOBAL_DEFAULTS: Mapping[str, Any] = {
    "alert_after": 3,   # exhausted operations in a row that raise an alert
}

_POSITIVE = ("base", "max_delay", "retry_after_cap")
_WHOLE = ("max_attempts", "unknown_attempts")


def policy_for(policies: Mapping[str, Policy], operation: str) -> Policy:
    """The policy of ``operation``: configured, else its default, else ``Policy()``."""
    return policies.get(operation) or OPERATIONS.get(operation) or Policy()


def policies_from_config(table: Mapping[str, Any], where: str = "<config>"
                         ) -> dict[str, Policy]:
    """Every operation's policy with the ``[retry."OPERATION"]`` tables of
    ``table`` applied over the defaults; raises ``ConfigError`` naming
    ``where`` and the key for an unknown operation, key or a bad value."""
    policies = dict(OPERATIONS)
    for name, value in table.items():
        if name in GLOBAL_DEFAULTS:
            continue
        if name not in OPERATIONS or not isinstance(value, Mapping):
            hint = difflib.get_close_matches(name, [*OPERATIONS, *GLOBAL_DEFAULTS], n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else \
                f"known operations: {', '.join(OPERATIONS)}"
            raise ConfigError(f"{where}: retry.{name}: unknown operation or key; {fix}")
        policies[name] = _override(OPERATIONS[name], value, f"{where}: retry.\"{name}\"")
    return policies


def alert_after(table: Mapping[str, Any], where: str = "<config>") -> int:
    """``[retry] alert_after``: exhausted operations in a row that raise an alert."""
    value = table.get("alert_after", GLOBAL_DEFAULTS["alert_after"])
    if not _whole(value) or value < 1:
        raise ConfigError(f"{where}: retry.alert_after: got {value!r}; expected a whole "
                          "number >= 1")
    return int(value)


def _override(default: Policy, table: Mapping[str, Any], where: str) -> Policy:
    known = Policy.__dataclass_fields__
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"known: {', '.join(known)}"
            raise ConfigError(f"{where}.{key}: unknown key; {fix}")
        changes[key] = _checked(key, value, f"{where}.{key}")
    return replace(default, **changes)


def _checked(key: str, value: Any, where: str) -> Any:
    if key == "strategy":
        if value not in STRATEGIES:
            raise ConfigError(f"{where}: got {value!r}; expected one of {', '.join(STRATEGIES)}")
        return value
    if key == "jitter":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: got {value!r}; expected true or false")
        return value
    if key in _WHOLE:
        if not _whole(value) or value < 1:
            raise ConfigError(f"{where}: got {value!r}; expected a whole number >= 1")
        return int(value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where}: got {value!r}; expected a finite number of seconds > 0")
    assert key in _POSITIVE
    return float(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
