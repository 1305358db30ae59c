"""What a plugin writes to stdout goes to the log, never into the host's own output.

``zepix plugins --json`` must print one JSON document and nothing else, yet an
in-process plugin shares the host's ``sys.stdout``. While the CLI runs,
``routed_stdout`` puts a ``RoutedStdout`` in its place: a write made inside
``plugin_output`` (a hook call, a plugin's import) or from a thread the host
did not start (a plugin's own thread) becomes a log line ``plugin output``
with the plugin id; the host's own writes pass through. Workers send their
whole stdout to the log the same way (``execution.workerproc``).
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from zepix_core.contract.logs import fields
from zepix_core.contract.terminal import printable

log = logging.getLogger("zepix.plugin")

#: Characters of one logged line of plugin output; the rest is cut.
LINE_LIMIT = 1000

_local = threading.local()


@contextmanager
def plugin_output(plugin_id: str) -> Iterator[None]:
    """Within this block, this thread's stdout writes are ``plugin_id``'s output."""
    previous = getattr(_local, "plugin", None)
    _local.plugin = plugin_id
    try:
        yield
    finally:
        _local.plugin = previous


def _owner() -> str | None:
    plugin = getattr(_local, "plugin", None)
    if plugin is not None:
        return str(plugin)
    thread = threading.current_thread()
    if thread is threading.main_thread() or thread.name.startswith("zepix"):
        return None
    return f"thread {thread.name}"


class LogLines(io.TextIOBase):
    """A text stream whose every line becomes one INFO record of ``plugin output``."""

    def __init__(self, plugin: str | None = None) -> None:
        super().__init__()
        self._plugin = plugin
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.emit(self._plugin or _owner() or "host", text)
        return len(text)

    def emit(self, owner: str, text: str) -> None:
        with self._lock:
            lines = (self._pending.pop(owner, "") + str(text)).split("\n")
            rest = lines.pop()
            if len(rest) > LINE_LIMIT:
                lines.append(rest)
                rest = ""
            if rest:
                self._pending[owner] = rest
        for line in lines:
            if line.strip():
                log.info("plugin output", extra=fields(plugin=owner, line=line[:LINE_LIMIT]))


class RoutedStdout(LogLines):
    """``sys.stdout`` while the CLI runs: see the module docstring."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        owner = _owner()
        if owner is None:
            self.stream.write(printable(text))  # every CLI line: no control characters
            return len(text)
        self.emit(owner, text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # the real stream's, for callers
        return str(getattr(self.stream, "encoding", None) or "utf-8")


class PrintableStream(io.TextIOBase):
    """``sys.stderr`` while the CLI runs: what it writes shows no control characters."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # the real stream's, for callers
        return str(getattr(self.stream, "encoding", None) or "utf-8")


def terminal_control(sequence: str) -> None:
    """Write the host's own control ``sequence`` (clear the screen) past the escaping."""
    out = sys.stdout
    (out.stream if isinstance(out, RoutedStdout) else out).write(sequence)


@contextmanager
def routed_stdout() -> Iterator[None]:
    """Route plugin writes to stdout into the log for the duration of the block, and
    show the CLI's own writes to stdout and stderr without control characters."""
    original, errors = sys.stdout, sys.stderr
    sys.stdout = RoutedStdout(original)
    sys.stderr = PrintableStream(errors)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = original, errors
