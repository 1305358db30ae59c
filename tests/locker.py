"""A process that holds a SQLite database locked, as a backup tool or a neighbour does.

``LOCKER`` is a script for ``python -c LOCKER DB``: it takes ``BEGIN IMMEDIATE``
on DB (waiting up to 60 s for it), prints ``locked``, and lets go when a line
arrives on its stdin (or the pipe closes). ``locked(db)`` holds it for a block.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@contextmanager
def locked(db: Path) -> Iterator[None]:
    """A second process holding the database's write lock until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        assert proc.wait(30) == 0
