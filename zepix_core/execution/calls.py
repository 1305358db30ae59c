"""Concurrent hook calls: all plugins side by side, each plugin's calls in sequence.

The one scheduler for batches of calls: a monitoring round's checks, a canary's
probe and ``runner.call_many`` (one call per plugin, as at startup) all use it.

A plugin's executor runs one call at a time (a worker process even refuses a
second call while one runs), so each plugin gets its checks one after
another, every call under its own deadline counted from when it was sent,
while all plugins proceed at once. An in-process plugin's thread queues calls,
so its checks are handed over together (one wake-up of its thread a round,
not one per check); each is then timed from when the one before it answered. A call that misses its deadline ends that
plugin's checks for the round: nothing is queued behind a call that may
never return, and no plugin waits for another.

Deadlines are measured on the injected monotonic clock, but a wait that
runs out is trusted even when that clock has not moved, so a fake clock in
tests never turns a deadline into an endless wait.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass, field

from zepix_core.contract.errors import PluginBusy, PluginDead, describe_hook
from zepix_core.execution.runner import CallResult, Clock, InProcessRunner, Runner

#: Errors meaning the call never started: the rest of the plugin's checks would not either.
_NOT_STARTED = (f"{PluginBusy.__name__}:", f"{PluginDead.__name__}:")


@dataclass(frozen=True)
class HookCall:
    """One hook call of a round with its deadline in seconds."""

    hook: str
    timeout: float
    kwargs: Mapping[str, object] = field(default_factory=dict)


@dataclass
class ChecksOutcome:
    """What one plugin's checks gave: a result per call made, the hooks not
    called because an earlier call missed its deadline, and ``stuck``, the
    future of a call that missed its deadline and is still running."""

    results: list[CallResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stuck: Future[object] | None = None


class _Sequence:
    """One plugin's checks, sent one at a time."""

    def __init__(self, runner: Runner, calls: Sequence[HookCall], clock: Clock) -> None:
        self.runner = runner
        self.todo = deque(calls)
        self.clock = clock
        self.outcome = ChecksOutcome()
        self.check: HookCall | None = None
        self.started = 0.0
        #: Checks handed over already and not answered yet (an in-process runner).
        self.ahead: deque[tuple[HookCall, Future[object]]] = deque()

    @property
    def deadline(self) -> float:
        assert self.check is not None
        return self.started + self.check.timeout

    def send(self) -> Future[object] | None:
        if not self.ahead and len(self.todo) > 1 and isinstance(self.runner, InProcessRunner):
            self.ahead.extend((c, self.runner.submit(c.hook, c.kwargs)) for c in self.todo)
            self.todo.clear()
        if self.ahead:  # handed over already: its deadline counts from now
            self.check, future = self.ahead.popleft()
            self.started = self.clock()
            return future
        if not self.todo:
            return None
        self.check = self.todo.popleft()
        self.started = self.clock()
        return self.runner.submit(self.check.hook, self.check.kwargs)

    def settle(self, future: Future[object]) -> bool:
        """Record the answer of a finished call; True when the next may be sent."""
        assert self.check is not None
        took = self.clock() - self.started
        try:
            result = CallResult(self.runner.plugin_id, self.check.hook,
                                value=future.result(timeout=0), duration=took)
        except BaseException as exc:  # noqa: BLE001 - the plugin's own exception
            result = CallResult(self.runner.plugin_id, self.check.hook, error=describe_hook(exc),
                                duration=took)
        self.outcome.results.append(result)
        if (result.error or "").startswith(_NOT_STARTED):
            self._stop()
            return False
        return True

    def expire(self, future: Future[object]) -> None:
        """The call missed its deadline: give up on it and on the rest."""
        assert self.check is not None
        future.cancel()  # a call that has not started never will
        self.outcome.results.append(CallResult.missed(
            self.runner.plugin_id, self.check.hook, self.check.timeout,
            self.clock() - self.started))
        if not future.done():
            self.outcome.stuck = future
        self._stop()

    def _stop(self) -> None:
        for _, future in self.ahead:
            future.cancel()  # queued behind the call given up on: it never starts
        self.outcome.skipped += [c.hook for c, _ in self.ahead] + [c.hook for c in self.todo]
        self.ahead.clear()
        self.todo.clear()


def run_calls(plans: Sequence[tuple[Runner, Sequence[HookCall]]],
               clock: Clock, on_done: Callable[[int], None] | None = None) -> list[ChecksOutcome]:
    """Run every plugin's checks; returns one ``ChecksOutcome`` per plan, in order.

    Takes at most the longest sum of one plugin's deadlines, however many
    plugins hang, since a missed deadline ends that plugin's sequence.
    ``on_done(i)`` is told as soon as plan ``i`` has no call running any more
    (never for a plan whose call missed its deadline and still runs).
    """
    sequences = [_Sequence(runner, checks, clock) for runner, checks in plans]
    live: dict[Future[object], _Sequence] = {}
    index = {id(seq): i for i, seq in enumerate(sequences)}
    for seq in sequences:
        if not _send_next(seq, live) and on_done is not None:
            on_done(index[id(seq)])
    while live:
        soonest = min(seq.deadline for seq in live.values())
        done, _ = futures.wait(list(live), timeout=max(0.0, soonest - clock()),
                               return_when=futures.FIRST_COMPLETED)
        # Nothing finished: the soonest deadlines have passed, whatever the clock says.
        due = done or {f for f, seq in live.items() if seq.deadline <= soonest}
        for future in due:
            seq = live.pop(future)
            if not future.done():
                seq.expire(future)
                if seq.outcome.stuck is None and on_done is not None:
                    on_done(index[id(seq)])
            elif not (seq.settle(future) and _send_next(seq, live)) and on_done is not None:
                on_done(index[id(seq)])
    return [seq.outcome for seq in sequences]


def _send_next(seq: _Sequence, live: dict[Future[object], _Sequence]) -> bool:
    """Send the plugin's next check; False when it has none left."""
    future = seq.send()
    if future is not None:
        live[future] = seq
    return future is not None


def call_many(
    calls: Iterable[tuple[Runner, str, Mapping[str, object], float]],
    clock: Clock = time.monotonic,
) -> list[CallResult]:
    """Start every call at once, then collect each within its own deadline.

    The whole batch takes at most the longest single timeout, however many
    plugins hang: one plan of a single call per entry of ``calls``.
    """
    plans = [(runner, [HookCall(hook, timeout, kwargs)]) for runner, hook, kwargs, timeout in calls]
    return [outcome.results[0] for outcome in run_calls(plans, clock)]
