"""The dispatch thread of ``[host] dispatch = "thread"``: one handoff per feed.

A ``Lane`` is a daemon thread that runs a feed's in-process ``on_bar`` calls one
after another (``Job``), filling a ``Calls`` record; the dispatcher watches it
and abandons it with a call past its deadline (``Dispatcher._watch``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from zepix_core.contract.model import Bar
from zepix_core.contract.process import left_plugin, own, plugin_thread
from zepix_core.execution.boundary import plain
from zepix_core.execution.runner import Clock, InProcessRunner

__all__ = ["UNSET", "Calls", "Job", "Lane", "Outcome"]


Outcome = tuple[Any, "BaseException | None", float]

#: A call not made (yet), or given up on.
UNSET: object = object()


class Calls:
    """What the calls of one feed gave, in flat lists: a feed of thousands of bars
    makes no tuple per call (fewer objects for the garbage collector to track)."""

    __slots__ = ("errors", "lost", "took", "values")

    def __init__(self, size: int) -> None:
        self.values: list[object] = [UNSET] * size
        self.took: list[float] = [0.0] * size
        self.errors: dict[int, BaseException] = {}
        self.lost: dict[int, int] = {}  # runner given up on -> the index of that call


class Job:
    """One feed's inline calls, bar by bar, every runner per bar: call ``k`` is runner
    ``k % len(runners)`` on bar ``k // len(runners)``. The lane fills ``outcomes``;
    ``at`` is the call running now and ``since`` its start (0 between calls); the
    caller's watchdog and the lane agree under ``lock`` on who owns a call.
    ``skip`` holds runners given up on earlier in the feed: they get no more bars.
    """

    __slots__ = ("at", "bars", "calls", "done", "lock", "runners", "since", "skip", "stop")

    def __init__(self, bars: Sequence[Bar], runners: Sequence[InProcessRunner], start: int,
                 calls: Calls, skip: frozenset[int]) -> None:
        self.bars, self.runners, self.at, self.calls = bars, runners, start, calls
        self.skip = skip
        self.since = 0.0
        self.stop = False
        self.lock = threading.Lock()
        self.done = threading.Lock()  # held until the job is complete: the cheapest signal
        self.done.acquire()


class Lane:
    """A daemon thread that runs jobs; abandoned (never joined) when a call hangs.

    Deadlines here are real time (``time.monotonic``) whatever clock the host
    was given: a hung call is measured against the wall, not a test's clock;
    durations are in the host's ``clock``.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.released: Future[None] | None = None  # set when abandoned
        self.thread = own(plugin_thread(threading.Thread(target=self._serve,
                                                         name="zepix-dispatch", daemon=True)))
        self.thread.start()

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            if not self._run(job):
                break
        if self.released is not None:
            self.released.set_result(None)

    def _run(self, job: Job) -> bool:
        """The hot path: one plain pluggy call per plugin and bar. False when abandoned."""
        clock, skip, lock = self.clock, job.skip, job.lock
        values, took, errors = job.calls.values, job.calls.took, job.calls.errors
        real = clock is time.monotonic
        hooks = [r.pm.hook.on_bar for r in job.runners]
        width = len(hooks)
        started = clock()
        for index in range(job.at, len(values)):
            bar_at, runner_at = divmod(index, width)
            if runner_at in skip:
                continue
            job.since = started if real else time.monotonic()
            try:
                value: object = hooks[runner_at](bar=job.bars[bar_at])
                if value is not None:  # the boundary: no plugin object gets further
                    value = plain(value)
                error: BaseException | None = None
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything
                value, error = None, exc
            left_plugin()  # a copy the plugin forked ends here
            ended = clock()  # one reading per call: this end is the next call's start
            lock.acquire()
            if job.stop:  # the watchdog gave this call up; a fresh lane has the rest
                lock.release()
                return False
            values[index], took[index] = value, ended - started
            if error is not None:
                errors[index] = error
            job.at, job.since = index + 1, 0.0
            lock.release()
            started = ended
        job.done.release()
        return True
