"""How ``zepix backtest`` hands close times to its engine: several at once.

Inline (the backtest's dispatch) a feed of many close times ends after the first
one in which a plugin answered, raised or timed out (``Dispatcher.until_answer``),
so every intent is filled before its plugin sees the next bar; the answers of a
plugin whose book is ruined (its intents are dropped) do not end a feed. How many close
times are offered follows how many the last feeds used (a running mean, four
times over, 8 to ``MOST``): a strategy that trades rarely gets long feeds, one
that answers every few bars is not offered a long list it would cut at once.
One close time a feed while a breaker is not CLOSED (the host then admits bar
by bar) and in thread dispatch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from zepix_core.contract.model import Bar
from zepix_core.host.facade import of
from zepix_core.host.host import Host

#: Close times offered at most in one feed, and at least while batching.
MOST, LEAST = 1024, 8


class Engine(Protocol):
    #: The plugins whose intents are still filled (their books not ruined).
    trading: set[str]

    def step(self, groups: Sequence[Sequence[Bar]]) -> int:
        """Feed ``groups`` from the first on; returns how many were fed (at least one)."""


def drive(engine: Engine, host: Host, instants: Iterator[list[Bar]]) -> None:
    """Feed every close time of ``instants`` through ``engine``, in order."""
    dispatcher = host.dispatcher
    batched = dispatcher.mode == "inline"
    dispatcher.until_answer = engine.trading if batched else None
    breaker_open = of(host).any_breaker_open
    size, run, queue = 1, float(LEAST), deque[list[Bar]]()
    try:
        for group in instants:
            queue.append(group)
            if len(queue) >= size:
                used = _feed_some(engine, queue, batched, breaker_open)
                run = 0.75 * run + 0.25 * used
                size = min(MOST, max(LEAST, int(4 * run))) if batched else 1
        while queue:
            _feed_some(engine, queue, batched, breaker_open)
    finally:
        dispatcher.until_answer = None


def _feed_some(engine: Engine, queue: deque[list[Bar]], batched: bool,
               breaker_open: Callable[[], bool]) -> int:
    """One feed from the front of ``queue``; returns how many close times it used."""
    if not batched or breaker_open():
        engine.step([queue.popleft()])
        return 1
    used = engine.step(list(queue))
    for _ in range(used):
        queue.popleft()
    return used
