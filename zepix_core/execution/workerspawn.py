"""Starting a worker process, and saying how it ended.

The worker imports the very zepix_core the host runs, even from a source
checkout; ``-P`` keeps the host's working directory off its ``sys.path``, and
``-B`` keeps it from writing bytecode, so a store version's files (whose digest
covers its .pyc) stay exactly as installed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zepix_core.contract.process import own_current
from zepix_core.execution.workerwire import worker_env

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_BOOT = (f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); "
         "from zepix_core.execution.workerproc import main; sys.exit(main(sys.argv[1:]))")

# Linux's parent-death signal fires when the *thread* that started the worker
# ends, not the host process: a worker started from a short-lived thread (a
# restart timer) would die with it. So every worker is started from this one
# pool thread, which ends only when the interpreter shuts down; workers still
# running then are killed by the kernel, which is what "no orphans" asks.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zepix-spawner",
                              initializer=own_current)


def spawn(plugin_id: str, child: socket.socket) -> subprocess.Popen[bytes]:
    """Start the worker of ``plugin_id`` with ``child`` as its end of the socket."""
    argv = [sys.executable, "-B", "-P", "-c", _BOOT, "--fd", str(child.fileno()),
            "--host-pid", str(os.getpid()), "--plugin", plugin_id]
    # Its own session and process group: stopped and killed as a group, and a
    # Ctrl-C at the terminal reaches the host only, which stops it in order.
    return _SPAWNER.submit(subprocess.Popen, argv, stdin=subprocess.DEVNULL,
                           pass_fds=(child.fileno(),), env=worker_env(),
                           start_new_session=True).result()


def exit_text(who: str, code: int | None, kill_reason: str | None) -> str:
    """How ``who`` ended, from its return code (negative: the signal that ended it)."""
    if code is None:
        return f"{who} is stopping"
    if code >= 0:
        return f"{who} exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    why = f" ({kill_reason})" if kill_reason else ""
    return f"{who} was killed by {name}{why}"
