"""A feed's calls to a worker in one frame: ``ProcessRunner.ask_batch`` and ``collect``.

Bar by bar, every bar of a feed cost a worker one round trip (a pickle and a
frame each way, two wake-ups). A batch sends all of a feed's ``on_bar`` calls
in one frame; the worker runs them in order and writes each answer as soon as
it has it (``("item", id, index, ok, value, took, last)``), so the host times
every call from the answer before it, as it times bar-by-bar calls, and reads
whatever answers have arrived with one ``recv``. Same guarantees as one call:
answers checked as any (``boundary.plain``, bounded strings), a call past its
deadline given up on (the plugin gets no more bars of the feed: the worker
stops the batch itself after a call that ran past the deadline), a worker's
death mid-batch reported for the bar it died on and every bar after it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol, cast

from zepix_core.contract.errors import RemoteError, WrongShape, describe_hook
from zepix_core.contract.model import Bar, Intent
from zepix_core.execution.boundary import plain
from zepix_core.execution.runner import CallResult
from zepix_core.execution.workerwire import line

__all__ = ["Batch", "Batching", "Call", "Fed", "collect", "feed"]


@dataclass
class Call:
    """The call a worker is answering (one at a time)."""

    call_id: int
    hook: str
    started: float
    future: Future[object]
    #: The caller reads the answer itself (``Reply.result``); False once it gave up
    #: waiting, and the runner's reader thread takes the call over.
    caller_reads: bool = False
    #: The answers of a batch of calls (``workerbatch``), or None for one call.
    batch: Batch | None = None


@dataclass
class Batch:
    """One batch sent to a worker and the answers read so far."""

    plugin_id: str
    hook: str
    size: int
    sent: float = field(default_factory=time.monotonic)
    #: ``(ok, value or error text, seconds the call took in the worker, when it was
    #: read)`` per answer (one tuple: another thread may be appending).
    items: list[tuple[bool, object, float, float]] = field(default_factory=list)
    #: Settled after the last answer, or with the error that ended the batch.
    done: Future[object] = field(default_factory=Future)

    def add(self, message: tuple[object, ...]) -> bool:
        """Keep one ``item`` message, checked; True when it is the batch's last."""
        if len(message) != 7:
            raise WrongShape(f"an item message of {len(message)} fields, not 7")
        _, _, index, ok, value, took, last = message
        if index != len(self.items) or type(ok) is not bool or type(last) is not bool \
                or type(took) is not float or not math.isfinite(took) or took < 0:
            raise WrongShape(f"a malformed item message (index {index!r:.40} of "
                             f"{len(self.items)} read)")
        self.items.append((ok, plain(value) if ok else line(value), took, time.monotonic()))
        return last or len(self.items) >= self.size


class Batching(Protocol):
    """A runner that takes a feed's calls in one frame (``ProcessRunner``)."""

    plugin_id: str

    def ask_batch(self, hook: str, calls: Sequence[Mapping[str, object]],
                  deadline: float) -> Batch:
        """Send the calls in one frame; the batch's answers are read by ``collect``."""

    def serve_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Read answers on the caller's thread until ``ready()`` or ``timeout`` seconds
        pass; False once the stream is over (the worker is gone or was cut off)."""

    def give_up(self, batch: Batch) -> None:
        """The caller stops reading: the runner's reader thread reads the rest."""


def collect(runner: Batching, batch: Batch, deadline: float) -> list[CallResult]:
    """The result of every delivered call of ``batch``, in order, each call given
    ``deadline`` seconds from the answer before it (the first from the send).
    A call past it is the last result (timed out); when the batch failed or the
    worker died, that error is the result of every call not answered."""
    pid, hook = runner.plugin_id, batch.hook
    results: list[CallResult] = []
    since = batch.sent
    while len(results) < batch.size:
        at = len(results)
        if at < len(batch.items):
            ok, value, took, since = batch.items[at]
            if took > deadline:
                results.append(CallResult.missed(pid, hook, deadline, took))
                break
            results.append(CallResult(pid, hook, value=value, duration=took) if ok else
                           CallResult(pid, hook, duration=took, error=describe_hook(
                               RemoteError(str(value), plugin_id=pid))))
            continue
        if batch.done.done():
            error = batch.done.exception()
            if error is not None:
                text = describe_hook(error)
                results += [CallResult(pid, hook, error=text) for _ in range(at, batch.size)]
            break
        left = max(0.0, since + deadline - time.monotonic())
        news = _news(batch, at)
        if not runner.serve_until(news, left):
            # The stream is over: the runner's watcher settles the batch (the exit).
            with contextlib.suppress(TimeoutError):
                batch.done.exception(timeout=left)
        if news():
            continue
        results.append(CallResult.missed(pid, hook, deadline, time.monotonic() - since))
        runner.give_up(batch)
        break
    return results


def _news(batch: Batch, at: int) -> Callable[[], bool]:
    """Whether answer ``at`` came, or the batch ended."""
    return lambda: len(batch.items) > at or batch.done.done()


class Fed:
    """A feed's bars sent to worker processes, one batch each (``feed``)."""

    def __init__(self, bars: Sequence[Bar], sent: list[tuple[Batching, Batch]],
                 deadline: float) -> None:
        self.bars, self.sent, self.deadline = bars, sent, deadline

    def intents(self, check: Callable[[Bar, CallResult], list[Intent]],
                ahead: Callable[[], Sequence[Sequence[Intent]]]) -> list[Sequence[Intent]]:
        """Each bar's intents: ``ahead()``'s (the in-process plugins', run while the
        workers work), then each worker's in runner order, every result passed
        through ``check`` (the dispatcher's)."""
        found = [[*f] for f in ahead()]
        for runner, batch in self.sent:
            for bar_at, result in enumerate(collect(runner, batch, self.deadline)):
                found[bar_at].extend(check(self.bars[bar_at], result))
        return list(found)


def feed(runners: Sequence[object], bars: Sequence[Bar], deadline: float,
         allowed: bool = True) -> Fed | None:
    """Send ``bars`` to each of ``runners`` as one batch of ``on_bar`` calls, if
    ``allowed`` and they all take batches, before the caller does its own work for
    the feed; None to go bar by bar."""
    # hasattr, not isinstance of the runtime-checkable protocol: ~0.1 us, not ~20 us
    if not allowed or not bars or not all(hasattr(r, "ask_batch") for r in runners):
        return None
    batching = [cast(Batching, r) for r in runners]
    calls = [{"bar": bar} for bar in bars]
    return Fed(bars, [(r, r.ask_batch("on_bar", calls, deadline)) for r in batching], deadline)
