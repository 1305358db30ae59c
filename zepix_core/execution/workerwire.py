"""What the host reads from a worker process, before it is trusted: frames are
unpickled refusing every class (a plugin's own types never load into the host),
strings are bounded, and a call's future is settled once whoever comes first
(the answer or the worker's death). Also the environment a worker starts with.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from zepix_core.contract.errors import MESSAGE_LIMIT, WrongShape

__all__ = ["HOST_SECRETS", "Reply", "line", "loads_plain", "settle", "strings",
           "worker_env"]


#: The host's secrets in its environment, which a worker's plugin has no use for.
HOST_SECRETS = ("ZEPIX_API_TOKEN", "ZEPIX_API_VIEWER_TOKEN", "ZEPIX_TELEGRAM_TOKEN",
                "ZEPIX_SYNC_PASSWORD", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def worker_env() -> dict[str, str]:
    """A worker's environment: the host's, without the host database's path
    (``ZEPIX_DB``): a plugin has no business with it, nor with the host's secrets."""
    return {k: v for k, v in os.environ.items() if k != "ZEPIX_DB" and k not in HOST_SECRETS}


class PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


def loads_plain(data: bytes) -> object:
    return PlainUnpickler(io.BytesIO(data)).load()


class Reply(Future[object]):
    """A call's future whose ``result(timeout)`` reads the answer from the socket on
    the caller's own thread (``serve(reply, timeout)``), within that timeout: no
    reader thread wakes up, then the caller, for each call. Only ``result``
    reads: a caller that waits otherwise (``concurrent.futures.wait``) uses
    ``ProcessRunner.submit``, whose futures the runner's reader thread settles."""

    def __init__(self, serve: Callable[[Reply, float | None], None]) -> None:
        super().__init__()
        self._serve = serve

    def result(self, timeout: float | None = None) -> object:
        if self.done():
            return super().result(0)
        started = time.monotonic()
        self._serve(self, timeout)
        left = None if timeout is None else max(0.0, started + timeout - time.monotonic())
        return super().result(left)


def settle(future: Future[Any], error: BaseException | None = None,
            value: object = None) -> None:
    # The worker's answer and its death may race for a future; the first wins.
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def line(text: object) -> str:
    if type(text) is not str:
        raise WrongShape(f"an error message of type {type(text).__name__}")
    return text if len(text) <= MESSAGE_LIMIT * 2 else text[:MESSAGE_LIMIT * 2] + "..."




def strings(value: object, most: int, longest: int) -> list[str]:
    """A worker's list of strings, bounded: anything else in it is dropped."""
    if not isinstance(value, list):
        return []
    return [v[:longest] for v in value[:most] if isinstance(v, str)]
