"""The delay before each retry: tenacity's waits, a Fibonacci wait, full jitter and
the server's ``Retry-After``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import tenacity

from zepix_core.contract.logs import fields
from zepix_core.retry.categories import Category, Classified
from zepix_core.retry.policy import RetryPolicy

log = logging.getLogger("zepix.retry")

WaitFn = Callable[[tenacity.RetryCallState], float]


class wait_fibonacci(tenacity.wait.wait_base):
    """``base * fib(n)`` before retry ``n`` (1, 1, 2, 3, 5 ...), at most ``max``."""

    def __init__(self, base: float, max: float) -> None:
        self.base, self.max = base, max

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        prev, cur = 0, 1
        for _ in range(retry_state.attempt_number - 1):
            prev, cur = cur, prev + cur
            if self.base * cur >= self.max:
                break
        return min(self.max, self.base * cur)


def strategy_wait(policy: RetryPolicy) -> tenacity.wait.wait_base:
    """The capped delay of ``policy``'s strategy, before jitter."""
    base, cap = policy.base, policy.max_delay
    if policy.strategy == "exponential":
        return tenacity.wait_exponential(multiplier=base, max=cap)
    if policy.strategy == "linear":
        return tenacity.wait_incrementing(start=min(base, cap), increment=base, max=cap)
    if policy.strategy == "fixed":
        return tenacity.wait_fixed(min(base, cap))
    return wait_fibonacci(base, cap)


def delays(policy: RetryPolicy, retries: int, rand: Callable[[], float] | None = None
           ) -> list[float]:
    """The first ``retries`` delays of ``policy`` (jittered with ``rand`` when it has jitter)."""
    wait = policy_wait(policy, [], rand or (lambda: 1.0))
    out = []
    for n in range(1, retries + 1):
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = n
        out.append(wait(state))
    return out


def policy_wait(policy: RetryPolicy, failures: Sequence[Classified], rand: Callable[[], float],
                operation: str = "") -> WaitFn:
    """The wait tenacity runs between tries: the server's ``Retry-After`` (capped)
    after a rate limit that names one, else the strategy's delay with full jitter."""
    inner = strategy_wait(policy)

    def wait(retry_state: tenacity.RetryCallState) -> float:
        last = failures[-1] if failures else None
        if last is not None and last.category is Category.RATE_LIMIT \
                and last.retry_after is not None:
            if last.retry_after > policy.retry_after_cap:
                log.warning("retry-after capped", extra=fields(
                    operation=operation, asked=last.retry_after, cap=policy.retry_after_cap))
            return min(last.retry_after, policy.retry_after_cap)
        delay = float(inner(retry_state))
        return rand() * delay if policy.jitter else delay

    return wait
