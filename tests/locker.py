"""A process that holds a SQLite database locked, as a backup tool or a neighbour does.

``LOCKER`` is a script for ``python -c LOCKER DB``: it takes ``BEGIN IMMEDIATE``
on DB (waiting up to 60 s for it), prints ``locked``, and lets go when a line
arrives on its stdin (or the pipe closes).
"""

from __future__ import annotations

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""
