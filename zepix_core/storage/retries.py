"""Queries on retry statistics: one row per operation, one per operation and category."""

from __future__ import annotations

from collections.abc import Mapping

from zepix_core.storage.db import Database, Row
from zepix_core.storage.rows import RetryOutcome

#: Which counter an outcome's ``result`` bumps.
_COUNTER = {"first_try": "first_try_successes", "retried": "retry_successes",
            "exhausted": "exhausted", "permanent": "permanent_failures", "stopped": "stopped"}


class RetryQueries(Database):
    def record_retry_outcome(self, outcome: RetryOutcome,
                             by_category: Mapping[str, Mapping[str, float]]) -> None:
        """Add one operation's outcome (``operation``, ``result``, ``attempts``,
        ``delay``, ``last_error``, ``at``, ``streak``) and its failures per category."""
        counter = _COUNTER[outcome["result"]]  # a fixed column name, never input
        op, at, error = outcome["operation"], outcome["at"], outcome["last_error"]
        with self.transaction() as conn:
            conn.execute("INSERT INTO retry_stats (operation, updated_at) VALUES (?, ?) "
                         "ON CONFLICT (operation) DO NOTHING", (op, at))
            conn.execute(
                # S608: counter is a fixed column name from _COUNTER
                f"UPDATE retry_stats SET calls = calls + 1, attempts = attempts + ?, "  # noqa: S608
                f"{counter} = {counter} + 1, total_delay = total_delay + ?, "
                "consecutive_exhausted = ?, updated_at = ?, "
                "last_error = COALESCE(?, last_error), "
                "last_error_at = CASE WHEN ? IS NULL THEN last_error_at ELSE ? END "
                "WHERE operation = ?",
                (outcome["attempts"], outcome["delay"], outcome["streak"],
                 at, error, error, at, op))
            for category, counts in by_category.items():
                conn.execute(
                    "INSERT INTO retry_categories (operation, category, failures, gave_up, "
                    "total_delay) VALUES (?, ?, ?, ?, ?) ON CONFLICT (operation, category) "
                    "DO UPDATE SET failures = failures + excluded.failures, "
                    "gave_up = gave_up + excluded.gave_up, "
                    "total_delay = total_delay + excluded.total_delay",
                    (op, category, int(counts["failures"]), int(counts["gave_up"]),
                     float(counts["delay"])))

    def retry_stats(self) -> list[Row]:
        """Every operation's counters, by name, each with ``by_category``."""
        rows = self.query("SELECT * FROM retry_stats ORDER BY operation")
        cats: dict[str, dict[str, Row]] = {}
        for row in self.query("SELECT * FROM retry_categories ORDER BY operation, category"):
            cats.setdefault(row.pop("operation"), {})[row.pop("category")] = row
        for row in rows:
            row["by_category"] = cats.get(row["operation"], {})
        return rows

    def reset_retry_stats(self) -> int:
        """Clear every retry statistic; returns how many operations had some."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM retry_categories")
            return conn.execute("DELETE FROM retry_stats").rowcount
