"""The host's lease on its database: one live host per ``zepix.db``.

``claim`` closes what a host killed without shutting down left open (its open
activations, at its last heartbeat, with a reason that says so) and registers
this host, or raises when another live host holds the database, naming its pid.
"""

from __future__ import annotations

import logging
import os

import psutil

from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
from zepix_core.storage import HostRow, Store

log = logging.getLogger("zepix.host")

__all__ = ["alive", "busy_error", "claim", "recover"]


def claim(store: Store, host_id: str, now: float) -> list[HostRow]:
    """Recover from a killed predecessor and register host ``host_id``; raises
    ``StorageError`` while another live host runs on ``store``. Returns the crashed
    hosts recovered."""
    recovered = recover(store, host_id)
    other = store.begin_host(host_id, os.getpid(), now,
                             lambda h: alive(h["pid"], h["started_at"]))
    if other is not None:
        raise busy_error(store, other)
    return recovered


def recover(store: Store, host_id: str) -> list[HostRow]:
    """Close what a host that died without shutting down left open; refuses to start
    beside a host that is still running on the same database."""
    closed = []
    for host in store.running_hosts():
        if host["host_id"] != host_id and alive(host["pid"], host["started_at"]):
            raise busy_error(store, host)
        reason = (f"crash: host pid {host['pid']} ended without shutting down "
                  "(killed?); closed at next start")
        count = store.close_dead_host(host, reason)
        log.warning("recovered", extra=fields(host=host["host_id"], pid=host["pid"],
                                              closed_activations=count))
        closed.append(host)
    return closed


def busy_error(store: Store, host: HostRow) -> StorageError:
    return StorageError(f"{store.path}: another zepix host (pid {host['pid']}) is running on "
                        "this database; stop it first or use --db for a separate one")


def alive(pid: int, started_at: float) -> bool:
    """Whether ``pid`` is a live process that could be the host started at ``started_at``."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= started_at + 1
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
