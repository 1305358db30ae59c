"""Storage: the one owner of the SQLite schema, its migrations and every query."""

from zepix_core.storage.alerts import AlertQueries
from zepix_core.storage.db import Database, Row
from zepix_core.storage.history import HistoryQueries
from zepix_core.storage.requests import RequestQueries
from zepix_core.storage.snapshots import SnapshotQueries
from zepix_core.storage.trades import TradeQueries
from zepix_core.storage.versions import VersionBook, VersionQueries


class Store(HistoryQueries, SnapshotQueries, AlertQueries, RequestQueries,
            VersionQueries, TradeQueries):
    """All queries of the host over one database file."""


__all__ = ["Database", "Row", "Store", "VersionBook"]
