"""Frames on the socket between the host and a worker process, used on both sides.

A frame is a 4-byte big-endian length and a pickle of one message tuple.
Host -> worker: ``("load", record, extra_paths)`` once, then ``("call", id,
hook, pickled_kwargs)`` and finally ``("stop",)``. Worker -> host:
``("ready",)`` or ``("load_failed", state, cause)``, then one ``("ok", id,
value)`` or ``("err", id, "Type: message")`` per call. Answers hold plain data
only (``_workerproc``), and the host unpickles them refusing every class
(``_worker``), so a plugin's own types never load into the host.
"""

from __future__ import annotations

import pickle
import socket
import struct

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


def recv_frame(sock: socket.socket, max_size: int | None = None) -> bytes | None:
    """One frame, or None at end of stream (the other side is gone).

    Raises ``FrameTooLarge`` before allocating anything when the header announces
    more than ``max_size`` bytes.
    """
    try:
        header = _recv_exact(sock, _HEADER.size)
        if header is None:
            return None
        size = _HEADER.unpack(header)[0]
        if max_size is not None and size > max_size:
            raise FrameTooLarge(f"a frame of {size} bytes exceeds the limit of {max_size} "
                                "bytes ([host] max_frame_mb)")
        return _recv_exact(sock, size)
    except OSError:
        return None


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            return None
        got += n
    return bytes(buf)
