"""The buffered frame reader both ends of a worker's socket read with (issue 26, item 3)."""

from __future__ import annotations

import pickle
import socket
import struct
from collections.abc import Iterator

import pytest

from zepix_core.execution.frames import FrameReader, FrameTooLarge, send_frame


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_frames_written_back_to_back_are_read_in_order(
        pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader = pair
    for n in range(3):
        send_frame(writer, ("ok", n, "x" * n))
    frames = FrameReader(reader)
    assert [pickle.loads(frames.read(5.0) or b"") for _ in range(3)] == [
        ("ok", 0, ""), ("ok", 1, "x"), ("ok", 2, "xx")]


def test_a_frame_cut_short_by_the_timeout_is_finished_by_the_next_read(
        pair: tuple[socket.socket, socket.socket]) -> None:
    # A caller that gives up mid-frame must not lose the part already read: the
    # next reader (the runner's reader thread) carries on from there.
    writer, reader = pair
    body = pickle.dumps(("ok", 7, "y" * 100_000))
    wire = struct.pack("!I", len(body)) + body
    writer.sendall(wire[:2])
    frames = FrameReader(reader, chunk=1024)
    assert frames.read(0.05) is None
    writer.sendall(wire[2:50_000])
    assert frames.read(0.05) is None
    writer.sendall(wire[50_000:])
    assert pickle.loads(frames.read(5.0) or b"") == ("ok", 7, "y" * 100_000)


def test_a_header_over_the_limit_is_refused_before_the_body_is_read(
        pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader = pair
    writer.sendall(struct.pack("!I", 0xFFFFFFFF))
    with pytest.raises(FrameTooLarge, match="a frame of 4294967295 bytes exceeds the limit"):
        FrameReader(reader, max_size=1 << 20).read(5.0)


def test_end_of_stream_is_an_eoferror_even_mid_frame(
        pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader = pair
    writer.sendall(struct.pack("!I", 10) + b"abc")
    writer.close()
    with pytest.raises(EOFError):
        FrameReader(reader).read(5.0)


def test_a_frame_already_there_is_read_even_with_no_time_left(
        pair: tuple[socket.socket, socket.socket]) -> None:
    # A caller whose deadline passed while it did other work (the in-process plugins
    # of a feed) must still find the answers that came meanwhile, not time them out.
    writer, reader = pair
    send_frame(writer, ("ok", 1, None))
    assert pickle.loads(FrameReader(reader).read(0.0) or b"") == ("ok", 1, None)
    assert FrameReader(reader).read(0.0) is None
