"""When to restart a plugin that went down, and when to stop trying.

Pure logic: the caller reports failures and healthy observations with a
timestamp and gets back a decision; nothing here sleeps, spawns or logs. The
clock and the random source are injected so every rule is tested with a fake
clock. Design notes are in docs/supervision.md ("Restart policy").
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True)
class RestartDecision:
    """What to do about one failure.

    ``attempt`` is the restart's number within the current incident (1 for the
    first restart); when ``restart`` is false it is the attempt that was
    refused and ``reason`` says why the policy gave up.
    """

    restart: bool
    delay: float
    attempt: int
    reason: str


class RestartPolicy:
    """Exponential backoff with jitter and a cap, bounded twice over.

    * at most ``max_attempts`` restarts per *incident*; an incident ends when
      the plugin has stayed up for ``stable_after`` seconds;
    * at most ``intensity[0]`` restarts within any ``intensity[1]`` seconds,
      whatever the incidents, so a plugin that crashes just after each stable
      period is still stopped.

    Once it gives up the policy keeps refusing until ``reset()`` (an operator
    restart or a config change).
    """

    def __init__(
        self, base: float = 1.0, factor: float = 2.0, cap: float = 60.0,
        jitter: float = 0.2, max_attempts: int = 3,
        intensity: tuple[int, float] = (5, 300.0), stable_after: float = 120.0,
        clock: Clock = time.monotonic, rand: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or factor < 1 or cap < base or not 0 <= jitter < 1:
            raise ValueError("need base > 0, factor >= 1, cap >= base, 0 <= jitter < 1")
        if max_attempts < 1 or intensity[0] < 1 or intensity[1] <= 0:
            raise ValueError("need max_attempts >= 1 and a positive intensity limit")
        self.base, self.factor, self.cap, self.jitter = base, factor, cap, jitter
        self.max_attempts = max_attempts
        self.intensity = intensity
        self.stable_after = stable_after
        self._clock, self._rand = clock, rand
        self._attempt = 0
        self._restarts: deque[float] = deque()
        self._up_since: float | None = None
        self._gave_up: str | None = None

    @property
    def attempt(self) -> int:
        """Restarts made in the current incident."""
        return self._attempt

    @property
    def gave_up(self) -> str | None:
        """Why the policy gave up, or None while it still restarts."""
        return self._gave_up

    def on_started(self, now: float | None = None) -> None:
        """The plugin is running again; its stable period counts from ``now``."""
        self._up_since = self._now(now)

    def observe_healthy(self, now: float | None = None) -> bool:
        """A healthy check at ``now``; ends the incident once the plugin has
        been up for ``stable_after`` seconds. Returns whether it ended one."""
        now = self._now(now)
        if self._up_since is None:
            self._up_since = now
        if self._attempt and now - self._up_since >= self.stable_after:
            self._attempt = 0
            return True
        return False

    def on_failure(self, now: float | None = None) -> RestartDecision:
        """The plugin went down at ``now`` (crash, hang, memory limit)."""
        now = self._now(now)
        if self._up_since is not None and now - self._up_since >= self.stable_after:
            self._attempt = 0  # up long enough: this failure opens a new incident
        self._up_since = None
        if self._gave_up is None:
            self._gave_up = self._refusal(now)
        if self._gave_up is not None:
            return RestartDecision(False, 0.0, self._attempt + 1, self._gave_up)
        self._attempt += 1
        self._restarts.append(now)
        delay = self._delay(self._attempt)
        return RestartDecision(True, delay, self._attempt,
                               f"restart {self._attempt} of {self.max_attempts} "
                               f"in {delay:.1f}s")

    def reset(self) -> None:
        """Forget every failure: an operator brought the plugin back."""
        self._attempt = 0
        self._restarts.clear()
        self._up_since = None
        self._gave_up = None

    def _refusal(self, now: float) -> str | None:
        if self._attempt >= self.max_attempts:
            return f"gave up after {self.max_attempts} attempts"
        limit, window = self.intensity
        while self._restarts and now - self._restarts[0] >= window:
            self._restarts.popleft()
        if len(self._restarts) >= limit:
            return f"restart intensity exceeded: {limit} restarts in {window:g}s"
        return None

    def _delay(self, attempt: int) -> float:
        raw = min(self.cap, self.base * self.factor ** (attempt - 1))
        # Jitter spreads restarts of plugins that failed together (a shared
        # feed went down); the cap stays a hard ceiling.
        spread = 1.0 + self.jitter * (2.0 * self._rand() - 1.0)
        return min(self.cap, raw * spread)

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now
