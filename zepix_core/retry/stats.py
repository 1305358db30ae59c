"""Statistics of retried operations: counted per operation and category, kept in
the database so a restart keeps them until ``zepix retries --reset``."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
from zepix_core.retry.categories import Category, Classified
from zepix_core.storage.rows import RetryOutcome

log = logging.getLogger("zepix.retry")

Result = Literal["first_try", "retried", "exhausted", "permanent", "stopped"]


@dataclass(frozen=True)
class OperationOutcome:
    """How one operation ended after all its tries.

    ``result``: ``first_try`` and ``retried`` succeeded; ``exhausted`` ran out
    of attempts; ``permanent`` failed in a way never retried; ``stopped`` was
    cut short by shutdown (what it carried was not delivered). ``failures``
    holds every failed try in order; ``delay`` the seconds waited in total.
    """

    operation: str
    result: Result
    attempts: int
    failures: tuple[Classified, ...] = ()
    delay: float = 0.0
    delays: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result in ("first_try", "retried")

    @property
    def last_error(self) -> str | None:
        return self.failures[-1].error if self.failures else None

    @property
    def category(self) -> Category | None:
        """The category of the last failure, if any."""
        return self.failures[-1].category if self.failures else None


class RetryBook(Protocol):
    """Where outcomes are persisted (``storage.RetryQueries`` implements it)."""

    def record_retry_outcome(self, outcome: RetryOutcome,
                             by_category: Mapping[str, Mapping[str, float]]) -> None: ...


#: ``on_streak(operation, exhausted_in_a_row, firing, last_error)``: raise (``firing``)
#: or clear the alert for an operation that keeps exhausting its retries.
OnStreak = Callable[[str, int, bool, "str | None"], None]


class RetryStats:
    """Counts outcomes, persists each to ``book`` (if any) and watches streaks.

    After ``alert_after`` exhausted outcomes of one operation in a row,
    ``on_streak`` is told (firing); the next success clears it. A storage
    failure is logged, never raised: bookkeeping must not stop delivery.
    """

    def __init__(self, book: RetryBook | None = None, *, alert_after: int = 3,
                 on_streak: OnStreak | None = None,
                 wall: Callable[[], float] | None = None) -> None:
        self.book, self.alert_after, self.on_streak = book, alert_after, on_streak
        self._wall = wall or time.time
        self._lock = threading.Lock()
        self._streaks: dict[str, int] = {}
        #: This process's latest outcomes, newest last (for tests and diagnostics).
        self.outcomes: deque[OperationOutcome] = deque(maxlen=1000)

    def record(self, outcome: OperationOutcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)
            before = self._streaks.get(outcome.operation, 0)
            streak = before + 1 if outcome.result == "exhausted" else \
                0 if outcome.ok else before
            self._streaks[outcome.operation] = streak
        self._persist(outcome, streak)
        if self.on_streak is None:
            return
        if streak >= self.alert_after and before < streak:
            self._notify(outcome.operation, streak, True, outcome.last_error)
        elif before >= self.alert_after and streak == 0:
            self._notify(outcome.operation, 0, False, None)

    def streak(self, operation: str) -> int:
        with self._lock:
            return self._streaks.get(operation, 0)

    def _persist(self, outcome: OperationOutcome, streak: int) -> None:
        if self.book is None:
            return
        row: RetryOutcome = {"operation": outcome.operation, "result": outcome.result,
                             "attempts": outcome.attempts, "delay": outcome.delay,
                             "last_error": outcome.last_error, "at": self._wall(),
                             "streak": streak}
        try:
            self.book.record_retry_outcome(row, by_category(outcome))
        except StorageError as exc:
            log.warning("retry statistics not recorded",
                        extra=fields(operation=outcome.operation, error=str(exc)))

    def _notify(self, operation: str, streak: int, firing: bool, error: str | None) -> None:
        assert self.on_streak is not None
        try:
            self.on_streak(operation, streak, firing, error)
        except Exception as exc:  # noqa: BLE001 - a broken callback must not stop retries
            log.error("retry streak callback failed",
                      extra=fields(operation=operation, error=repr(exc)))


def by_category(outcome: OperationOutcome) -> dict[str, dict[str, float]]:
    """Per category of ``outcome``'s failures: ``failures``, ``delay`` waited after
    them, and ``gave_up`` (1 for the category of the failure it ended on)."""
    found: dict[str, dict[str, float]] = {}
    waits = list(outcome.delays) + [0.0] * len(outcome.failures)
    for failure, waited in zip(outcome.failures, waits, strict=False):
        entry = found.setdefault(failure.category.value,
                                 {"failures": 0, "delay": 0.0, "gave_up": 0})
        entry["failures"] += 1
        entry["delay"] += waited
    if not outcome.ok and outcome.category is not None:
        found[outcome.category.value]["gave_up"] += 1
    return found
