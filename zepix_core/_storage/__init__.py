"""Storage: the one owner of the SQLite schema, its migrations and every query."""

from ._db import Database, Row
from ._history import HistoryQueries


class Store(HistoryQueries):
    """All queries of the host over one database file."""


__all__ = ["Database", "Row", "Store"]
