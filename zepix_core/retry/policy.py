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

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from zepix_core.contract.configschema import Key, Table, require

Strategy = Literal["exponential", "linear", "fixed", "fibonacci"]
STRATEGIES: tuple[Strategy, ...] = ("exponential", "linear", "fixed", "fibonacci")


@dataclass(frozen=True)
class RetryPolicy:
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
OPERATIONS: Mapping[str, RetryPolicy] = {
    "sink.webhook": RetryPolicy("exponential", base=0.5, max_delay=30.0, max_attempts=4),
    "sink.telegram": RetryPolicy("exponential", base=1.0, max_delay=30.0, max_attempts=4),
    "sink.alertmanager": RetryPolicy("exponential", base=1.0, max_delay=30.0, max_attempts=4),
    "telegram": RetryPolicy("exponential", base=1.0, max_delay=10.0, max_attempts=3),
    "sync": RetryPolicy("exponential", base=5.0, max_delay=60.0, max_attempts=4, jitter=False),
    "store.install": RetryPolicy("exponential", base=2.0, max_delay=30.0, max_attempts=3),
}

#: ``[retry]`` keys that are not operation tables.
GLOBAL_DEFAULTS: Mapping[str, object] = {
    "alert_after": 3,   # exhausted operations in a row that raise an alert
}



def _policy_table(operation: str, policy: RetryPolicy) -> Table:
    """The ``[retry."OPERATION"]`` table, declared with ``policy``'s values as defaults."""
    return Table(f'retry."{operation}"', (
        Key("strategy", "str", policy.strategy, "how delays grow", choices=STRATEGIES,
            live=False),
        Key("base", "float", policy.base, "seconds: the first delay", minimum=0, above=True, live=False),
        Key("max_delay", "float", policy.max_delay, "seconds: the longest delay",
            minimum=0, above=True, live=False),
        Key("max_attempts", "int", policy.max_attempts, "tries, the first included",
            minimum=1, live=False),
        Key("jitter", "bool", policy.jitter, "full jitter on each delay", live=False),
        Key("retry_after_cap", "float", policy.retry_after_cap,
            "seconds: the longest Retry-After obeyed", minimum=0, above=True, live=False),
        Key("unknown_attempts", "int", policy.unknown_attempts,
            "tries of a failure nobody classified", minimum=1, live=False),
    ))


#: ``[retry]``, declared once: ``alert_after`` and one table per operation. Read at start.
RETRY_TABLE = Table("retry", (
    Key("alert_after", "int", GLOBAL_DEFAULTS["alert_after"],
        "exhausted operations in a row that raise an alert", minimum=1, live=False),
), "retry policies per outbound operation (docs/operations.md)",
    tables={name: _policy_table(name, policy) for name, policy in OPERATIONS.items()})


def policy_for(policies: Mapping[str, RetryPolicy], operation: str) -> RetryPolicy:
    """The policy of ``operation``: configured, else its default, else ``RetryPolicy()``."""
    return policies.get(operation) or OPERATIONS.get(operation) or RetryPolicy()


def policies_from_config(table: Mapping[str, Any], where: str = "<config>"
                         ) -> dict[str, RetryPolicy]:
    """Every operation's policy with the ``[retry."OPERATION"]`` tables of
    ``table`` applied over the defaults; raises ``ConfigError`` naming
    ``where`` and the key for an unknown operation, key or a bad value."""
    require(RETRY_TABLE, table, ("retry",), where)
    policies = dict(OPERATIONS)
    for name, value in table.items():
        if name in OPERATIONS:
            policies[name] = replace(OPERATIONS[name], **RETRY_TABLE.tables[name].typed(value))
    return policies


def alert_after(table: Mapping[str, Any], where: str = "<config>") -> int:
    """``[retry] alert_after``: exhausted operations in a row that raise an alert."""
    require(RETRY_TABLE, {k: v for k, v in table.items() if k == "alert_after"}, ("retry",),
            where)
    return int(table.get("alert_after", GLOBAL_DEFAULTS["alert_after"]))
