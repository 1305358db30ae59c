"""Limits of the API server: connections, idle time, and how much it may log.

Without them about 1,100 idle, half-sent connections (no token needed) used
up the host's open files within a second; uvicorn then logged megabytes of
accept tracebacks and the host's own reads of ``/proc`` failed. Now:

- at most ``MAX_CONNECTIONS`` connections are open; one more is closed as
  soon as it is accepted (its file is given back at once);
- a connection that has not sent a whole request within ``HEADER_TIMEOUT``
  seconds (a request still being answered does not count) is closed;
  an idle keep-alive connection is closed after ``KEEP_ALIVE`` seconds;
- the listen backlog is ``BACKLOG``;
- the server's error log (uvicorn's and asyncio's) says each kind of line at
  most ``LOG_BURST`` times a minute, then how many it left out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from zepix_core.contract.logs import fields

log = logging.getLogger("zepix.api")

MAX_CONNECTIONS = 256
HEADER_TIMEOUT = 10.0
KEEP_ALIVE = 5
BACKLOG = 128
LOG_BURST = 5
LOG_WINDOW = 60.0
#: The loggers a flood of connections makes speak.
NOISY = ("uvicorn", "uvicorn.error", "asyncio")


class CappedProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol, with a cap on open connections and a header timeout."""

    refused = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        connections: set[object] = self.connections
        if len(connections) >= MAX_CONNECTIONS:
            transport.abort()  # type: ignore[attr-defined]
            CappedProtocol.refused += 1
            if CappedProtocol.refused in (1, 10, 100) or CappedProtocol.refused % 1000 == 0:
                log.warning("api connection refused: too many open", extra=fields(
                    open=len(connections), limit=MAX_CONNECTIONS,
                    refused=CappedProtocol.refused))
            return
        super().connection_made(transport)
        self._zepix_cycle: object = None
        self._zepix_timer = self.loop.call_later(HEADER_TIMEOUT, self._zepix_check)

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_zepix_timer", None)
        if timer is None:  # refused in connection_made: nothing of uvicorn's was set up
            return
        timer.cancel()
        super().connection_lost(exc)

    def _zepix_check(self) -> None:
        """Close the connection unless a request began or is being answered since the
        last look."""
        cycle = self.cycle
        answering = cycle is not None and not cycle.response_complete
        if answering or (cycle is not None and cycle is not self._zepix_cycle):
            self._zepix_cycle = cycle
            self._zepix_timer = self.loop.call_later(HEADER_TIMEOUT, self._zepix_check)
            return
        if not self.transport.is_closing():
            self.transport.close()


class RateLimit(logging.Filter):
    """Let each kind of record (logger and message template) through ``burst`` times per
    ``window`` seconds; the first one after a window says how many were left out."""

    def __init__(self, burst: int = LOG_BURST, window: float = LOG_WINDOW) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], list[float]] = {}  # [window start, count, left out]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg).split("\n", 1)[0][:200])
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or now - seen[0] >= self.window:
                left_out = int(seen[2]) if seen else 0
                self._seen[key] = [now, 1, 0]
                if len(self._seen) > 1000:  # many kinds: forget the old ones
                    self._seen = {k: v for k, v in self._seen.items()
                                  if now - v[0] < self.window}
                if left_out:
                    record.msg = f"{record.msg} ({left_out} like it left out in the last minute)"
                return True
            seen[1] += 1
            if seen[1] <= self.burst:
                return True
            seen[2] += 1
            if record.exc_info:  # never format the traceback of a record left out
                record.exc_info = None
            return False


_FILTER = RateLimit()


def quiet_server_logs() -> None:
    """Rate-limit the loggers a connection flood makes speak (idempotent)."""
    for name in NOISY:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
