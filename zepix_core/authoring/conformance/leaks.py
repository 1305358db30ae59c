"""What this process holds (threads, child processes, open file descriptors), before and after.

Used by the ``no_leaks`` check: sample, let the plugin activate, work and
deactivate, then wait a little for what it stops to finish stopping and
compare.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

#: (kind, what came back, how to fix it)
Leak = tuple[str, str, str]


@dataclass(frozen=True)
class Holdings:
    threads: frozenset[tuple[int, str]]
    native_threads: int
    children: frozenset[tuple[int, str]]
    fds: int
    files: frozenset[str]


def _name(proc: psutil.Process) -> str:
    try:
        return f"{proc.name()}, {proc.status()}"
    except psutil.Error:
        return "gone"


def sample(proc: psutil.Process | None = None) -> Holdings:
    """What the process (default: this one) holds now."""
    proc = proc or psutil.Process()
    threads = frozenset((t.ident or 0, t.name) for t in threading.enumerate() if t.is_alive())
    children = frozenset((c.pid, _name(c)) for c in proc.children(recursive=True))
    with proc.oneshot():
        return Holdings(threads, proc.num_threads(), children, proc.num_fds(),
                        frozenset(f.path for f in proc.open_files()))


_THREAD_FIX = ("signal every thread the plugin started to stop (a threading.Event set in "
               "deactivate) and join it before deactivate returns")
_CHILD_FIX = "terminate every process the plugin started and wait() for it in deactivate"
_FILE_FIX = "close files and sockets in deactivate, or open them in with-blocks"


def compare(before: Holdings, after: Holdings) -> list[Leak]:
    """What ``after`` holds beyond ``before``."""
    leaks: list[Leak] = []
    threads = sorted(after.threads - before.threads)
    if threads:
        names = ", ".join(repr(name) for _, name in threads)
        leaks.append(("threads", f"{len(threads)} thread(s) still running: {names}",
                      _THREAD_FIX))
    elif after.native_threads > before.native_threads:
        extra = after.native_threads - before.native_threads
        leaks.append(("threads", f"{extra} more native thread(s)", _THREAD_FIX))
    old_pids = {pid for pid, _ in before.children}
    children = sorted(c for c in after.children if c[0] not in old_pids)
    if children:
        pids = ", ".join(f"pid {pid} ({name})" for pid, name in children)
        leaks.append(("child processes", pids, _CHILD_FIX))
    if after.fds > before.fds:
        files = sorted(after.files - before.files)
        listed = f": {', '.join(files)}" if files else ""
        count = after.fds - before.fds
        leaks.append(("open files", f"{count} more open file descriptor(s){listed}", _FILE_FIX))
    return leaks


def leaks_after(action: Callable[[], None], settle: float = 1.0) -> list[Leak]:
    """Run ``action`` and report what it left behind after up to ``settle`` seconds."""
    # Earlier checks' abandoned plugin objects may still hold files; collected during
    # ``action`` they would hide a leak of the same size.
    gc.collect()
    before = sample()
    action()
    deadline = time.monotonic() + settle
    while True:
        found = compare(before, sample())
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)
