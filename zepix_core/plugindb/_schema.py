"""The host-owned tables of a plugin database, as an ordered list of migrations.

Like the host's own database (``zepix_core.storage``), the schema of a plugin
database is tracked with ``PRAGMA user_version``: migration N ran when
``user_version >= N``. These tables belong to the host and migrate with it; a
plugin keeps its own tables beside them through ``PluginDatabase.migrate``,
tracked by name in ``plugin_schema``. ``DB_SCHEMA_VERSION`` (what plugins
state ``requires_db_schema`` against) names the shape of these tables.

Times are REAL epoch seconds (UTC); ``opened_at``/``closed_at`` are the
trade's own times (a bar's, in a replay), ``updated_at`` the wall-clock time
of the last write. ``rev`` is the database's change counter:
every insert or update of a trade takes the next value, so a reader that
remembers the last ``rev`` it saw reads only what changed since (the sync
manager's cursor).
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: trades, signals, daily statistics, query statistics, plugin migrations.
    """
    CREATE TABLE trades (
        id           INTEGER PRIMARY KEY,
        ref          TEXT UNIQUE,
        symbol       TEXT NOT NULL,
        side         TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity     REAL NOT NULL,
        entry_price  REAL NOT NULL,
        stop         REAL,
        target       REAL,
        opened_at    REAL NOT NULL,
        status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        exit_price   REAL,
        closed_at    REAL,
        pnl          REAL,
        fee          REAL NOT NULL DEFAULT 0,
        reason       TEXT,
        close_reason TEXT,
        extra        TEXT NOT NULL DEFAULT '{}',
        updated_at   REAL NOT NULL,
        rev          INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX trades_rev ON trades(rev);
    CREATE INDEX trades_open ON trades(symbol) WHERE status = 'open';
    CREATE TABLE signals (
        id       INTEGER PRIMARY KEY,
        ts       REAL NOT NULL,
        symbol   TEXT NOT NULL,
        kind     TEXT NOT NULL,
        side     TEXT,
        price    REAL,
        trade_id INTEGER REFERENCES trades(id),
        detail   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX signals_ts ON signals(ts);
    CREATE TABLE daily_stats (
        day           TEXT PRIMARY KEY,
        signals       INTEGER NOT NULL DEFAULT 0,
        trades_opened INTEGER NOT NULL DEFAULT 0,
        trades_closed INTEGER NOT NULL DEFAULT 0,
        wins          INTEGER NOT NULL DEFAULT 0,
        losses        INTEGER NOT NULL DEFAULT 0,
        pnl           REAL NOT NULL DEFAULT 0,
        fees          REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE db_stats (
        id                 INTEGER PRIMARY KEY CHECK (id = 1),
        pid                INTEGER NOT NULL,
        queries            INTEGER NOT NULL,
        query_time_ms      REAL NOT NULL,
        connections_active INTEGER NOT NULL,
        connections_open   INTEGER NOT NULL,
        connections_max    INTEGER NOT NULL,
        updated_at         REAL NOT NULL
    );
    CREATE TABLE plugin_schema (
        name       TEXT PRIMARY KEY,
        version    INTEGER NOT NULL,
        applied_at REAL NOT NULL
    )
    """,
    # 2 (issue 28): write transactions and failed calls, beside the query counts.
    """
    ALTER TABLE db_stats ADD COLUMN writes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE db_stats ADD COLUMN errors INTEGER NOT NULL DEFAULT 0
    """,
]

#: Columns of a trade, in table order (what ``changes_since`` and the ledger carry).
TRADE_COLUMNS = ("id", "ref", "symbol", "side", "quantity", "entry_price", "stop", "target",
                 "opened_at", "status", "exit_price", "closed_at", "pnl", "fee", "reason",
                 "close_reason", "extra", "updated_at", "rev")

#: Trade fields ``update_trade`` may change.
UPDATABLE = frozenset({"ref", "quantity", "stop", "target", "reason", "extra"})

NEXT_REV = "(SELECT COALESCE(MAX(rev), 0) + 1 FROM trades)"

INSERT_TRADE = (
    # S608: NEXT_REV is a constant; values are parameters
    "INSERT INTO trades (ref, symbol, side, quantity, entry_price, stop, target, opened_at, "  # noqa: S608
    f"reason, extra, updated_at, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {NEXT_REV})")
CLOSE_TRADE = (
    # S608: NEXT_REV is a constant; values are parameters
    "UPDATE trades SET status = 'closed', exit_price = ?, closed_at = ?, pnl = ?, fee = ?, "  # noqa: S608
    f"close_reason = ?, updated_at = ?, rev = {NEXT_REV} WHERE id = ? AND status = 'open'")
SELECT_TRADE = "SELECT * FROM trades WHERE id = ?"
SELECT_SAME = ("SELECT id FROM trades WHERE symbol = ? AND side = ? AND opened_at = ? "
               "ORDER BY id LIMIT 1")
SELECT_BY_REF = "SELECT * FROM trades WHERE ref = ?"
SELECT_OPEN = ("SELECT * FROM trades WHERE status = 'open' AND (? IS NULL OR symbol = ?) "
               "ORDER BY id")
SELECT_TRADES = ("SELECT * FROM trades WHERE (? = 0 OR status = 'open') "
                 "ORDER BY id DESC LIMIT ?")
SELECT_CHANGES = "SELECT * FROM trades WHERE rev > ? ORDER BY rev LIMIT ?"
DELETE_OLD_SIGNALS = "DELETE FROM signals WHERE ts < ?"
# Closed trades older than the cut-off that the ledger has (rev <= the synced cursor)
# and that no signal kept refers to; an open trade is never pruned.
DELETE_OLD_TRADES = ("DELETE FROM trades WHERE status = 'closed' AND closed_at < ? "
                     "AND rev <= ? AND id NOT IN (SELECT trade_id FROM signals "
                     "WHERE trade_id IS NOT NULL)")
SELECT_CLOSED_SINCE = ("SELECT id, closed_at, pnl, rev FROM trades WHERE status = 'closed' "
                       "AND rev > ? ORDER BY rev")
SELECT_OLDEST_CHANGE = "SELECT MIN(updated_at) AS oldest, MAX(rev) AS rev FROM trades WHERE rev > ?"
INSERT_SIGNAL = ("INSERT INTO signals (ts, symbol, kind, side, price, trade_id, detail) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")
BUMP_DAY = (
    "INSERT INTO daily_stats (day, signals, trades_opened, trades_closed, wins, losses, pnl, "
    "fees) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET "
    "signals = signals + excluded.signals, trades_opened = trades_opened + "
    "excluded.trades_opened, trades_closed = trades_closed + excluded.trades_closed, "
    "wins = wins + excluded.wins, losses = losses + excluded.losses, "
    "pnl = pnl + excluded.pnl, fees = fees + excluded.fees")
SELECT_DAY = "SELECT * FROM daily_stats WHERE day = ?"
SELECT_DAYS = "SELECT * FROM daily_stats ORDER BY day DESC LIMIT ?"
SAVE_STATS = (
    "INSERT INTO db_stats (id, pid, queries, query_time_ms, connections_active, "
    "connections_open, connections_max, updated_at, writes, errors) "
    "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, queries = excluded.queries, "
    "writes = excluded.writes, errors = excluded.errors, "
    "query_time_ms = excluded.query_time_ms, connections_active = "
    "excluded.connections_active, connections_open = excluded.connections_open, "
    "connections_max = excluded.connections_max, updated_at = excluded.updated_at")
SELECT_STATS = "SELECT * FROM db_stats WHERE id = 1"
SELECT_PLUGIN_SCHEMA = "SELECT version FROM plugin_schema WHERE name = ?"
SAVE_PLUGIN_SCHEMA = (
    "INSERT INTO plugin_schema (name, version, applied_at) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
    "applied_at = excluded.applied_at")
