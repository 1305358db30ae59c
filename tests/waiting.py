"""Waiting for a condition in tests: poll with a generous timeout, never a fixed sleep."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def wait_until(what: Callable[[], Any], timeout: float = 30.0, step: float = 0.02,
               waiting_for: str = "") -> Any:
    """Poll ``what`` until it is truthy and return its value; fail after ``timeout``,
    naming what was awaited (``waiting_for``) when given."""
    deadline = time.monotonic() + timeout
    while not (value := what()):
        assert time.monotonic() < deadline, (
            f"timed out after {timeout}s" + (f" waiting for {waiting_for}" if waiting_for else ""))
        time.sleep(step)
    return value


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> bool:
    """Like ``wait_until``, but says whether it came true instead of failing."""
    try:
        wait_until(condition, timeout)
    except AssertionError:
        return False
    return True


def waiting_in(thread: threading.Thread, function: str, module: str = "") -> bool:
    """Whether ``thread`` is inside a call of ``function`` (defined in a file whose
    path ends with ``module``) right now: its stack is read, not guessed, so a
    test can act exactly while a thread waits."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == function and code.co_filename.endswith(module):
            return True
        frame = frame.f_back
    return False
