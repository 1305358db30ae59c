"""Storage: the one owner of the SQLite schema, its migrations and every query."""

from ._alerts import AlertQueries
from ._db import Database, Row
from ._history import HistoryQueries
from ._requests import RequestQueries
from ._snapshots import SnapshotQueries
from ._versions import VersionBook, VersionQueries


class Store(HistoryQueries, SnapshotQueries, AlertQueries, RequestQueries,
            VersionQueries):
    """All queries of the host over one database file."""


__all__ = ["Database", "Row", "Store", "VersionBook"]
