"""Frames on the socket between the host and a worker process, used on both sides.

A frame is a 4-byte big-endian length and a pickle of one message tuple.
Host -> worker: ``("load", record, extra_paths)`` once, then ``("call", id,
hook, pickled_kwargs)`` or ``("batch", id, hook, pickled_list_of_kwargs,
deadline)`` and finally ``("stop",)``. Worker -> host: ``("ready",)`` or
``("load_failed", state, cause)``, then one ``("ok", id, value)`` or ``("err",
id, "Type: message")`` per call, and one ``("item", id, index, ok, value or
message, seconds, last)`` per call of a batch (``workerbatch``). Answers hold plain data
only (``_workerproc``), and the host unpickles them refusing every class
(``_worker``), so a plugin's own types never load into the host.
"""

from __future__ import annotations

import math
import pickle
import select
import socket
import struct
import time

from zepix_core.contract.errors import PluginError

_HEADER = struct.Struct("!I")
#: The largest frame the host reads from a worker unless configured otherwise
#: (``[host] max_frame_mb``): a reply within ``boundary.LIMITS`` pickles far smaller.
DEFAULT_MAX_FRAME = 4 * 2**20


class FrameTooLarge(PluginError):
    """A frame's header announces more bytes than the reader accepts."""


def send_frame(sock: socket.socket, message: tuple[object, ...]) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


class FrameReader:
    """Frames from one end of the socket, read through a buffer.

    One ``recv`` brings in whatever the other side has written, usually a whole
    frame (header and body) in one system call, and a wait for the next frame can
    be bounded (``poll``), so a caller can read its own answer under its deadline
    without a reader thread's wake-up in between. A frame cut short by a timeout
    stays in the buffer for the next ``read``. Not thread-safe: one reader at a time.
    """

    def __init__(self, sock: socket.socket, max_size: int | None = None,
                 chunk: int = 1 << 16) -> None:
        self.sock = sock
        self.max_size = max_size
        self._chunk = chunk
        self._buf = bytearray()
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)

    def read(self, timeout: float | None = None) -> bytes | None:
        """The next frame; None when none came within ``timeout`` seconds (None:
        wait for it). Raises ``EOFError`` at end of stream, ``FrameTooLarge`` as
        soon as a header announces more than ``max_size`` bytes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (frame := self._take()) is None:
            left = None if deadline is None else deadline - time.monotonic()
            # Even with no time left, what has arrived already is read (poll(0)).
            if left is not None and not self._poll.poll(max(0, math.ceil(left * 1000))):
                return None
            data = self.sock.recv(max(self._chunk, self._missing()))
            if not data:
                raise EOFError("end of stream")
            self._buf += data
        return frame

    def _missing(self) -> int:
        buf = self._buf
        if len(buf) < _HEADER.size:
            return 0
        size: int = _HEADER.unpack_from(buf)[0]
        return _HEADER.size + size - len(buf)

    def _take(self) -> bytes | None:
        buf = self._buf
        if len(buf) < _HEADER.size:
            return None
        size: int = _HEADER.unpack_from(buf)[0]
        if self.max_size is not None and size > self.max_size:
            raise FrameTooLarge(f"a frame of {size} bytes exceeds the limit of "
                                f"{self.max_size} bytes ([host] max_frame_mb)")
        end = _HEADER.size + size
        if len(buf) < end:
            return None
        frame = bytes(memoryview(buf)[_HEADER.size:end])
        del buf[:end]
        return frame

