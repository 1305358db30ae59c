"""The central trade ledger: ``aggregated_trades`` in SQLite or PostgreSQL.

One table, unique on ``(host_id, plugin_id, trade_id)``, with every trade
field of a plugin database, the trade's ``rev`` there and ``synced_at``. Rows
arrive by upsert: writing a batch twice leaves one row per trade, and an older
copy of a trade never overwrites a newer one (``rev``), so a sync interrupted
anywhere is simply run again. The same DDL serves both engines.

``[sync] url``: ``sqlite:///PATH`` (an absolute path after ``sqlite://``) or
``postgresql://user@host:port/db``. The PostgreSQL password comes from
outside the URL (``ZEPIX_SYNC_PASSWORD``, ``[sync] password_file``, or libpq's
own ``PGPASSWORD``/``.pgpass``); whatever is shown or logged of a URL goes
through ``redact_url``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypedDict

from zepix_core.contract.errors import ConfigError, StorageError
from zepix_core.contract.redact import redact_url

Row = dict[str, object]


class LedgerTrade(TypedDict):
    """A plugin database's trade row as the ledger takes it (``sync.rows.checked``)."""

    id: int
    ref: str | None
    symbol: str
    side: str
    quantity: float
    entry_price: float
    stop: float | None
    target: float | None
    opened_at: float
    status: str
    exit_price: float | None
    closed_at: float | None
    pnl: float | None
    fee: float
    reason: str | None
    close_reason: str | None
    extra: str
    updated_at: float
    rev: int

#: Ledger columns fed from a plugin database's trade row (``id`` becomes ``trade_id``).
TRADE_FIELDS = ("ref", "symbol", "side", "quantity", "entry_price", "stop", "target",
                "opened_at", "status", "exit_price", "closed_at", "pnl", "fee", "reason",
                "close_reason", "extra", "updated_at", "rev")
COLUMNS = ("host_id", "plugin_id", "trade_id", *TRADE_FIELDS, "synced_at")

SCHEMA = """
CREATE TABLE IF NOT EXISTS aggregated_trades (
    host_id      TEXT NOT NULL,
    plugin_id    TEXT NOT NULL,
    trade_id     BIGINT NOT NULL,
    ref          TEXT,
    symbol       TEXT NOT NULL,
    side         TEXT NOT NULL,
    quantity     DOUBLE PRECISION NOT NULL,
    entry_price  DOUBLE PRECISION NOT NULL,
    stop         DOUBLE PRECISION,
    target       DOUBLE PRECISION,
    opened_at    DOUBLE PRECISION NOT NULL,
    status       TEXT NOT NULL,
    exit_price   DOUBLE PRECISION,
    closed_at    DOUBLE PRECISION,
    pnl          DOUBLE PRECISION,
    fee          DOUBLE PRECISION NOT NULL,
    reason       TEXT,
    close_reason TEXT,
    extra        TEXT NOT NULL,
    updated_at   DOUBLE PRECISION NOT NULL,
    rev          BIGINT NOT NULL,
    synced_at    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (host_id, plugin_id, trade_id)
)"""

UPSERT = (
    # S608: COLUMNS is a constant tuple; values are parameters
    f"INSERT INTO aggregated_trades ({', '.join(COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (host_id, plugin_id, trade_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*TRADE_FIELDS, "synced_at"))
    + " WHERE aggregated_trades.rev <= excluded.rev")
SELECT_ROWS = ("SELECT * FROM aggregated_trades WHERE (CAST(? AS TEXT) IS NULL OR host_id = ?) "
               "ORDER BY host_id, plugin_id, trade_id")
COUNT = "SELECT COUNT(*) FROM aggregated_trades"
#: Serialises concurrent first-time schema creation on PostgreSQL (any fixed key).
_SCHEMA_LOCK = 0x7A65706978


class Ledger(Protocol):
    """A connection to the central ledger."""

    target: str  # the URL as it may be shown: credentials hidden

    def upsert(self, host_id: str, plugin_id: str, trades: Sequence[Mapping[str, object]],
               synced_at: float) -> int:
        """Write ``trades`` (plugin database rows) in one transaction; returns the count."""

    def rows(self, host_id: str | None = None) -> list[Row]:
        """Every ledger row (of ``host_id``), by host, plugin and trade id."""

    def close(self) -> None: ...


def _params(host_id: str, plugin_id: str, trades: Sequence[Mapping[str, object]],
            synced_at: float) -> list[tuple[object, ...]]:
    return [(host_id, plugin_id, t["id"], *(t[f] for f in TRADE_FIELDS), synced_at)
            for t in trades]


class SqliteLedger:
    """The ledger in a SQLite file (the default: ``central.db`` in the data directory)."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self.target = f"sqlite://{path}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(SCHEMA)
        except OSError as exc:
            raise StorageError(f"central ledger {path}: cannot create its directory "
                               f"({exc})") from None

    def upsert(self, host_id: str, plugin_id: str, trades: Sequence[Mapping[str, object]],
               synced_at: float) -> int:
        params = _params(host_id, plugin_id, trades, synced_at)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(UPSERT, params)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        return len(params)

    def rows(self, host_id: str | None = None) -> list[Row]:
        return [dict(r) for r in self._conn.execute(SELECT_ROWS, (host_id, host_id))]

    def close(self) -> None:
        self._conn.close()


class PostgresLedger:
    """The ledger on a PostgreSQL server (psycopg 3, the ``postgres`` extra)."""

    def __init__(self, url: str, password: str | None = None,
                 connect_timeout: float = 5.0) -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigError("sync.url is a postgresql:// URL but psycopg is not installed; "
                              "pip install 'zepix-core[postgres]'") from None
        self.target = redact_url(url)
        extra: dict[str, Any] = {"connect_timeout": max(1, int(connect_timeout))}
        if password is not None:
            extra["password"] = password
        self._conn = psycopg.connect(url, autocommit=False, **extra)
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._conn.execute(SCHEMA)

    def upsert(self, host_id: str, plugin_id: str, trades: Sequence[Mapping[str, object]],
               synced_at: float) -> int:
        params = _params(host_id, plugin_id, trades, synced_at)
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(UPSERT.replace("?", "%s"), params)
        return len(params)

    def rows(self, host_id: str | None = None) -> list[Row]:
        with self._conn.cursor() as cur:
            cur.execute(SELECT_ROWS.replace("?", "%s"), (host_id, host_id))
            names = [d.name for d in cur.description or ()]
            found = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        self._conn.rollback()  # end the read transaction
        return found

    def close(self) -> None:
        self._conn.close()


def open_ledger(url: str, *, password: str | None = None,
                connect_timeout: float = 5.0) -> Ledger:
    """Connect to the ledger at ``url``; a failure to connect raises the driver's error
    (the sync manager retries it), a malformed URL ``ConfigError``."""
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        if not path.startswith("/"):
            raise ConfigError(f"sync.url: {url!r}: write sqlite:///ABSOLUTE/PATH "
                              "(three slashes, then the path)")
        return SqliteLedger(Path(path).expanduser())
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresLedger(url, password, connect_timeout)
    raise ConfigError(f"sync.url: {redact_url(url)!r} is neither sqlite:///PATH nor "
                      "postgresql://...")
