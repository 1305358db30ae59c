"""Resource usage of plugin processes, read with psutil.

One ``psutil.Process`` is kept per pid: ``cpu_percent`` measures the CPU time
used since the previous call on the *same* object, so a fresh object has
nothing to compare with and reports 0. The first sample of a pid therefore
reports ``cpu_percent=None`` instead of a misleading 0; every later one
covers the time since the previous sample (one monitoring interval).

All reads happen inside ``oneshot()`` so psutil reads each /proc file once,
and the file descriptor count comes from ``num_fds()``, which counts entries
instead of resolving every open file like ``open_files()`` does.

A plugin that runs inside the host shares the host's process: its sample is
the whole host's usage, marked ``scope="host"``, and is not evidence about
that plugin. Only a plugin in its own worker process gets a sample that is
its own (``scope="process"``).

Any ``OSError`` while sampling (``EMFILE`` when the host's open files are used
up, by a plugin or a flood of connections) is a sample error of that plugin:
figures unknown, the reason in ``detail``; it never ends a round.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Literal

import psutil

Scope = Literal["process", "host"]

_NOTES: dict[Scope, str] = {
    "process": "usage of the plugin's own worker process",
    "host": "usage of the whole host process, shared by every in-process plugin; "
            "not attributable to this plugin",
}


@dataclass(frozen=True)
class ResourceSample:
    """One reading of a process. Figures are None when the process is not
    running, when the OS denies access, or (``cpu_percent``) on the first
    sample of a pid. ``cpu_percent`` is of one CPU, so a busy multi-threaded
    process can exceed 100."""

    pid: int
    running: bool
    rss_bytes: int | None
    cpu_percent: float | None
    threads: int | None
    fds: int | None
    scope: Scope
    detail: str = ""

    @property
    def attributable(self) -> bool:
        """Whether the figures are the plugin's own rather than the host's."""
        return self.scope == "process"

    @property
    def note(self) -> str:
        """What the figures measure, for people reading the output."""
        return _NOTES[self.scope]


def _not_running(pid: int, scope: Scope, detail: str) -> ResourceSample:
    return ResourceSample(pid, False, None, None, None, None, scope, detail)


class ResourceSampler:
    """Samples processes by pid, keeping one ``psutil.Process`` per pid.

    Used from the monitoring thread only. A pid whose process has gone is
    forgotten, so the cache holds only live processes.
    """

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, pid: int, scope: Scope = "process") -> ResourceSample:
        """Read RSS, CPU percent, threads and open fds of ``pid``.

        A zombie (exited, not yet reaped), a pid with no process and a pid
        reused by another process are all reported as not running.
        """
        fresh = pid not in self._procs
        try:
            proc = self._procs[pid] if not fresh else psutil.Process(pid)
            if not proc.is_running():
                raise psutil.NoSuchProcess(pid)
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    raise psutil.ZombieProcess(pid)
                rss = proc.memory_info().rss
                cpu = proc.cpu_percent(interval=None)
                threads = proc.num_threads()
                fds = _count_fds(proc)
        except psutil.ZombieProcess:
            self._procs.pop(pid, None)
            return _not_running(pid, scope, "zombie: exited but not yet reaped")
        except psutil.NoSuchProcess:
            self._procs.pop(pid, None)
            return _not_running(pid, scope, "no such process")
        except psutil.AccessDenied:
            return ResourceSample(pid, True, None, None, None, None, scope, "access denied")
        except (OSError, psutil.Error) as exc:  # EMFILE reading /proc: that sample only
            self._procs.pop(pid, None)
            return ResourceSample(pid, True, None, None, None, None, scope,
                                  f"sample error: {type(exc).__name__}: {exc}")
        self._procs[pid] = proc
        return ResourceSample(pid, True, rss, None if fresh else cpu, threads, fds, scope)

    def sample_host(self) -> ResourceSample:
        """The host process itself, as seen by every in-process plugin."""
        return self.sample(os.getpid(), scope="host")

    def forget(self, pid: int) -> None:
        """Drop the cached process of ``pid`` (a worker that was replaced)."""
        self._procs.pop(pid, None)


def _count_fds(proc: psutil.Process) -> int:
    if sys.platform == "win32":
        return proc.num_handles()
    return proc.num_fds()
