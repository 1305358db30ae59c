"""Reads a running host repeats every round, kept until their tables may have changed.

A table may have changed when another connection committed (``PRAGMA data_version``
changes: a command from a shell, another process) or when this connection wrote to
it: a TEMP trigger on this connection counts its own writes to each watched table,
whatever code made them (a TEMP trigger is this connection's alone, and its
function is allowed with ``trusted_schema`` off). A table that cannot be watched
(the trigger refused) is read every time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar, cast

from zepix_core.storage.db import Database

T = TypeVar("T")

_EVENTS = ("INSERT", "UPDATE", "DELETE")


class KeptReads(Database):
    #: Writes of this connection to each watched table (``None``: not watched yet).
    _table_writes: dict[str, int] | None = None
    #: Tables whose trigger was refused: read every time.
    _unwatched: frozenset[str] = frozenset()
    #: name -> (data_version, the tables' write counts, the value read then).
    _kept_reads: dict[str, tuple[int, tuple[int, ...], object]] | None = None

    def kept_read(self, name: str, tables: tuple[str, ...], read: Callable[[], T]) -> T:
        """``read()``, or what it returned last time under ``name`` when none of
        ``tables`` may have changed since. The value is shared: callers copy it
        before changing it."""
        with self._lock:
            writes = self._writes(tables)
            if writes is None:
                return read()
            try:
                version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.DatabaseError:
                return read()  # the read says what is wrong
            kept = self._kept_reads if self._kept_reads is not None else {}
            self._kept_reads = kept
            found = kept.get(name)
            if found is not None and found[0] == version and found[1] == writes:
                return cast("T", found[2])
            value = read()
            kept[name] = (version, writes, value)
            return value

    def _writes(self, tables: tuple[str, ...]) -> tuple[int, ...] | None:
        counts = self._table_writes
        if counts is None:
            counts = self._table_writes = {}

            def wrote(table: str) -> None:
                counts[table] = counts.get(table, 0) + 1

            try:
                self._conn.create_function("zepix_wrote", 1, wrote)
            except sqlite3.DatabaseError:  # no trigger may call it: nothing is watched
                self._unwatched = frozenset(["*"])
        if "*" in self._unwatched:
            return None
        for table in tables:
            if table not in counts and table not in self._unwatched:
                self._watch(table, counts)
        if any(t in self._unwatched for t in tables):
            return None
        return tuple(counts[t] for t in tables)

    def _watch(self, table: str, counts: dict[str, int]) -> None:
        try:
            for event in _EVENTS:
                self._conn.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS zepix_{table}_{event.lower()} AFTER "
                    f"{event} ON main.{table} BEGIN SELECT zepix_wrote('{table}'); END")
        except sqlite3.DatabaseError:
            self._unwatched = self._unwatched | {table}
            return
        counts[table] = 0
