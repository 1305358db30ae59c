"""The host's read side of a worker's socket: who reads, and when.

Whoever holds ``_read_lock`` reads. A caller waiting on an ``ask`` reads its
own answer (``Reply.result``), and a caller collecting a batch reads its
answers (``workerbatch.collect``), on its own thread under its deadline: no
thread wakes up in between. The runner's reader thread reads only while
armed: during the handshake, for ``submit``'s calls (waited on with
``concurrent.futures.wait``), for a call whose caller gave up (its late
answer frees the worker), and at the worker's exit; otherwise it sleeps.
"""

from __future__ import annotations

import abc
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from zepix_core.contract.errors import describe
from zepix_core.execution.frames import FrameReader
from zepix_core.execution.workerwire import Reply, loads_plain

if TYPE_CHECKING:
    from zepix_core.execution.workerbatch import Batch, Call


class Reading(abc.ABC):
    """The read side of ``ProcessRunner`` (its base class)."""

    _lock: threading.Lock
    _pending: Call | None
    _ready: Future[None]
    _gone: threading.Event

    def _init_reading(self, sock: socket.socket, max_frame: int) -> None:
        self._frames = FrameReader(sock, max_frame)
        self._read_lock = threading.Lock()
        self._armed = threading.Event()
        self._armed.set()  # for the handshake
        self._broken = False  # the worker broke the protocol: its stream is not read again

    @abc.abstractmethod
    def _dispatch(self, message: object) -> None:
        """Hand one answer the worker wrote to the call waiting for it."""

    @abc.abstractmethod
    def _reject(self, why: str) -> None:
        """The worker broke the protocol: kill it with ``why``."""

    def give_up(self, batch: Batch) -> None:
        with self._lock:
            if self._pending is not None and self._pending.batch is batch:
                self._pending.caller_reads = False
        self._armed.set()

    def _read(self) -> None:
        # Whatever happens here is reported: a worker that breaks the protocol is
        # not trusted, so it is killed with the reason, and its watcher reports the exit.
        try:
            while self._armed.wait() and not self._broken:
                with self._read_lock:
                    while self._armed.is_set() and not self._broken:
                        data = self._frames.read()
                        if data is not None:
                            self._dispatch(loads_plain(data))
                        self._rest()
        except (EOFError, OSError):
            return  # end of stream: the worker is gone, its watcher reports it
        except BaseException as exc:  # noqa: BLE001 - the reader must never die silently
            self._reject(describe(exc))

    def _rest(self) -> None:
        """The reader thread parks once nothing is left for it to read."""
        with self._lock:
            if self._ready.done() and not self._gone.is_set() and (
                    self._pending is None or self._pending.caller_reads):
                self._armed.clear()

    def _serve(self, reply: Reply, timeout: float | None) -> None:
        """Read frames on the caller's thread until ``reply`` is settled or ``timeout``
        runs out; a call still unanswered then is left to the reader thread (a late
        answer, the worker's death)."""
        try:
            self.serve_until(reply.done, timeout)
        finally:
            if not reply.done():
                with self._lock:
                    if self._pending is not None and self._pending.future is reply:
                        self._pending.caller_reads = False
                self._armed.set()

    def serve_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Read frames on the caller's thread until ``ready()`` or ``timeout`` seconds
        pass; False once the stream is over (the worker gone, or cut off)."""
        timeout = None if timeout is None else max(0.0, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._read_lock.acquire(timeout=-1 if timeout is None else timeout):
            return not self._broken
        try:
            while not ready() and not self._broken:
                left = None if deadline is None else deadline - time.monotonic()
                if (data := self._frames.read(left)) is None:
                    break
                self._dispatch(loads_plain(data))
        except (EOFError, OSError):
            return False  # the worker is gone: its watcher fails the call
        except Exception as exc:  # noqa: BLE001 - a worker breaking the protocol in any way
            self._reject(describe(exc))
        finally:
            self._read_lock.release()
        return not self._broken
