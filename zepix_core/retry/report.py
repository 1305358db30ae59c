"""The retry statistics as operators see them (``zepix retries``, the HTTP API, /metrics).

One record per operation, every known operation listed (zeros when it never
ran), each category always present, and the policy in force beside the
counts: the same document for every surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Protocol

from zepix_core.retry.categories import Category
from zepix_core.retry.policy import OPERATIONS, RetryPolicy, policy_for

_COUNTS = ("calls", "attempts", "first_try_successes", "retry_successes", "exhausted",
           "permanent_failures", "stopped", "consecutive_exhausted")


class StatsSource(Protocol):
    def retry_stats(self) -> list[dict[str, Any]]: ...


def retry_report(source: StatsSource, policies: Mapping[str, RetryPolicy] | None = None
                 ) -> list[dict[str, object]]:
    """Per operation: {``operation``, ``attempts``, ``first_try_successes``,
    ``retry_successes``, ``exhausted``, ``permanent_failures``, ``by_category``,
    ``last_error``, ``last_error_at``} (CONTRACT §13), plus ``calls``,
    ``stopped``, ``total_delay``, ``consecutive_exhausted`` and ``policy``.
    ``by_category`` maps each category to {``failures``, ``gave_up``, ``total_delay``}."""
    policies = policies or OPERATIONS
    stored = {row["operation"]: row for row in source.retry_stats()}
    names = [*OPERATIONS, *sorted(set(stored) - set(OPERATIONS))]
    return [_record(name, stored.get(name, {}), policy_for(policies, name)) for name in names]


def _record(name: str, row: Mapping[str, Any], policy: RetryPolicy) -> dict[str, Any]:
    cats = row.get("by_category") or {}
    by_category = {
        c.value: {"failures": int(cats.get(c.value, {}).get("failures", 0)),
                  "gave_up": int(cats.get(c.value, {}).get("gave_up", 0)),
                  "total_delay": float(cats.get(c.value, {}).get("total_delay", 0.0))}
        for c in Category}
    return {
        "operation": name,
        **{key: int(row.get(key, 0)) for key in _COUNTS},
        "total_delay": float(row.get("total_delay", 0.0)),
        "by_category": by_category,
        "last_error": row.get("last_error"),
        "last_error_at": row.get("last_error_at"),
        "policy": asdict(policy),
    }
