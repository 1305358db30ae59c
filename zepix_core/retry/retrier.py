"""Running one operation with retries under its policy, on the caller's thread."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import tenacity

from zepix_core.contract.errors import ZepixError
from zepix_core.retry.categories import Category, Classified, Classifier, classify
from zepix_core.retry.policy import (
    OPERATIONS,
    Policy,
    alert_after,
    policies_from_config,
    policy_for,
)
from zepix_core.retry.stats import Outcome, Result, RetryBook, RetryStats
from zepix_core.retry.waits import policy_wait

T = TypeVar("T")


class RetryFailed(ZepixError):
    """An operation failed for good; ``outcome`` says how (and ``__cause__`` is the
    last error)."""

    def __init__(self, outcome: Outcome) -> None:
        how = {"exhausted": f"gave up after {outcome.attempts} attempts",
               "permanent": "permanent failure, not retried",
               "stopped": f"stopped by shutdown after {outcome.attempts} attempts"}
        super().__init__(f"{outcome.operation}: {how.get(outcome.result, outcome.result)}: "
                         f"{outcome.last_error}")
        self.outcome = outcome


class _Interrupted(Exception):
    """The retrier was stopped while waiting for the next try."""


class Retrier:
    """Runs operations with retries; one instance serves every thread of a host.

    ``run`` blocks the calling thread while it waits between tries, so call it
    from the operation's own thread (a sink's delivery thread, the sync
    thread), never from a monitoring round or the bar path. ``stop()`` ends
    every wait at once: the waiting call raises ``RetryFailed`` with result
    ``stopped``; later calls get one try and no retry.

    ``sleep`` (tests: ``FakeClock.sleep``) replaces the real wait; ``rand``
    draws the jitter in ``[0, 1)``.
    """

    def __init__(self, policies: Mapping[str, Policy] | None = None, *,
                 stats: RetryStats | None = None,
                 sleep: Callable[[float], None] | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        self.policies = dict(OPERATIONS if policies is None else policies)
        self.stats = stats if stats is not None else RetryStats()
        self._sleep, self._rand = sleep, rand
        self._stop = threading.Event()

    def policy(self, operation: str) -> Policy:
        return policy_for(self.policies, operation)

    def stop(self) -> None:
        """End every wait now; from here on, each operation gets a single try."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self, operation: str, fn: Callable[[], T], *,
            classifier: Classifier | None = None) -> T:
        """``fn()`` under ``operation``'s policy; its result, or ``RetryFailed``."""
        policy = self.policy(operation)
        failures: list[Classified] = []
        waited: list[float] = []

        def attempt() -> T:
            try:
                return fn()
            except Exception as exc:
                failures.append(_classify(exc, classifier))
                raise

        retrying = tenacity.Retrying(
            stop=lambda state: self._give_up(policy, failures, state.attempt_number),
            wait=policy_wait(policy, failures, self._rand, operation),
            retry=tenacity.retry_if_exception_type(Exception),
            sleep=lambda seconds: self._wait(seconds, waited), reraise=True)
        try:
            value = retrying(attempt)
        except _Interrupted:
            raise RetryFailed(self._finish(operation, "stopped", failures, waited)) from None
        except Exception as exc:
            result = self._failed(policy, failures)
            raise RetryFailed(self._finish(operation, result, failures, waited)) from exc
        self._finish(operation, "retried" if failures else "first_try", failures, waited)
        return value

    def _give_up(self, policy: Policy, failures: list[Classified], attempts: int) -> bool:
        return self._stop.is_set() or attempts >= _limit(policy, failures[-1].category)

    def _failed(self, policy: Policy, failures: list[Classified]) -> Result:
        last = failures[-1].category
        if last is Category.PERMANENT:
            return "permanent"
        return "stopped" if len(failures) < _limit(policy, last) else "exhausted"

    def _wait(self, seconds: float, waited: list[float]) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
            interrupted = self._stop.is_set()
        else:
            interrupted = self._stop.wait(seconds)
        waited.append(seconds)
        if interrupted:
            raise _Interrupted

    def _finish(self, operation: str, result: Result, failures: list[Classified],
                waited: list[float]) -> Outcome:
        outcome = Outcome(operation, result, attempts=len(failures) + (result in (
            "first_try", "retried")), failures=tuple(failures), delay=sum(waited),
            delays=tuple(waited))
        self.stats.record(outcome)
        return outcome


def _limit(policy: Policy, category: Category) -> int:
    """How many tries a failure of ``category`` allows in all."""
    if category is Category.PERMANENT:
        return 1
    if category is Category.UNKNOWN:
        return min(policy.max_attempts, policy.unknown_attempts)
    return policy.max_attempts


def _classify(exc: BaseException, classifier: Classifier | None) -> Classified:
    if classifier is not None:
        verdict = classifier(exc)
        if verdict is not None:
            return verdict
    return classify(exc)


def retrier_from_config(table: Mapping[str, Any], book: RetryBook | None = None,
                        where: str = "<config>") -> Retrier:
    """A host's retrier: ``[retry]`` (``table``) over the default policies, with
    statistics persisted to ``book``; raises ``ConfigError`` for a bad table."""
    stats = RetryStats(book, alert_after=alert_after(table, where))
    return Retrier(policies_from_config(table, where), stats=stats)
