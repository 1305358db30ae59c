"""A circuit breaker around one plugin's work hook.

While the breaker is OPEN the plugin gets no market data: a strategy that
keeps failing on bars is safer silent than trading on half-processed input.
Pure logic with an injected clock; the host asks ``allow()`` before each work
call and ``record()``s its outcome. Design notes are in docs/supervision.md
("Circuit breaker").
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from zepix_core.contract.model import BreakerState

Clock = Callable[[], float]


@dataclass(frozen=True)
class Transition:
    """One state change, for alerts and the health record."""

    old: BreakerState
    new: BreakerState
    reason: str
    at: float


@dataclass(frozen=True)
class BreakerStats:
    """What ``zepix health`` shows about a breaker."""

    state: BreakerState
    consecutive_failures: int
    calls_in_window: int
    failure_rate: float | None
    retry_at: float | None
    #: Wall-clock time (``time.time``) of the last failed call, None before one.
    last_failure_at: float | None = None
    #: Opened by an operator: it stays OPEN until ``reset``.
    forced: bool = False


class CircuitBreaker:
    """CLOSED -> OPEN on 5 consecutive failures or a failure rate of at least
    ``rate_threshold`` over the last ``window`` calls (once ``min_calls`` are
    in it); OPEN -> HALF_OPEN after ``open_for`` seconds; HALF_OPEN lets at most
    ``half_open_trials`` calls through at once, closes after ``close_after``
    successes and reopens on any failure.

    ``on_transition`` is called after each change, outside the breaker's lock,
    so it may call back into the breaker. The move to HALF_OPEN happens on the
    first ``allow()`` or ``state`` read after ``open_for`` has passed.
    """

    def __init__(
        self, failure_threshold: int = 5, rate_threshold: float = 0.5,
        min_calls: int = 20, window: int = 50, open_for: float = 60.0,
        half_open_trials: int = 3, close_after: int = 2, clock: Clock = time.monotonic,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        if failure_threshold < 1 or not 0 < rate_threshold <= 1 or not 1 <= min_calls <= window:
            raise ValueError("need failure_threshold >= 1, 0 < rate_threshold <= 1 "
                             "and 1 <= min_calls <= window")
        if open_for < 0 or half_open_trials < 1 or not 1 <= close_after <= half_open_trials:
            raise ValueError("need open_for >= 0 and 1 <= close_after <= half_open_trials")
        self.failure_threshold, self.rate_threshold = failure_threshold, rate_threshold
        self.min_calls, self.open_for = min_calls, open_for
        self.half_open_trials, self.close_after = half_open_trials, close_after
        self._clock, self._on_transition = clock, on_transition
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._consecutive = 0
        self._opened_at = 0.0
        self._in_flight = 0
        self._trial_successes = 0
        self._forced = False
        self._last_failure_at: float | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            event = self._maybe_half_open()
            state = self._state
        self._emit(event)
        return state

    def allow(self) -> bool:
        """Whether the next work call may go to the plugin; a True in
        HALF_OPEN reserves one trial slot until its ``record()``."""
        seen = self._state
        if seen is BreakerState.CLOSED:  # the hot path: only OPEN changes by time alone
            return True
        with self._lock:
            event = self._maybe_half_open()
            if self._state is BreakerState.CLOSED:
                allowed = True
            elif self._state is BreakerState.HALF_OPEN:
                allowed = self._in_flight < self.half_open_trials
                self._in_flight += allowed
            else:
                allowed = False
        self._emit(event)
        return allowed

    def record(self, success: bool) -> None:
        """The outcome of an allowed call; a timeout counts as a failure."""
        with self._lock:
            if not success:
                self._last_failure_at = time.time()
            if self._state is BreakerState.CLOSED:
                event = self._record_closed(success)
            elif self._state is BreakerState.HALF_OPEN and self._in_flight:
                event = self._record_trial(success)
            else:
                # OPEN, or a late answer from before the trial: it says nothing
                # about the plugin as it is now.
                event = None
        self._emit(event)

    def record_successes(self, count: int) -> None:
        """``count`` allowed calls that succeeded, in a row (one feed of many bars)."""
        with self._lock:
            closed = self._state is BreakerState.CLOSED
            if closed:
                self._outcomes.extend([True] * count)
                self._consecutive = 0
        if not closed:  # a trial: each success counts on its own
            for _ in range(count):
                self.record(True)

    def reset(self) -> None:
        """Close the breaker by operator decision."""
        with self._lock:
            self._forced = False
            event = self._move(BreakerState.CLOSED, "reset by operator")
        self._emit(event)

    def force_open(self, reason: str = "opened by operator") -> None:
        """Open the breaker by operator decision; it stays OPEN (no trial calls) until
        ``reset``."""
        with self._lock:
            self._forced = True
            event = self._move(BreakerState.OPEN, reason)
        self._emit(event)

    def stats(self) -> BreakerStats:
        with self._lock:
            event = self._maybe_half_open()
            calls = len(self._outcomes)
            rate = (calls - sum(self._outcomes)) / calls if calls else None
            retry = (self._opened_at + self.open_for
                     if self._state is BreakerState.OPEN and not self._forced else None)
            stats = BreakerStats(self._state, self._consecutive, calls, rate, retry,
                                 self._last_failure_at, self._forced)
        self._emit(event)
        return stats

    def _record_closed(self, success: bool) -> Transition | None:
        self._outcomes.append(success)
        self._consecutive = 0 if success else self._consecutive + 1
        if self._consecutive >= self.failure_threshold:
            return self._move(BreakerState.OPEN,
                              f"{self._consecutive} consecutive failures")
        calls = len(self._outcomes)
        failures = calls - sum(self._outcomes)
        if calls >= self.min_calls and failures / calls >= self.rate_threshold:
            return self._move(BreakerState.OPEN,
                              f"{failures} of the last {calls} calls failed "
                              f"(threshold {self.rate_threshold:.0%})")
        return None

    def _record_trial(self, success: bool) -> Transition | None:
        self._in_flight -= 1
        if not success:
            return self._move(BreakerState.OPEN, "a trial call failed while half open")
        self._trial_successes += 1
        if self._trial_successes >= self.close_after:
            return self._move(BreakerState.CLOSED,
                              f"{self._trial_successes} trial calls succeeded")
        return None

    def _maybe_half_open(self) -> Transition | None:
        if (self._state is BreakerState.OPEN and not self._forced
                and self._clock() - self._opened_at >= self.open_for):
            return self._move(BreakerState.HALF_OPEN,
                              f"open for {self.open_for:g}s, trying again")
        return None

    def _move(self, new: BreakerState, reason: str) -> Transition | None:
        old = self._state
        now = self._clock()
        # Every state starts from a clean slate: old outcomes must neither
        # reopen a freshly closed breaker nor count toward trials.
        self._state = new
        self._outcomes.clear()
        self._consecutive = 0
        self._in_flight = 0
        self._trial_successes = 0
        if new is BreakerState.OPEN:
            self._opened_at = now
        return Transition(old, new, reason, now) if old is not new else None

    def _emit(self, event: Transition | None) -> None:
        if event is not None and self._on_transition is not None:
            self._on_transition(event)
