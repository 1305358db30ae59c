"""The host's process: its own threads known by identity (a plugin may name its thread
``zepix-...``), and its end."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, Self

from zepix_core.contract.logs import fields

if TYPE_CHECKING:  # imported lazily at run time
    import psutil

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


#: Per thread: how deep it is in plugin code run under ``SignalGuard`` (imports).
_IMPORTING = threading.local()


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
        _IMPORTING.depth = getattr(_IMPORTING, "depth", 0) + 1
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
        _IMPORTING.depth -= 1
        left_plugin()  # a copy of the host forked by the plugin's import ends here
        for signum, handler in self._saved.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if self._saved:
            signal.set_wakeup_fd(self._wakeup, warn_on_full_buffer=False)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, set(self._saved))


# -- forks and children ------------------------------------------------------
#: Threads that run plugin code and nothing else (dispatch lanes, runner threads).
_PLUGIN_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
#: Set in a child forked by plugin code: it must not run host code (``left_plugin``).
_FORKED_BY_PLUGIN = False


def plugin_thread(thread: threading.Thread) -> threading.Thread:
    """Mark ``thread`` as one that runs plugin calls (a fork there is the plugin's)."""
    with _LOCK:
        _PLUGIN_THREADS.add(thread)
    return thread


def _after_fork_in_child() -> None:
    global _FORKED_BY_PLUGIN
    if threading.current_thread() in _PLUGIN_THREADS or getattr(_IMPORTING, "depth", 0) > 0:
        _FORKED_BY_PLUGIN = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def left_plugin() -> None:
    """Called when a plugin call returns into host code: a copy of the host forked by
    the plugin (``os.fork()`` in a hook) ends here at once, before it can serve the
    API, write the databases or outlive the host. A fork that execs never returns."""
    if _FORKED_BY_PLUGIN:
        os._exit(0)


def adopt_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (Linux), so children
    of children a plugin started are found at shutdown too (``end_children``)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def child_pids() -> set[int]:
    """The pids of every process below this one now (children, their children, ...)."""
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def end_children(grace: float = 1.0, keep: set[int] | frozenset[int] = frozenset()) -> list[str]:
    """End every process this one started that still runs (a plugin's, in process),
    except those in ``keep`` (what ran before the host started, such as a caller's
    own servers) and their descendants: SIGTERM, then SIGKILL after ``grace`` seconds.
    Returns what was ended, logged."""
    import psutil

    try:
        children = [p for p in psutil.Process().children(recursive=True)
                    if p.pid not in keep and not _below(p, keep)]
    except psutil.Error:
        return []
    ended = []
    for child in children:
        try:
            ended.append(f"pid {child.pid} ({' '.join(child.cmdline())[:120] or child.name()})")
            child.terminate()
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=grace)
    if ended:
        logging.getLogger("zepix.host").warning(
            "ended child processes plugins left", extra=fields(processes="; ".join(ended)))
    return ended


def _below(proc: psutil.Process, pids: set[int] | frozenset[int]) -> bool:
    """Whether ``proc`` descends from one of ``pids`` (psutil parents, by pid)."""
    try:
        return any(parent.pid in pids for parent in proc.parents())
    except Exception:  # noqa: BLE001 - a process that ended meanwhile descends from nothing
        return False
