"""Per-plugin databases: each plugin's own SQLite file with host-owned trade tables.

``context.database`` is a :class:`PluginDatabase`. This package sits low
(beside ``paper``), since plugins and the paper session use it; it owns the
SQL of plugin databases, as ``zepix_core.storage`` owns the SQL of the host's
own database and the central ledger. docs/plugin-databases.md documents the
tables and the API.
"""

from zepix_core.contract.plugindata import DailyStats, Migration, Trade, day_of
from zepix_core.plugindb._database import PluginDatabase, database_file
from zepix_core.plugindb._health import DbFields, health_fields, prepare
from zepix_core.plugindb._pending import oldest_change
from zepix_core.plugindb._pool import DatabaseLocked, DbStats
from zepix_core.plugindb._schema import MIGRATIONS, TRADE_COLUMNS

__all__ = ["MIGRATIONS", "TRADE_COLUMNS", "DailyStats", "DatabaseLocked", "DbFields", "DbStats",
           "Migration", "PluginDatabase", "Trade", "database_file", "day_of", "health_fields",
           "oldest_change", "prepare"]
