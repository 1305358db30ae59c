"""Storage: the one owner of the SQLite schema, its migrations and every query."""

from zepix_core.storage.alerts import AlertQueries
from zepix_core.storage.baselines import BaselineQueries
from zepix_core.storage.configchanges import ConfigChangeQueries
from zepix_core.storage.controls import ControlQueries
from zepix_core.storage.db import Database, Row
from zepix_core.storage.deferred import DeferredWrites
from zepix_core.storage.history import HistoryQueries
from zepix_core.storage.requests import RequestQueries
from zepix_core.storage.retries import RetryQueries
from zepix_core.storage.rows import (
    AlertRow,
    DesiredRow,
    EventRow,
    HostRow,
    PauseRow,
    ProbationRow,
    RequestRow,
    SilenceRow,
    StatusRow,
)
from zepix_core.storage.series import SeriesQueries
from zepix_core.storage.snapshots import SnapshotQueries
from zepix_core.storage.summaries import SummaryQueries
from zepix_core.storage.sync import SyncQueries
from zepix_core.storage.trades import TradeQueries
from zepix_core.storage.versions import VersionBook, VersionQueries


class Store(DeferredWrites, HistoryQueries, SnapshotQueries, AlertQueries, RequestQueries,
            VersionQueries, RetryQueries, BaselineQueries, SeriesQueries, SyncQueries,
            TradeQueries, ConfigChangeQueries, ControlQueries, SummaryQueries):
    """All queries of the host over one database file; see ``DeferredWrites`` for
    the writes a running host lets wait while the database is unavailable."""


__all__ = ["AlertRow", "Database", "DesiredRow", "EventRow", "HostRow", "PauseRow",
           "ProbationRow", "RequestRow", "Row", "SilenceRow", "StatusRow", "Store",
           "VersionBook"]
