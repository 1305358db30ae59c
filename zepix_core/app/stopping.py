"""Stopping ``zepix run``: signal handlers that take no lock, and a hard deadline.

A Python signal handler runs on the main thread between two bytecodes, maybe
while that thread holds the lock inside ``threading.Event.wait`` (a source
waiting for its next bar). Setting the stop event from the handler would take
that lock again: a deadlock that ignores every later signal. And a handler runs
only when the main thread runs Python code: one blocked on a lock waits with it.
So no Python handler does anything: the interpreter's C handler writes the
signal's number to a pipe (``signal.set_wakeup_fd``) from whichever thread the
signal reached, and a relay thread reads it and sets the stop event.

Plugins run code at import (on the main thread, at discovery) and later (version
reloads): they may ignore or block SIGINT/SIGTERM. ``install`` is therefore
called again after discovery and between batches; it also unblocks the signals.

Once a stop is asked for (a signal, ``--duration``, the end of the source),
``arm`` starts the deadline: if the process has not ended ``[host]
shutdown_timeout`` seconds later, it logs why and ends with ``os._exit(1)``.
When the command has returned, ``close`` disarms it and puts back the handlers
and wakeup fd it found: the console script ends the process at once anyway, and
a caller of ``main()`` in its own process (a test, a bot) must not be ended
later by a deadline that outlived its run.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from zepix_core.contract.logs import fields
from zepix_core.contract.process import own

log = logging.getLogger("zepix.app")

#: The signals that stop a run; SIGHUP re-reads the config.
STOPPING = (signal.SIGINT, signal.SIGTERM)


class Stopper:
    """The run's signal handlers, relay thread and shutdown deadline."""

    def __init__(self, stop: threading.Event, timeout: float,
                 reload: Callable[[], None] = lambda: None) -> None:
        self.stop = stop
        self.timeout = timeout
        self.reload = reload
        #: The stopping signals received, in order (names).
        self.received: list[str] = []
        self._armed = threading.Event()
        self._closed = threading.Event()
        self._installed = False
        self._previous: dict[int, object] = {}
        self._previous_fd: int | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        os.set_inheritable(self._write, False)
        own(threading.Thread(target=self._relay, name="zepix-signals", daemon=True)).start()

    @staticmethod
    def _handler(signum: int, frame: FrameType | None) -> None:
        """Nothing: the C-level handler has already written ``signum`` to the wakeup fd."""

    def install(self) -> None:
        """(Re)install the handlers and the wakeup fd, and unblock the signals: main
        thread only."""
        for signum in (*STOPPING, signal.SIGHUP):
            previous = signal.signal(signum, self._handler)
            self._previous.setdefault(signum, previous)
        previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        if self._previous_fd is None:
            self._previous_fd = previous_fd
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {*STOPPING, signal.SIGHUP})
        if not self._installed:
            self._installed = True
            log.info("signal handlers installed", extra=fields(pid=os.getpid()))

    def _relay(self) -> None:
        while True:
            try:
                data = os.read(self._read, 64)
            except OSError:
                return
            if not data:
                os.close(self._read)
                return
            for signum in data:
                if signum == signal.SIGHUP:
                    self.reload()
                    continue
                name = signal.Signals(signum).name
                self.received.append(name)
                log.info("stop requested", extra=fields(signal=name,
                                                        timeout=self.timeout))
                self.arm()
                self.stop.set()

    def arm(self) -> None:
        """Start the deadline (once): the process ends ``timeout`` seconds from now."""
        if self._armed.is_set():
            return
        self._armed.set()
        own(threading.Thread(target=self._deadline, args=(time.monotonic() + self.timeout,),
                             name="zepix-deadline", daemon=True)).start()

    def close(self) -> None:
        """The command is over: disarm the deadline, put back the signal handlers and
        wakeup fd found at the first ``install`` (main thread), end the relay."""
        self._closed.set()
        if self._installed and threading.current_thread() is threading.main_thread():
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)  # type: ignore[arg-type]
            signal.set_wakeup_fd(-1 if self._previous_fd is None else self._previous_fd)
        os.close(self._write)  # the relay reads the end of the pipe and returns
        self._installed = False

    def _deadline(self, at: float) -> None:
        while (left := at - time.monotonic()) > 0:
            if self._closed.wait(min(left, 1.0)):
                return  # the command returned in time: nothing to end
        # Straight to the file descriptor: a stuck thread may hold a logging lock.
        line = (f"zepix: shutdown took longer than [host] shutdown_timeout "
                f"({self.timeout:g} s); exiting now\n")
        try:
            os.write(2, line.encode())
        finally:
            os._exit(1)
