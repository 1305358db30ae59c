"""The worker process: load one plugin, then answer the host's hook calls.

The host (``_worker.ProcessRunner``) starts ``python -P -c <boot> --fd N
--host-pid P --plugin ID``; the boot line calls ``main``. The frames on the
socket are ``_frames``'. A worker never outlives its host: it exits at end
of stream on the socket, and on Linux the kernel kills it when the host's
spawning thread ends (docs/supervision.md, "No orphans"). Only what the worker
needs is imported here: it pays for every import at each start.
"""

from __future__ import annotations

import ctypes
import logging
import numbers
import os
import pickle
import queue
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zepix_core.contract import logs
from zepix_core.contract.errors import describe
from zepix_core.contract.logs import fields
from zepix_core.execution.frames import recv_frame, send_frame
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
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    logs.configure(logging.INFO, json_lines=os.environ.get("ZEPIX_LOG_FORMAT") == "json",
                   stream=sys.stderr, prefix=f"plugin={args['--plugin']} pid={os.getpid()} ",
                   static={"plugin": args["--plugin"], "pid": os.getpid()})
    _arm_parent_death_signal(int(args["--host-pid"]))
    sock = socket.socket(fileno=int(args["--fd"]))
    sock.set_inheritable(False)  # the plugin's own subprocesses must not hold it open
    jobs: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    threading.Thread(target=_read_host, args=(sock, jobs), name="zepix-host-reader",
                     daemon=True).start()
    _, record, paths = pickle.loads(jobs.get())
    _extend_path(record, paths)
    try:
        pm = load_plugin(record)
    except LoadFailure as exc:
        send_frame(sock, ("load_failed", exc.state.value, exc.cause))
        return 1
    send_frame(sock, ("ready", {"warnings": plugin_warnings(pm), "hooks": implemented_hooks(pm)}))
    log.info("loaded", extra=fields(distribution=record.distribution,
                                    version=record.dist_version))
    _serve(pm, sock, jobs)
    return 0


def _extend_path(record: EntryRecord, extra_paths: Sequence[str]) -> None:
    # extra_paths (a versioned plugin store) come first; the directory where
    # discovery found the distribution is appended if missing, so the worker
    # imports the plugin that was discovered without reordering site-packages.
    sys.path[:0] = list(extra_paths)
    home = str(Path(record.location).parent) if record.location else ""
    if home and home not in sys.path:
        sys.path.append(home)


def _read_host(sock: socket.socket, jobs: queue.SimpleQueue[bytes]) -> None:
    # End of stream means the host is gone (exited, crashed or SIGKILLed).
    # os._exit ends the worker whatever its main thread is doing, even a
    # plugin spinning forever inside a hook.
    while (data := recv_frame(sock)) is not None:
        jobs.put(data)
    log.warning("host gone", extra=fields(action="exit"))
    os._exit(_HOST_GONE_EXIT)


def _arm_parent_death_signal(host_pid: int) -> None:
    """On Linux the kernel SIGKILLs us when the thread that started us ends.

    This covers what the end-of-stream thread cannot: a plugin stuck in C
    code that holds the GIL. The host starts workers from one long-lived
    thread (``_worker._SPAWNER``), so that thread ends only with the host.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        log.warning("pdeathsig unavailable", extra=fields(errno=ctypes.get_errno()))
    if os.getppid() != host_pid:  # the host died before prctl took effect
        os._exit(_HOST_GONE_EXIT)


def _serve(pm: pluggy.PluginManager, sock: socket.socket,
           jobs: queue.SimpleQueue[bytes]) -> None:
    while (message := pickle.loads(jobs.get()))[0] != "stop":
        _, call_id, hook, blob = message
        send_frame(sock, _answer(pm, call_id, hook, blob))
    log.info("stopping")


def _answer(pm: pluggy.PluginManager, call_id: int, hook: str,
            blob: bytes) -> tuple[Any, ...]:
    try:
        kwargs = pickle.loads(blob)
        return ("ok", call_id, _plain(getattr(pm.hook, hook)(**kwargs)))
    except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
        return ("err", call_id, describe(exc))


def _plain(value: object) -> Any:
    """``value`` as builtin data the host can unpickle without importing anything.

    Number and string subclasses (numpy floats, enums) become their base type.
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    raise TypeError(f"{type(value).__name__} cannot cross to the host; return plain "
                    "data (dict, list, str, int, float, bool, None)")
