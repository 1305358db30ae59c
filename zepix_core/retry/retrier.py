"""Running one operation with retries under its policy, on the caller's thread."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

import tenacity

from zepix_core.contract.errors import ZepixError
from zepix_core.retry.categories import Category, Classified, Classifier, classify
from zepix_core.retry.policy import (
    OPERATIONS,
    RetryPolicy,
    alert_after,
    policies_from_config,
    policy_for,
)
from zepix_core.retry.stats import OperationOutcome, Result, RetryBook, RetryStats
from zepix_core.retry.waits import policy_wait

T = TypeVar("T")

#: Seconds between looks at the stop flag while an async retry waits.
_SLICE = 0.1


class RetryFailed(ZepixError):
    """An operation failed for good; ``outcome`` says how (and ``__cause__`` is the
    last error)."""

    def __init__(self, outcome: OperationOutcome) -> None:
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

    def __init__(self, policies: Mapping[str, RetryPolicy] | None = None, *,
                 stats: RetryStats | None = None,
                 sleep: Callable[[float], None] | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        self.policies = dict(OPERATIONS if policies is None else policies)
        self.stats = stats if stats is not None else RetryStats()
        self._sleep, self._rand = sleep, rand
        self._stop = threading.Event()

    def policy(self, operation: str) -> RetryPolicy:
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
        run = self._start(operation, classifier)

        def attempt() -> T:
            with run.noting():
                return fn()

        retrying = tenacity.Retrying(sleep=run.sleep, **run.settings())
        try:
            value = retrying(attempt)
        except _Interrupted:
            raise run.failed(stopped=True) from None
        except Exception as exc:
            raise run.failed() from exc
        run.succeeded()
        return value

    async def run_async(self, operation: str, fn: Callable[[], Awaitable[T]], *,
                        classifier: Classifier | None = None) -> T:
        """``await fn()`` under ``operation``'s policy, waiting with ``asyncio.sleep``
        (for asyncio callers such as python-telegram-bot); as ``run`` otherwise."""
        run = self._start(operation, classifier)

        async def attempt() -> T:
            with run.noting():
                return await fn()

        retrying = tenacity.AsyncRetrying(sleep=run.sleep_async, **run.settings())
        try:
            value = cast(T, await retrying(attempt))
        except _Interrupted:
            raise run.failed(stopped=True) from None
        except Exception as exc:
            raise run.failed() from exc
        run.succeeded()
        return value

    def _start(self, operation: str, classifier: Classifier | None) -> _Run:
        return _Run(operation, self.policy(operation), classifier, stop=self._stop,
                    sleep=self._sleep, rand=self._rand, stats=self.stats)


class _Run:
    """One ``run``: the failures seen, the waits made, and how it ended."""

    def __init__(self, operation: str, policy: RetryPolicy, classifier: Classifier | None, *,
                 stop: threading.Event, sleep: Callable[[float], None] | None,
                 rand: Callable[[], float], stats: RetryStats) -> None:
        self.operation, self.policy, self.classifier = operation, policy, classifier
        self.stop, self.sleep_fn, self.rand, self.stats = stop, sleep, rand, stats
        self.failures: list[Classified] = []
        self.waited: list[float] = []

    def settings(self) -> dict[str, Any]:
        """tenacity's stop, wait and retry for this run."""
        return {"stop": self.give_up,
                "wait": policy_wait(self.policy, self.failures, self.rand, self.operation),
                "retry": tenacity.retry_if_exception_type(Exception), "reraise": True}

    def give_up(self, state: tenacity.RetryCallState) -> bool:
        return self.stop.is_set() or \
            state.attempt_number >= _limit(self.policy, self.failures[-1].category)

    @contextlib.contextmanager
    def noting(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self.failures.append(_classify(exc, self.classifier))
            raise

    def sleep(self, seconds: float) -> None:
        if self.sleep_fn is not None:
            self.sleep_fn(seconds)
            self._waited(seconds, self.stop.is_set())
            return
        started = time.monotonic()
        interrupted = self.stop.wait(seconds)
        self._waited(time.monotonic() - started if interrupted else seconds, interrupted)

    async def sleep_async(self, seconds: float) -> None:
        if self.sleep_fn is not None:
            self.sleep_fn(seconds)
            self._waited(seconds, self.stop.is_set())
            return
        started = time.monotonic()   # in slices: a stop is seen within _SLICE, no thread
        while not self.stop.is_set() and (left := started + seconds - time.monotonic()) > 0:
            await asyncio.sleep(min(_SLICE, left))
        interrupted = self.stop.is_set()
        self._waited(time.monotonic() - started if interrupted else seconds, interrupted)

    def _waited(self, seconds: float, interrupted: bool) -> None:
        """Note a wait (the part actually waited, when a stop cut it short)."""
        self.waited.append(seconds)
        if interrupted:
            raise _Interrupted

    def failed(self, stopped: bool = False) -> RetryFailed:
        last = self.failures[-1].category
        result: Result = ("stopped" if stopped else "permanent" if last is Category.PERMANENT
                          else "stopped" if len(self.failures) < _limit(self.policy, last)
                          else "exhausted")
        return RetryFailed(self._finish(result))

    def succeeded(self) -> None:
        self._finish("retried" if self.failures else "first_try")

    def _finish(self, result: Result) -> OperationOutcome:
        ok = result in ("first_try", "retried")
        outcome = OperationOutcome(self.operation, result, attempts=len(self.failures) + ok,
                          failures=tuple(self.failures), delay=sum(self.waited),
                          delays=tuple(self.waited))
        self.stats.record(outcome)
        return outcome


def _limit(policy: RetryPolicy, category: Category) -> int:
    """How many tries a failure of ``category`` allows in all."""
    if category is Category.PERMANENT:
        return 1
    if category is Category.UNKNOWN:
        return min(policy.max_attempts, policy.unknown_attempts)
    return policy.max_attempts


def _classify(exc: BaseException, classifier: Classifier | None) -> Classified:
    if classifier is not None:
        try:
            verdict = classifier(exc)
        except Exception:  # noqa: BLE001 - a broken classifier must not hide the failure
            verdict = None
        if verdict is not None:
            return verdict
    return classify(exc)


def retrier_from_config(table: Mapping[str, object], book: RetryBook | None = None,
                        where: str = "<config>") -> Retrier:
    """A host's retrier: ``[retry]`` (``table``) over the default policies, with
    statistics persisted to ``book``; raises ``ConfigError`` for a bad table."""
    stats = RetryStats(book, alert_after=alert_after(table, where))
    return Retrier(policies_from_config(table, where), stats=stats)
