"""Plugins in worker processes, the host's side: ``ProcessRunner``.

The host starts ``python -P -c <boot> --fd N ...`` with one end of a Unix
socketpair as its only extra file descriptor; the worker runs
``workerproc.main``, and both sides talk in ``frames``; what the host reads
from the worker is checked in ``workerwire``. The host unpickles
answers refusing every class, so a plugin's own types never load into the
host. docs/supervision.md explains the choices (why not ``multiprocessing``,
how orphans are avoided).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING

from zepix_core.contract.errors import (
    PluginBusy,
    PluginDead,
    PluginError,
    RemoteError,
    WrongShape,
    describe,
)
from zepix_core.contract.logs import fields
from zepix_core.contract.model import PluginState
from zepix_core.execution.boundary import plain
from zepix_core.execution.frames import DEFAULT_MAX_FRAME, send_frame
from zepix_core.execution.workerbatch import Batch, Call
from zepix_core.execution.workerread import Reading
from zepix_core.execution.workerspawn import exit_text, spawn
from zepix_core.execution.workerwire import (
    Reply,
    line,
    settle,
    strings,
)
from zepix_core.loading.discovery import EntryRecord, LoadFailure

if TYPE_CHECKING:
    from zepix_core.execution.runner import Runner
    from zepix_core.loading.config import PluginConfig

log = logging.getLogger("zepix.worker")

#: ``on_exit(runner, code, signal)``: the runner that exited passes itself, so whoever
#: made it needs no closure over it (``Supervisor.exited``).
OnExit = Callable[["ProcessRunner", int | None, int | None], None]

_KILL_WAIT = 10.0  # SIGKILL is final, but a process in uninterruptible sleep dies late


class ProcessRunner(Reading):
    """Runs one plugin in a worker process of its own (see the module docstring).

    Raises ``LoadFailure`` from the constructor when the plugin cannot be
    loaded, with the same state and reason as loading it in process.
    ``on_exit(runner, code, signal)`` is called from a watcher thread when the worker
    exits without being asked to (crash, outside kill); ``close()`` and
    ``kill()`` do not call it.
    """

    def __init__(self, record: EntryRecord, extra_paths: Sequence[str] = (),
                 on_exit: OnExit | None = None, *, start_timeout: float = 30.0,
                 grace: float = 1.0, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.plugin_id = record.plugin_id
        self.record = record
        self.grace = grace
        self.max_frame = max_frame
        #: Why the host killed the worker for breaking the protocol, if it did.
        self.kill_reason: str | None = None
        self._on_exit = on_exit
        self._lock = threading.Lock()         # guards the fields below
        self._send_lock = threading.Lock()    # one frame at a time on the socket
        self._signal_lock = threading.Lock()  # no signal once the pid is reaped
        self._pending: Call | None = None
        self._next_id = 0
        self._stopping = False
        self._reaped = False
        self._returncode: int | None = None
        self._exited = threading.Event()  # reaped, and outstanding calls failed
        self._gone = threading.Event()  # reaped: the exit status is known
        self._ready: Future[None] = Future()
        self.warnings: list[str] = []  # from the worker's ready frame (plugin_warnings)
        self.hooks: list[str] = []  # ... and the hooks the plugin implements
        self._sock, child = socket.socketpair()
        self._init_reading(self._sock, max_frame)
        try:
            self._proc = spawn(self.plugin_id, child)
        except OSError:
            self._sock.close()
            raise
        finally:
            child.close()
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"zepix-{self.plugin_id}-reader")
        self._watcher = threading.Thread(target=self._watch, daemon=True,
                                         name=f"zepix-{self.plugin_id}-watcher")
        self._reader.start()
        self._watcher.start()
        self._handshake(extra_paths, start_timeout)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def exit_code(self) -> int | None:
        """The worker's exit status, when it exited by itself."""
        code = self._returncode
        return code if code is not None and code >= 0 else None

    @property
    def exit_signal(self) -> int | None:
        """The signal that ended the worker, when one did."""
        code = self._returncode
        return -code if code is not None and code < 0 else None

    def alive(self) -> bool:
        return not (self._stopping or self._gone.is_set())

    def wait_exited(self, timeout: float) -> bool:
        """Wait until the watcher has reaped the worker; True once it has."""
        return self._gone.wait(timeout)

    def busy(self) -> bool:
        return self._pending is not None

    def submit(self, hook: str, kwargs: Mapping[str, object]) -> Future[object]:
        """Send a call; the runner's reader thread settles its future, however
        the caller waits for it."""
        return self._send_call(hook, dict(kwargs), Future())

    def ask(self, hook: str, kwargs: Mapping[str, object]) -> Future[object]:
        """Send a call whose caller waits with ``result(timeout)``, which reads the
        answer on the caller's thread (``Reply``): no reader thread's wake-up."""
        return self._send_call(hook, dict(kwargs), Reply(self._serve))

    def ask_batch(self, hook: str, calls: Sequence[Mapping[str, object]],
                  deadline: float) -> Batch:
        """Send ``calls`` of ``hook`` in one frame; ``workerbatch.collect`` reads the
        answers on the caller's thread. A call that ran past ``deadline`` seconds
        ends the batch in the worker."""
        batch = Batch(self.plugin_id, hook, len(calls))
        self._send_call(hook, [dict(c) for c in calls], batch.done, batch, deadline)
        return batch

    def _send_call(self, hook: str, kwargs: object, future: Future[object],
                   batch: Batch | None = None, deadline: float = 0.0) -> Future[object]:
        caller_reads = batch is not None or isinstance(future, Reply)
        try:
            blob = pickle.dumps(kwargs, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - pickling can fail with almost any type
            future.set_exception(PluginError(
                f"arguments of {hook} cannot be sent to the worker: {describe(exc)}",
                plugin_id=self.plugin_id))
            return future
        with self._lock:
            refusal = self._refusal()
            if refusal is None:
                self._next_id += 1
                self._pending = Call(self._next_id, hook, time.monotonic(), future,
                                     caller_reads, batch)
                frame: tuple[object, ...] = (("batch", self._next_id, hook, blob, deadline)
                                             if batch else ("call", self._next_id, hook, blob))
        if refusal is not None:
            future.set_exception(refusal)
            return future
        if not caller_reads:
            self._armed.set()
        # A failed send means the worker is gone; its watcher fails the call.
        with contextlib.suppress(OSError):
            self._send_frame(frame)
        return future

    def close(self, timeout: float = 1.0) -> None:
        """Ask the worker to exit; after ``timeout`` SIGTERM, ``grace``, SIGKILL."""
        with self._lock:
            self._stopping = True
        with contextlib.suppress(OSError):
            self._send_frame(("stop",))
        if not self._exited.wait(timeout):
            self._terminate()
        self._finish()

    def kill(self) -> None:
        """Stop a frozen worker at once: SIGTERM, ``grace``, SIGKILL; reaped on return."""
        with self._lock:
            self._stopping = True
        self._terminate()
        self._finish()

    def _handshake(self, extra_paths: Sequence[str], timeout: float) -> None:
        started = time.monotonic()
        try:
            self._send_frame(("load", self.record, list(extra_paths)))
            self._ready.result(timeout)
        except LoadFailure:
            self.close(self.grace)
            raise
        except TimeoutError as exc:
            self.kill()
            raise LoadFailure(self.record, PluginState.FAILED,
                              f"worker did not report within {timeout:g}s") from exc
        except (PluginError, OSError) as exc:
            self.kill()
            raise LoadFailure(self.record, PluginState.FAILED,
                              f"worker failed before loading: {describe(exc)}") from exc
        log.info("worker started", extra=fields(
            plugin=self.plugin_id, pid=self.pid,
            start_ms=round((time.monotonic() - started) * 1000)))

    def _send_frame(self, message: tuple[object, ...]) -> None:
        with self._send_lock:
            send_frame(self._sock, message)

    def _refusal(self) -> PluginError | None:
        if self._stopping or self._gone.is_set():
            return PluginDead(self._exit_text(), plugin_id=self.plugin_id)
        if self._pending is not None:
            held = time.monotonic() - self._pending.started
            return PluginBusy(f"{self._pending.hook} still running after {held:.1f}s",
                              plugin_id=self.plugin_id)
        return None

    @property
    def exit_description(self) -> str | None:
        """How the worker ended (code or signal), or None while it runs."""
        return None if self._returncode is None else self._exit_text()

    def _exit_text(self) -> str:
        return exit_text(f"worker of plugin {self.plugin_id} (pid {self.pid})",
                         self._returncode, self.kill_reason)

    def _take(self, call_id: int) -> Call | None:
        with self._lock:
            call = self._pending
            if call is None or call.call_id != call_id:
                return None
            self._pending = None
            return call

    def _reject(self, why: str) -> None:
        self._broken = True
        self.kill_reason = f"killed by the host: {why}"
        log.error("worker broke the protocol", extra=fields(plugin=self.plugin_id, error=why))
        self._signal(signal.SIGKILL)

    def _dispatch(self, message: object) -> None:
        if type(message) is not tuple or not message or not isinstance(message[0], str):
            raise WrongShape(f"a frame holds {type(message).__name__}, not a message tuple")
        kind = message[0]
        if kind == "ready":
            told = message[1] if len(message) > 1 and isinstance(message[1], dict) else {}
            self.warnings = strings(told.get("warnings"), 5, 500)
            self.hooks = strings(told.get("hooks"), 64, 64)
            settle(self._ready)
        elif kind == "load_failed":
            settle(self._ready, LoadFailure(self.record, PluginState(message[1]),
                                             line(message[2])))
        elif kind == "item":
            call = self._pending
            if call is None or call.batch is None or call.call_id != message[1]:
                return  # an answer of a batch given up on and failed: nobody waits for it
            if call.batch.add(message) and self._take(call.call_id) is not None:
                settle(call.future)
        elif kind == "ok":
            # The worker already made this plain; checked again, since a plugin in
            # the worker could write to the socket itself.
            value = plain(message[2])
            if (call := self._take(message[1])) is not None:
                settle(call.future, value=value)
        elif kind == "err":
            text = line(message[2])
            if (call := self._take(message[1])) is not None:
                settle(call.future, RemoteError(text, plugin_id=self.plugin_id))
        else:
            raise WrongShape(f"unknown message kind {kind[:40]!r}")

    def _watch(self) -> None:
        code = self._wait_for_exit()
        with self._lock:  # known at once: alive() and exit_description say so from here
            self._returncode = code
        self._gone.set()
        # Let the reader pass on answers the worker wrote before it exited;
        # it stops at end of stream, which normally comes with the exit.
        self._armed.set()
        self._reader.join(0.05)
        with self._lock:
            self._exited.set()
            call, self._pending = self._pending, None
            # Only a loaded worker that nobody asked to stop has crashed; a
            # failed start is reported by the constructor's LoadFailure.
            expected = self._stopping or not (self._ready.done()
                                              and self._ready.exception(0) is None)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a reader still blocked
        dead = PluginDead(self._exit_text(), plugin_id=self.plugin_id)
        if call is not None:
            settle(call.future, dead)
        settle(self._ready, dead)
        log.log(logging.INFO if expected else logging.WARNING,
                "event=worker_exit plugin=%s pid=%d code=%s signal=%s expected=%s",
                self.plugin_id, self.pid, self.exit_code, self.exit_signal, expected)
        if not expected and self._on_exit is not None:
            try:
                self._on_exit(self, self.exit_code, self.exit_signal)
            except Exception:
                log.exception("on_exit failed", extra=fields(plugin=self.plugin_id))

    def _wait_for_exit(self) -> int:
        # WNOWAIT learns of the exit without reaping, so the pid stays ours
        # (a zombie) until _signal_lock is taken: no signal can reach a reused pid.
        if hasattr(os, "waitid"):
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOWAIT)
        with self._signal_lock:
            # Still a zombie (WNOWAIT), so its process group exists: whatever the
            # worker started ends with it, and no restart leaks a process.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._reaped = True
            return self._proc.wait()

    def _signal(self, sig: signal.Signals) -> None:
        with self._signal_lock:
            if not self._reaped:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, sig)  # the worker and what it started

    def _terminate(self) -> None:
        if self._exited.is_set():
            return
        self._signal(signal.SIGTERM)
        if not self._exited.wait(self.grace):
            self._signal(signal.SIGKILL)
            if not self._exited.wait(_KILL_WAIT):
                log.error("worker unkillable", extra=fields(plugin=self.plugin_id, pid=self.pid))

    def _finish(self) -> None:
        # close() may be called from on_exit, on the watcher thread itself.
        if threading.current_thread() is not self._watcher:
            self._watcher.join(_KILL_WAIT)
            self._reader.join(1.0)
        self._sock.close()


def process_runner(record: EntryRecord, config: PluginConfig) -> Runner:
    """``RunnerFactory`` for ``isolation = "process"``."""
    return ProcessRunner(record, max_frame=config.max_frame)
