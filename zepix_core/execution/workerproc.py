"""The worker process: load one plugin, then answer the host's hook calls.

The host (``_worker.ProcessRunner``) starts ``python -P -c <boot> --fd N
--host-pid P --plugin ID``; the boot line calls ``main``. The frames on the
socket are ``_frames``'; the main thread reads them itself. A worker never
outlives its host: it exits when the host's end of the socket hangs up, and
on Linux the kernel kills it when the host's spawning thread ends
(docs/supervision.md, "No orphans"). Only what the worker needs is imported
here: it pays for every import at each start.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from zepix_core.contract import logs
from zepix_core.contract.errors import WrongShape, describe, describe_hook
from zepix_core.contract.logs import fields
from zepix_core.contract.stdio import LogLines
from zepix_core.execution.boundary import plain
from zepix_core.execution.frames import FrameReader, send_frame
from zepix_core.execution.runner import implemented_hooks, plugin_warnings
from zepix_core.loading.discovery import EntryRecord, LoadFailure, load_plugin

if TYPE_CHECKING:
    import pluggy

log = logging.getLogger("zepix.worker")

_HOST_GONE_EXIT = 70
_PR_SET_PDEATHSIG = 1


def main(argv: Sequence[str]) -> int:
    """Entry of the worker process: load one plugin, then serve its hook calls."""
    args = dict(zip(argv[::2], argv[1::2], strict=True))  # --fd N --host-pid P --plugin ID
    os.dup2(2, 1)  # a plugin's print() must never reach the host's stdout (--json output)
    sys.stdout = LogLines(args["--plugin"])  # ... it is logged, one record per line
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    logs.configure(_level(), json_lines=os.environ.get("ZEPIX_LOG_FORMAT") == "json",
                   stream=sys.stderr, prefix=f"plugin={args['--plugin']} pid={os.getpid()} ",
                   static={"plugin": args["--plugin"], "pid": os.getpid()})
    _arm_parent_death_signal(int(args["--host-pid"]))
    sock = socket.socket(fileno=int(args["--fd"]))
    sock.set_inheritable(False)  # the plugin's own subprocesses must not hold it open
    threading.Thread(target=_watch_host, args=(sock,), name="zepix-host-watcher",
                     daemon=True).start()
    frames = FrameReader(sock)
    # S301: frames come only from the parent host over a private socketpair
    _, record, paths = pickle.loads(_next(frames))  # noqa: S301
    _extend_path(record, paths)
    try:
        pm = load_plugin(record)
    except LoadFailure as exc:
        send_frame(sock, ("load_failed", exc.state.value, exc.cause))
        return 1
    send_frame(sock, ("ready", {"warnings": plugin_warnings(pm), "hooks": implemented_hooks(pm)}))
    log.info("plugin loaded", extra=fields(distribution=record.distribution,
                                           version=record.dist_version))
    _serve(pm, sock, frames)
    return 0


def _level() -> int:
    """The host's verbosity (``$ZEPIX_LOG_LEVEL``, set by the CLI); INFO when unset."""
    level = logging.getLevelName(os.environ.get("ZEPIX_LOG_LEVEL", "INFO").upper())
    return level if isinstance(level, int) else logging.INFO


def _extend_path(record: EntryRecord, extra_paths: Sequence[str]) -> None:
    # extra_paths (a versioned plugin store) come first; the directory where
    # discovery found the distribution is appended if missing, so the worker
    # imports the plugin that was discovered without reordering site-packages.
    sys.path[:0] = list(extra_paths)
    home = str(Path(record.location).parent) if record.location else ""
    if home and home not in sys.path:
        sys.path.append(home)


def _watch_host(sock: socket.socket) -> None:
    # The host's end hung up: the host is gone (exited, crashed or SIGKILLed).
    # os._exit ends the worker whatever its main thread is doing, even a plugin
    # spinning forever inside a hook. The poll asks for no event, so frames never
    # wake this thread: the main thread reads them itself, with no handoff.
    hangup = select.poll()
    hangup.register(sock, 0)  # POLLHUP and POLLERR are always reported
    while not hangup.poll():
        pass
    _host_gone()


def _host_gone() -> NoReturn:
    log.warning("host gone, worker exits")
    os._exit(_HOST_GONE_EXIT)


def _next(frames: FrameReader) -> bytes:
    try:
        data = frames.read()  # no timeout: a frame, or end of stream
    except (EOFError, OSError):
        _host_gone()
    return data if data is not None else _host_gone()


def _arm_parent_death_signal(host_pid: int) -> None:
    """On Linux the kernel SIGKILLs us when the thread that started us ends.

    This covers what the end-of-stream thread cannot: a plugin stuck in C
    code that holds the GIL. The host starts workers from one long-lived
    thread (``workerspawn._SPAWNER``), so that thread ends only with the host.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        log.warning("parent death signal unavailable", extra=fields(errno=ctypes.get_errno()))
    if os.getppid() != host_pid:  # the host died before prctl took effect
        os._exit(_HOST_GONE_EXIT)


def _serve(pm: pluggy.PluginManager, sock: socket.socket, frames: FrameReader) -> None:
    # S301: frames come only from the parent host over a private socketpair
    while (message := pickle.loads(_next(frames)))[0] != "stop":  # noqa: S301
        if message[0] == "batch":
            _batch(pm, sock, *message[1:])
            continue
        _, call_id, hook, blob = message
        try:
            # S301: the parent host pickled these arguments itself
            kwargs = pickle.loads(blob)  # noqa: S301
        except BaseException as exc:  # noqa: BLE001 - whatever unpickling raises
            send_frame(sock, ("err", call_id, describe_hook(exc)))
            continue
        ok, value = _answer(pm, hook, kwargs)
        send_frame(sock, ("ok" if ok else "err", call_id, value))
    log.info("worker stopping")


def _batch(pm: pluggy.PluginManager, sock: socket.socket, call_id: int, hook: str,
           blob: bytes, deadline: float) -> None:
    """One call of ``hook`` per kwargs in ``blob``, in order, each answer a frame of its
    own as soon as it is ready (``("item", id, index, ok, value, took, last)``), so the
    host times every call from the answer before it. A call that ran past ``deadline``
    seconds ends the batch, as the host gives up on the plugin for the rest of a feed."""
    try:
        # S301: the parent host pickled these arguments itself
        calls = pickle.loads(blob)  # noqa: S301
    except BaseException as exc:  # noqa: BLE001 - whatever unpickling raises
        send_frame(sock, ("err", call_id, describe_hook(exc)))
        return
    clock, last = time.monotonic, len(calls) - 1
    for index, kwargs in enumerate(calls):
        started = clock()
        ok, value = _answer(pm, hook, kwargs)
        took = clock() - started
        late = took > deadline
        send_frame(sock, ("item", call_id, index, ok, value, took, late or index == last))
        if late:
            return


def _answer(pm: pluggy.PluginManager, hook: str, kwargs: dict[str, object]) -> tuple[bool, object]:
    try:
        value = getattr(pm.hook, hook)(**kwargs)
        return True, None if value is None else plain(value)  # most bars: no intents
    except WrongShape as exc:
        return False, describe(WrongShape(f"{hook} {exc}"))
    except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
        return False, describe_hook(exc)
