"""Interrupting an inline ``on_bar`` call past its deadline (``[host] dispatch =
"inline"``): the bot's thread records the call it runs (``Here``), a watchdog
thread raises ``HookDeadline`` into it (an asynchronous exception: pure-Python
code only; a hook blocked in C code cannot be interrupted, docs/embedding.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

__all__ = ["Here", "HookDeadline", "Watchdog", "absorb", "alarm", "close_end", "past_deadline",
           "raise_in"]


class HookDeadline(BaseException):
    """Raised into an inline ``on_bar`` call that ran past its deadline (a
    ``BaseException`` so that a plugin's ``except Exception`` does not swallow it)."""


def raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in thread ``thread_id`` at its next Python instruction; None
    withdraws one not delivered yet."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None)


def absorb(here: Here) -> None:
    """Let an interruption raised but not delivered yet arrive here, never in the bot.

    Withdrawing it (``PyThreadState_SetAsyncExc(id, NULL)``) would leave CPython's
    eval breaker set for good, slowing every thread of the process ~5x, so the
    pending exception is delivered on a few no-op calls instead.
    """
    for _ in range(1_000_000):
        try:
            _noop()
        except HookDeadline:
            here.caught += 1
            if here.caught >= here.fires:
                return
    raise_in(here.thread_id, None)  # never seen delivered: the last resort


def _noop() -> None:
    return None


class Here:
    """One inline feed on the caller's thread, as the watchdog sees it: ``running``
    is ``(index, started)`` of the call running now (None between calls), one
    attribute so that it is read whole; ``fired`` the index interrupted."""

    __slots__ = ("caught", "fired", "fires", "running", "thread_id")

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.running: tuple[int, float] | None = None
        self.fired = -1
        #: ``HookDeadline`` raised into the thread, and caught by the feed.
        self.fires = self.caught = 0


class Watchdog:
    """A daemon thread that looks at the inline feed now running every half deadline
    (or when its running call falls due) and raises ``HookDeadline`` into a call
    past the deadline. It costs the bot nothing per bar: the caller only stores
    the running call's index and start."""

    def __init__(self, deadline: Callable[[], float],
                 interrupted: Callable[[Here, int, float], None]) -> None:
        self.deadline, self.interrupted = deadline, interrupted
        self.current: Here | None = None
        self.lock = threading.Lock()  # a decision to interrupt and the raise, together
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="zepix-watchdog", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        wait = self.deadline() / 2
        while not self.closed.wait(wait):
            deadline = self.deadline()
            wait = deadline / 2
            with self.lock:
                here = self.current
                running = here.running if here is not None else None
                if here is None or running is None:
                    continue
                index, started = running
                late = time.monotonic() - started - deadline
                if late < 0:
                    wait = min(wait, -late + 0.001)
                    continue
                if here.fired == index:
                    continue
                here.fired = index
                here.fires += 1
                raise_in(here.thread_id, HookDeadline)
            self.interrupted(here, index, deadline + late)


@contextlib.contextmanager
def alarm(period: float, handler: Callable[[int, object], None]) -> Iterator[None]:
    """While inside, on the main thread: ``handler`` every ``period`` seconds
    (``SIGALRM``, so it also reaches a hook asleep in C); a no-op on other threads."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, period, period)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def past_deadline(dog: Watchdog | None, deadline: float) -> tuple[Here, int, float] | None:
    """In the ``SIGALRM`` handler: the call running on this thread if it is past
    ``deadline`` and not interrupted yet, marked as fired (``here``, its index, how long
    it ran); None otherwise, or while the watchdog is deciding (the next tick)."""
    here = dog.current if dog is not None else None
    running = here.running if here is not None else None
    if dog is None or here is None or running is None \
            or here.thread_id != threading.get_ident():
        return None
    index, started = running
    held = time.monotonic() - started
    if held < deadline or here.fired == index:
        return None
    if not dog.lock.acquire(blocking=False):
        return None
    try:
        here.fired = index
        here.fires += 1
    finally:
        dog.lock.release()
    return here, index, held


class _Timed(Protocol):
    @property
    def ts(self) -> float: ...


def close_end(bars: Sequence[_Timed], at: int) -> int:
    """The index after the close time of ``bars[at]`` (the bars of one ``ts`` in a row)."""
    end, ts = at + 1, bars[at].ts
    while end < len(bars) and bars[end].ts == ts:
        end += 1
    return end
