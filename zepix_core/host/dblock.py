"""Who holds a SQLite database's write lock: read from ``/proc/locks``.

SQLite locks with POSIX advisory locks: in WAL mode the writer holds a WRITE
lock on byte 120 of ``<db>-shm``; in rollback mode, WRITE locks on the
database file. ``/proc/locks`` lists every such lock with the pid holding it
(as this process's pid namespace sees it), so the host can name the process
that keeps it from writing: a backup tool, or a plugin's worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil


def write_lock_holders(db: Path) -> list[int]:
    """Pids, other than this process, holding a write lock on ``db`` or its -wal/-shm
    files; empty where ``/proc/locks`` cannot be read."""
    inodes = set()
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        try:
            st = os.stat(path)
        except OSError:
            continue
        inodes.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    holders: list[int] = []
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.readlines()
    except OSError:
        return holders
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] == "->" or parts[3] != "WRITE":
            continue  # a waiter, or a read lock
        try:
            pid = int(parts[4])
            major, minor, inode = parts[5].split(":")
            key = (int(major, 16), int(minor, 16), int(inode))
        except ValueError:
            continue
        if key in inodes and pid not in (0, os.getpid()) and pid not in holders:
            holders.append(pid)
    return holders


def describe_holder(pid: int) -> str:
    """``pid 123 (backup.sh ...)``: the pid and its command line, cut short."""
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        cmdline = ""
    cmdline = cmdline if len(cmdline) <= 80 else cmdline[:77] + "..."
    return f"pid {pid} ({cmdline})" if cmdline else f"pid {pid}"
