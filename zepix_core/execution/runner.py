"""Calling plugin hooks under deadlines.

A *runner* owns the way one plugin's hooks are executed: ``InProcessRunner``
gives each plugin its own thread inside the host; the worker-process runner
(``_worker``) serves the same calls from a subprocess. Both hand back
``concurrent.futures.Future`` objects, so the caller bounds every call with a
deadline and a hung plugin delays nobody but itself.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol

import pluggy

from zepix_core.contract.errors import (
    HookTimeout,
    PluginBusy,
    PluginDead,
    RemoteError,
    WrongShape,
    describe,
    describe_hook,
)
from zepix_core.contract.process import left_plugin, own, plugin_thread
from zepix_core.contract.stdio import plugin_output
from zepix_core.execution.boundary import plain
from zepix_core.loading.discovery import unmarked_hooks, unmarked_warning

Clock = Callable[[], float]


@dataclass(frozen=True)
class CallResult:
    """What one hook call gave: a value, or an error, or a missed deadline."""

    plugin_id: str
    hook: str
    value: object = None
    error: str | None = None
    timed_out: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out

    @classmethod
    def missed(cls, plugin_id: str, hook: str, deadline: float, waited: float) -> CallResult:
        """The result of a call that gave no answer within its ``deadline`` seconds."""
        return cls(plugin_id, hook, timed_out=True, duration=waited,
                   error=describe(HookTimeout(f"no answer within {deadline:.2f}s")))


class Runner(Protocol):
    """Executes hook calls of one plugin."""

    plugin_id: str

    @property
    def pid(self) -> int | None:
        """The worker process's id, or None for a runner inside the host."""

    @property
    def hooks(self) -> Sequence[str]:
        """The hooks the plugin implements (as its plugin manager lists them)."""

    @property
    def warnings(self) -> Sequence[str]:
        """Problems a plugin author should hear of (methods that look like hooks but
        are not marked), for the plugin's reason."""

    @property
    def kill_reason(self) -> str | None:
        """Why the host killed the executor (the protocol was broken), or None."""

    @property
    def exit_description(self) -> str | None:
        """How the executor ended (a worker's exit code or signal), or None."""

    def submit(self, hook: str, kwargs: Mapping[str, object]) -> Future[object]:
        """Queue a hook call; calls of one plugin run one at a time, in order.

        The future fails with ``PluginBusy`` when too many calls are already
        waiting (a hung plugin), and with ``PluginDead`` when the plugin's
        executor is gone. A cancelled future's call never starts."""

    def alive(self) -> bool:
        """Whether the plugin's executor is running."""

    def busy(self) -> bool:
        """Whether a call is running now."""

    def wait_exited(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until the executor has ended; True once it has."""

    def close(self, timeout: float = 1.0) -> None:
        """Stop the executor; a hung call is abandoned."""


class InProcessRunner:
    """Runs one plugin's hooks, one at a time, on a dedicated daemon thread of the host.

    Calls queue behind each other (a monitoring round submits several at once);
    a call whose caller gave up waiting is cancelled and never starts. When
    ``max_pending`` calls are already waiting, typically behind a hung call,
    ``submit`` fails at once with ``PluginBusy`` instead of queueing more. The
    thread cannot be killed: recovering a hung in-process plugin means
    abandoning it and building a fresh instance (see docs/supervision.md).
    """

    def __init__(self, plugin_id: str, pm: pluggy.PluginManager, max_pending: int = 8) -> None:
        self.plugin_id = plugin_id
        self.pm = pm
        #: Problems a plugin author should hear of (methods that look like hooks but
        #: are not marked), for the plugin's reason.
        self.warnings = plugin_warnings(pm)
        self.hooks = implemented_hooks(pm)
        self.max_pending = max_pending
        self.pid: int | None = None  # inside the host: no process of its own
        self.kill_reason: str | None = None  # a thread cannot be killed
        self.exit_description: str | None = None
        self._jobs: queue.SimpleQueue[tuple[str, Mapping[str, object], Future[object]] | None]
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._running: tuple[str, float] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, hook: str, kwargs: Mapping[str, object]) -> Future[object]:
        future: Future[object] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(PluginDead(f"plugin {self.plugin_id} is stopped",
                                                plugin_id=self.plugin_id))
                return future
            if self._pending >= self.max_pending:
                future.set_exception(PluginBusy(self._busy_text(), plugin_id=self.plugin_id))
                return future
            self._pending += 1
            if self._thread is None:
                self._thread = own(plugin_thread(threading.Thread(
                    target=self._serve, name=f"zepix-{self.plugin_id}", daemon=True)))
                self._thread.start()
        self._jobs.put((hook, kwargs, future))
        return future

    def _busy_text(self) -> str:
        running = self._running
        if running is None:
            return f"{self._pending} calls already waiting"
        return f"{running[0]} still running after {time.monotonic() - running[1]:.1f}s"

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            hook, kwargs, future = job
            if future.set_running_or_notify_cancel():
                with self._lock:
                    self._running = (hook, time.monotonic())
                self._execute(hook, kwargs, future)
            with self._lock:
                self._pending -= 1
                self._running = None
            del job, hook, kwargs, future  # parked until the next call: keep none of this one

    def _execute(self, hook: str, kwargs: Mapping[str, object], future: Future[object]) -> None:
        # The boundary: the reply becomes plain data and an exception one line, here on
        # the plugin's thread under the caller's deadline; no plugin object gets further.
        try:
            with plugin_output(self.plugin_id):
                try:
                    answer = getattr(self.pm.hook, hook)(**kwargs)
                finally:
                    left_plugin()
                value = plain(answer)
        except WrongShape as exc:
            future.set_exception(WrongShape(f"{hook} {exc}", plugin_id=self.plugin_id))
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
            future.set_exception(RemoteError(describe_hook(exc), plugin_id=self.plugin_id))
        else:
            future.set_result(value)

    def alive(self) -> bool:
        return not self._closed

    def busy(self) -> bool:
        return self._running is not None

    def wait_exited(self, timeout: float) -> bool:
        """A thread is abandoned, never reaped: True once closed."""
        return self._closed

    def close(self, timeout: float = 1.0) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        self._jobs.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def wait(
    plugin_id: str, hook: str, future: Future[object], deadline: float, started: float,
    clock: Clock = time.monotonic, done: list[float] | None = None,
) -> CallResult:
    """Wait for a submitted call until the monotonic ``deadline``. ``done`` (from
    ``stamp``) holds when the call finished, so its duration is its own, not the
    time it waited behind another plugin's slower call in a batch."""
    try:
        value = future.result(timeout=max(0.0, deadline - clock()))
    except FutureTimeout:
        future.cancel()  # if it has not started yet, it never will
        return CallResult.missed(plugin_id, hook, deadline - started, clock() - started)
    except BaseException as exc:  # noqa: BLE001 - the plugin's own exception, via the future
        took = (done[0] if done else clock()) - started
        return CallResult(plugin_id, hook, error=describe_hook(exc), duration=took)
    return CallResult(plugin_id, hook, value=value,
                      duration=(done[0] if done else clock()) - started)


def stamp(future: Future[object], clock: Clock) -> list[float]:
    """A list that receives the monotonic time ``future`` finished at."""
    box: list[float] = []
    future.add_done_callback(lambda _: box.append(clock()))
    return box


Send = Callable[[str, Mapping[str, object]], "Future[object]"]


def sender(runner: Runner) -> Send:
    """How to send a call that the caller will wait for with ``future.result``: a
    worker's ``ask`` (the caller reads the answer itself), else ``submit``."""
    ask: Send = getattr(runner, "ask", runner.submit)
    return ask


def call(
    runner: Runner, hook: str, timeout: float, kwargs: Mapping[str, object] | None = None,
    clock: Clock = time.monotonic,
) -> CallResult:
    """Call one hook and wait at most ``timeout`` seconds for its answer."""
    started = clock()
    future = sender(runner)(hook, kwargs or {})
    return wait(runner.plugin_id, hook, future, started + timeout, started, clock)


def plugin_warnings(pm: pluggy.PluginManager) -> list[str]:
    """Warnings about the plugin objects registered on ``pm`` (see ``unmarked_hooks``)."""
    found = [pair for obj in pm.get_plugins() for pair in unmarked_hooks(obj)]
    warning = unmarked_warning(found)
    return [warning] if warning else []


def implemented_hooks(pm: pluggy.PluginManager) -> list[str]:
    """The spec hooks some plugin on ``pm`` implements, sorted."""
    return sorted(name for name, caller in vars(pm.hook).items()
                  if isinstance(caller, pluggy.HookCaller) and caller.spec is not None
                  and caller.get_hookimpls())
