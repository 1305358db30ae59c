"""Work dispatch: hand each closed bar to the active strategies and check what comes back.

In-process plugins are called inline, one after another, on a dispatch thread
(``lane``): one handoff per bar instead of one per plugin. The caller watches
the lane; when a call passes its deadline the lane is abandoned with the stuck
call and a fresh lane carries on with the remaining plugins, so a hung plugin
delays the others by at most its deadline. Worker-process and shadow runners
keep their own queues and are waited on beside the lane. The lane lives in
``execution.lanes``; the inline mode's interruption (``HookDeadline`` and its
watchdog) in ``execution.interrupt``.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Container, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from zepix_core.contract.errors import HookTimeout, PluginError, describe, describe_hook
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import Bar, Intent
from zepix_core.execution import interrupt, workerbatch
from zepix_core.execution.boundary import plain
from zepix_core.execution.direct import direct
from zepix_core.execution.intents import LIMIT, NO_LIMITS, IntentLimits, parse_intents
from zepix_core.execution.interrupt import Here, HookDeadline, Watchdog, absorb
from zepix_core.execution.lanes import UNSET, Calls, Job, Lane, Outcome
from zepix_core.execution.runner import CallResult, Clock, InProcessRunner, Runner, wait

__all__ = ["DISPATCH_MODES", "LIMIT", "Dispatcher", "HookDeadline", "Intent", "IntentLimits",
           "parse_intents"]

#: ``[host] dispatch``: ``thread`` hands bars to a dispatch thread the bot never
#: waits past a deadline for; ``inline`` calls hooks on the bot's own thread and
#: interrupts a call past its deadline (pure-Python code only; docs/embedding.md).
DISPATCH_MODES = ("thread", "inline")


#: Receives every work call's result and, for a wrong-shaped return, what is wrong with it.
ResultSink = Callable[[CallResult, "str | None"], None]
#: Receives the durations of several work calls of one plugin that answered in shape.
AnswerSink = Callable[[str, "list[float]"], None]
#: Told when an inline call is abandoned: plugin id, a future done when the call returns,
#: and how long it has run.
StuckSink = Callable[[str, "Future[None]", float], None]


class Dispatcher:
    """Feeds bars to runners under the ``on_bar`` deadline and reports each call."""

    def __init__(self, on_result: ResultSink, clock: Clock = time.monotonic,
                 deadline: float = DEFAULT_DEADLINES["on_bar"],
                 on_stuck: StuckSink | None = None, id_prefix: str = "",
                 on_answers: AnswerSink | None = None) -> None:
        self.on_result = on_result
        self.on_answers = on_answers
        self.on_stuck = on_stuck
        self.clock = clock
        self.deadline = deadline
        self.limits: dict[str, IntentLimits] = {}
        self._stuck: dict[Runner, Future[None]] = {}
        self._lane: Lane | None = None
        self._count = itertools.count(1)
        self._prefix = id_prefix
        #: ``thread`` or ``inline`` (``DISPATCH_MODES``).
        self.mode = "thread"
        self._dog: Watchdog | None = None
        self._here_runners: Sequence[InProcessRunner] = ()
        #: Offline (``zepix backtest``, inline mode): a feed stops after the close time
        #: (bars of one ``ts`` in a row) of the first call that raised, timed out or, for
        #: a plugin named here, answered anything, so the caller can fill before the
        #: plugins see the next bar. None: feeds are not cut.
        self.until_answer: Container[str] | None = None
        #: How many bars of the last ``feed_by_bar`` were delivered (a prefix).
        self.delivered = 0
        self._end = 0

    def next_id(self) -> str:
        return f"{self._prefix}{next(self._count)}"

    def stuck(self, runner: Runner) -> bool:
        """Whether an abandoned inline call of ``runner`` is still running."""
        held = self._stuck.get(runner)
        if held is not None and held.done():
            del self._stuck[runner]
            return False
        return held is not None

    def feed(self, runners: Sequence[Runner], bars: Sequence[Bar]) -> list[Intent]:
        """``feed_by_bar`` as one list."""
        return [i for found in self.feed_by_bar(runners, bars) for i in found]

    def feed_by_bar(self, runners: Sequence[Runner],
                    bars: Sequence[Bar]) -> list[Sequence[Intent]]:
        """Deliver ``bars`` in order; every runner sees each bar before the next one.
        Returns the intents of each bar.

        In-process runners take the whole feed in one handoff to the dispatch
        thread, worker processes in one frame each (``workerbatch``). A runner that misses the deadline gets none of the remaining bars
        of this feed: they would only queue behind its stuck call, and each would
        cost the other plugins another full deadline.
        """
        self.delivered = len(bars)
        live = [r for r in runners if not self.stuck(r)]
        inline = [r for r in live if isinstance(r, InProcessRunner)]
        queued = [r for r in live if not isinstance(r, InProcessRunner)]
        run = self._inline_here if self.mode == "inline" else self._inline
        if not queued:
            if not inline:
                return [[] for _ in bars]
            calls = run(bars, inline)
            return self._check_all(bars[:self.delivered] if self.delivered < len(bars)
                                   else bars, inline, calls)
        if fed := workerbatch.feed(queued, bars, self.deadline, self.until_answer is None):
            return fed.intents(self._check, lambda: self._check_all(bars, inline, run(bars, inline)))
        intents: list[Sequence[Intent]] = []
        for bar in bars:  # worker processes: bar by bar, beside the dispatch thread
            pending = [(r, r.submit("on_bar", {"bar": bar}), self.clock()) for r in queued]
            found = [*self._check_all([bar], inline, run([bar], inline))[0]] \
                if inline else []
            missed = set()
            for runner, future, started in pending:
                result = wait(runner.plugin_id, "on_bar", future, started + self.deadline,
                              started, self.clock)
                if result.timed_out:
                    missed.add(runner)
                found.extend(self._check(bar, result))
            queued = [r for r in queued if r not in missed]
            inline = [r for r in inline if not self.stuck(r)]
            intents.append(found)
        return intents

    def _check_all(self, bars: Sequence[Bar], runners: Sequence[InProcessRunner],
                   calls: Calls) -> list[Sequence[Intent]]:
        """Check every call's answer and report it, runner by runner in bar order: calls
        that answered in shape go to ``on_answers`` together, the others one by one.
        A bar without intents gets the empty tuple (no list per bar)."""
        intents: list[Sequence[Intent]] = [()] * len(bars)
        values, took, errors = calls.values, calls.took, calls.errors
        width = len(runners)
        for runner_at, runner in enumerate(runners):
            answered: list[float] = []
            lost = calls.lost.get(runner_at, -1)
            for bar_at in range(len(bars)):
                index = bar_at * width + runner_at
                value = values[index]
                if value is None and (not errors or index not in errors):
                    answered.append(took[index])  # the most common case: nothing to check
                    continue
                if value is UNSET:
                    if index != lost:
                        continue  # never called: given up on earlier in this feed
                    outcome: Outcome | None = None
                elif not errors or index not in errors:
                    found, problem = self._intents(runner.plugin_id, bars[bar_at], value)
                    if problem is None:  # the common case: answered in shape
                        answered.append(took[index])
                        if found:
                            intents[bar_at] = [*intents[bar_at], *found]
                        continue
                    outcome = (value, None, took[index])
                else:
                    outcome = (None, errors[index], took[index])
                result = self._result(runner, outcome)
                found, problem = self._parse(bars[bar_at], result)
                if answered:  # keep the order: the breaker counts failures in a row
                    self._answered(runner.plugin_id, answered)
                    answered = []
                self.on_result(result, problem)
            if answered:
                self._answered(runner.plugin_id, answered)
        return intents

    def _answered(self, plugin_id: str, durations: list[float]) -> None:
        if self.on_answers is not None:
            self.on_answers(plugin_id, durations)
            return
        for took in durations:
            self.on_result(CallResult(plugin_id, "on_bar", duration=took), None)

    def _inline(self, bars: Sequence[Bar], runners: Sequence[InProcessRunner]) -> Calls:
        """Run the feed on the dispatch thread; ``Calls.lost`` names, per runner given
        up on, the index of that call."""
        calls = Calls(len(bars) * len(runners))
        start, skip = 0, frozenset[int]()
        while start < len(calls.values):
            lane = self._lane or Lane(self.clock)
            self._lane = lane
            job = Job(bars, runners, start, calls, skip)
            lane.jobs.put(job)
            start, lost = self._watch(job, lane)
            if lost is not None:
                skip = skip | {lost}
                calls.lost[lost] = start - 1
        return calls

    def _inline_here(self, bars: Sequence[Bar],
                     runners: Sequence[InProcessRunner]) -> Calls:
        """The feed on the caller's thread (``mode = "inline"``): no handoff. A call past
        its deadline is interrupted by the watchdog (``HookDeadline``), counted as a
        timeout, and its plugin gets no more bars until it is restarted."""
        calls = Calls(len(bars) * len(runners))
        hooks = [direct(r.pm.hook.on_bar, ("bar",)) for r in runners]  # pluggy's result
        width = len(hooks)
        real = self.clock is time.monotonic
        here = Here(threading.get_ident())
        dog = self._dog or Watchdog(lambda: self.deadline, self._interrupted)
        self._dog, self._here_runners, dog.current = dog, runners, here
        skip: set[int] = set()
        index, self._end = 0, len(calls.values)
        try:
            while index < self._end:
                try:
                    index = self._run_here(here, hooks, bars, calls, skip, index, real)
                except HookDeadline:
                    # Delivered in the hook, or a moment after it returned: either way
                    # the watchdog saw that call past its deadline.
                    here.running = None
                    here.caught += 1
                    fired = here.fired
                    runner_at = fired % width
                    skip.add(runner_at)
                    calls.lost[runner_at] = fired
                    index = max(index, fired + 1)
                    if self.until_answer is not None:
                        self._cut(bars, fired // width, width)
        finally:
            with dog.lock:
                dog.current = None
            if here.caught < here.fires:
                absorb(here)
        return calls

    def _cut(self, bars: Sequence[Bar], bar_at: int, width: int) -> None:
        """``until_answer``: the feed ends with the close time of ``bars[bar_at]``."""
        end = interrupt.close_end(bars, bar_at)
        if end < self.delivered:
            self.delivered = end
            self._end = min(self._end, end * width)

    def call_here(self, runner: InProcessRunner, hook: str,
                  kwargs: Mapping[str, object]) -> CallResult:
        """One hook call on the caller's thread (``mode = "inline"``: a backtest's
        ``on_fill``), bounded as an inline ``on_bar`` is: past the deadline the
        watchdog interrupts it, the plugin gets no more work until it is restarted."""
        pid, here = runner.plugin_id, Here(threading.get_ident())
        dog = self._dog or Watchdog(lambda: self.deadline, self._interrupted)
        self._dog, self._here_runners, dog.current = dog, [runner], here
        started = self.clock()
        try:
            here.running = (0, time.monotonic())
            try:
                value = getattr(runner.pm.hook, hook)(**kwargs)
                here.running = None
                return CallResult(pid, hook, value=plain(value), duration=self.clock() - started)
            except HookDeadline:
                here.running = None
                here.caught += 1
                return CallResult.missed(pid, hook, self.deadline, self.clock() - started)
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything
                here.running = None
                return CallResult(pid, hook, error=describe_hook(exc),
                                  duration=self.clock() - started)
        finally:
            with dog.lock:
                dog.current = None
            if here.caught < here.fires:
                absorb(here)

    def _run_here(self, here: Here, hooks: Sequence[Any], bars: Sequence[Bar],
                  calls: Calls, skip: set[int], index: int, real: bool) -> int:
        """The hot path of ``_inline_here`` from ``index`` on; returns the end."""
        values, took, errors, clock = calls.values, calls.took, calls.errors, self.clock
        width, until = len(hooks), self.until_answer
        cuts = [] if until is None else [r.plugin_id in until for r in self._here_runners]
        started = clock()
        while index < self._end:
            bar_at, runner_at = divmod(index, width)
            if runner_at in skip or values[index] is not UNSET:
                index += 1
                continue
            here.running = (index, started if real else time.monotonic())
            try:
                value: object = hooks[runner_at](bar=bars[bar_at])
                here.running = None
                if value is not None:  # the boundary: no plugin object gets further
                    value = plain(value)
                error: BaseException | None = None
            except HookDeadline:
                raise
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything
                here.running = None
                value, error = None, exc
            ended = clock()
            if error is not None:
                errors[index] = error
            if until is not None and (error is not None or (value is not None
                                                            and cuts[runner_at])):
                self._cut(bars, index // width, width)
            took[index], values[index] = ended - started, value
            started = ended
            index += 1
        return index

    def alarm(self) -> contextlib.AbstractContextManager[None]:
        """While inside: inline calls on the main thread are bounded by ``SIGALRM`` too
        (``signal.setitimer`` every half deadline), which also interrupts a hook
        sleeping in ``time.sleep`` or a blocking read; the watchdog stays as the
        fallback. A no-op off the main thread (``interrupt.alarm``)."""
        return interrupt.alarm(max(self.deadline / 2, 0.01), self._on_alarm)

    def _on_alarm(self, signum: int, frame: object) -> None:
        due = interrupt.past_deadline(self._dog, self.deadline)
        if due is not None:
            self._interrupted(*due)
            raise HookDeadline

    def _interrupted(self, here: Here, index: int, held: float) -> None:
        """The watchdog interrupted call ``index`` of the inline feed: the plugin gets
        no more bars (until a restart) and the monitor turns it HUNG, which raises
        the alert, even when the call is blocked in C code and cannot be interrupted."""
        runners = self._here_runners
        if not runners:
            return
        runner = runners[index % len(runners)]
        never: Future[None] = Future()  # the plugin stays out until it is restarted
        self._stuck[runner] = never
        if self.on_stuck is not None:
            self.on_stuck(runner.plugin_id, never, held)

    def _watch(self, job: Job, lane: Lane) -> tuple[int, int | None]:
        """Wait for ``job``; give up a call past its deadline with its lane. Returns
        where the next lane starts (``len`` when the job is complete) and the index
        of the runner given up on."""
        timeout = self.deadline
        while not job.done.acquire(timeout=timeout):
            released: Future[None] = Future()
            with job.lock:
                index, since = job.at, job.since
                # since 0: between two calls; look again very soon
                timeout = (since + self.deadline - time.monotonic() if since
                           else self.deadline / 50)
                if timeout > 0:  # the call running now is still within its deadline
                    continue
                job.stop = True
                lane.released = released
            runner_at = index % len(job.runners)
            runner = job.runners[runner_at]
            self._lane = None
            self._stuck[runner] = released
            if self.on_stuck is not None:
                self.on_stuck(runner.plugin_id, released, time.monotonic() - since)
            return index + 1, runner_at
        return len(job.calls.values), None

    def _result(self, runner: Runner,
                outcome: tuple[Any, BaseException | None, float] | None) -> CallResult:
        pid = runner.plugin_id
        if outcome is None:
            return CallResult(pid, "on_bar", timed_out=True, duration=self.deadline,
                              error=describe(HookTimeout(f"no answer within "
                                                         f"{self.deadline:.2f}s")))
        value, error, took = outcome
        if error is not None:
            return CallResult(pid, "on_bar", error=describe_hook(error), duration=took)
        return CallResult(pid, "on_bar", value=value, duration=took)

    def _check(self, bar: Bar, result: CallResult) -> list[Intent]:
        found, problem = self._parse(bar, result)
        self.on_result(result, problem)
        return found

    def _parse(self, bar: Bar, result: CallResult) -> tuple[list[Intent], str | None]:
        """The intents of a call that answered, and what is wrong with them if anything;
        a batch over a plugin's limits is dropped whole."""
        if not result.ok:
            return [], None
        return self._intents(result.plugin_id, bar, result.value)

    def _intents(self, plugin_id: str, bar: Bar, value: object) -> tuple[list[Intent], str | None]:
        if value is None:
            return [], None
        try:
            found = parse_intents(plugin_id, bar, value, self.next_id)
        except PluginError as exc:
            return [], str(exc)
        problem = self.limits.get(plugin_id, NO_LIMITS).breach(found) if found else None
        return ([] if problem else found), problem

    def close(self) -> None:
        dog, self._dog = self._dog, None
        if dog is not None:
            dog.closed.set()
        lane, self._lane = self._lane, None
        if lane is not None:
            lane.jobs.put(None)
