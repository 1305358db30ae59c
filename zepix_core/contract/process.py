"""The host's process: its own threads known by identity (a plugin may name its thread
``zepix-...``), and its end."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import Any, NoReturn, Self

_OWN: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_LOCK = threading.Lock()


def own(thread: threading.Thread) -> threading.Thread:
    """Mark ``thread`` as the host's; returns it."""
    with _LOCK:
        _OWN.add(thread)
    return thread


def own_current() -> None:
    """Mark the calling thread as the host's (an executor's ``initializer``)."""
    own(threading.current_thread())


def is_own(thread: threading.Thread) -> bool:
    with _LOCK:
        return thread in _OWN


def strays() -> list[threading.Thread]:
    """Live non-daemon threads that are neither the main thread nor the host's: what
    plugins left running, which would keep a normal interpreter exit waiting."""
    main = threading.main_thread()
    return [t for t in threading.enumerate()
            if t is not main and not t.daemon and t.is_alive() and not is_own(t)]


def hard_exit(code: int) -> NoReturn:
    """Flush what the host wrote and end the process now: no thread or ``atexit``
    handler a plugin left can hold it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)


class SignalGuard:
    """Around plugin code run at import: tells a real SIGINT from a plugin that raises
    ``KeyboardInterrupt``, and puts back the SIGINT/SIGTERM handlers (and the wakeup
    fd) that plugin code may have replaced. Does nothing off the main thread, where
    no signal handler runs and a ``KeyboardInterrupt`` can only be the plugin's."""

    def __init__(self) -> None:
        #: A real SIGINT arrived while the guarded code ran.
        self.sigint = False
        self._saved: dict[int, Any] = {}
        self._wakeup = -1

    def __enter__(self) -> Self:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        previous = self._saved[signal.SIGINT]

        def seen(signum: int, frame: FrameType | None) -> None:
            self.sigint = True
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                raise KeyboardInterrupt

        signal.signal(signal.SIGINT, seen)
        self._wakeup = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(self._wakeup, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if self._saved:
            signal.set_wakeup_fd(self._wakeup, warn_on_full_buffer=False)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, set(self._saved))
