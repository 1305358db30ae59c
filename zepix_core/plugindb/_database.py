"""``PluginDatabase``: one plugin's own SQLite file with the host-owned trade tables."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from zepix_core.contract.errors import StorageError
from zepix_core.contract.plugindata import DailyStats, Migration, Trade, day_of, day_text
from zepix_core.plugindb import _schema as q
from zepix_core.plugindb._migrations import migrate_host_tables, plugin_step, plugin_version
from zepix_core.plugindb._pool import DbStats, Pool, pid

Clock = Callable[[], float]
T = TypeVar("T")
#: What SQLite hands back for one column.
SqlValue = str | int | float | bytes | None
#: One row as read, before a reader narrows it (a plugin may write anything).
Row = dict[str, SqlValue]


@dataclass(frozen=True)
class Closed:
    """A closed trade as the risk watch reads it (``closed_since``)."""

    id: int
    rev: int
    closed_at: float | None
    pnl: float | None


def database_file(plugin_id: str, data_dir: Path | str) -> Path:
    """Where plugin ``plugin_id`` keeps its database: ``zepix_<id>.db`` in its data dir."""
    return Path(data_dir) / f"zepix_{plugin_id}.db"


class PluginDatabase:
    """A plugin's own SQLite database (WAL), safe to use from several threads.

    The host hands one to every plugin as ``context.database``. It opens on
    first use, in the process that uses it: under process isolation that is
    the plugin's worker (the object pickles as its path). Host-owned tables
    ``trades``, ``signals`` and ``daily_stats`` are created and migrated
    automatically; ``migrate`` keeps a plugin's own tables, and ``connection``
    lends a connection for them. Every call counts its queries and their time;
    every ``stats_every`` seconds the counts are written to the file, where
    the host reads them for the health snapshot's ``db_*`` fields.

    Errors are ``StorageError`` naming the file and the fix. A file locked by
    another process is retried for ``lock_wait`` seconds first.
    """

    def __init__(self, path: Path | str, plugin_id: str | None = None, *, pool_size: int = 4,
                 lock_wait: float = 10.0, clock: Clock = time.time, stats_every: float = 5.0,
                 track: bool = True) -> None:
        self.path = Path(path)
        self.plugin_id = plugin_id or self.path.stem
        self.pool_size = pool_size
        self.lock_wait = lock_wait
        self.stats_every = stats_every
        self.track = track
        self._clock = clock
        self._pool: Pool | None = None
        self._opening = threading.Lock()
        self._saved_at = -math.inf
        #: ``_health``'s last read of the saved counts, with the file's signature then.
        self.read_cache: tuple[tuple[int, ...] | None, Row | None] | None = None

    def __reduce__(self) -> tuple[type[PluginDatabase], tuple[str, str]]:
        # Crosses into a worker process as its path: the worker opens its own connections.
        return (PluginDatabase, (str(self.path), self.plugin_id))

    def __repr__(self) -> str:
        return f"PluginDatabase({str(self.path)!r}, plugin_id={self.plugin_id!r})"

    # -- opening -----------------------------------------------------------
    def open(self) -> PluginDatabase:
        """Create or migrate the file now (otherwise the first call does); returns self."""
        self._connected()
        return self

    def _connected(self) -> Pool:
        with self._opening:
            if self._pool is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(f"plugin database {self.path}: cannot create its "
                                       f"directory ({exc})") from None
                pool = Pool(self.path, self.pool_size, lock_wait=self.lock_wait)
                try:
                    migrate_host_tables(pool)
                except BaseException:
                    pool.close()
                    raise
                self._pool = pool
            return self._pool

    def check(self) -> None:
        """Raise ``StorageError`` naming the file when it is damaged (``quick_check``)."""
        rows = self._run("integrity check", lambda c: c.execute("PRAGMA quick_check").fetchall())
        problems = [r[0] for r in rows if r[0] != "ok"]
        if problems:
            raise StorageError(f"plugin database {self.path} is corrupt ({problems[0]}); "
                               "move it aside (a new one is created) or restore a backup")

    @property
    def opened(self) -> bool:
        """Whether this object holds connections (it was used in this process)."""
        return self._pool is not None

    @property
    def schema_version(self) -> int:
        return int(self._run("schema version",
                             lambda c: c.execute("PRAGMA user_version").fetchone()[0]))

    def close(self) -> None:
        with self._opening:
            pool, self._pool = self._pool, None
        if pool is not None:
            if self.track:
                self._save_stats(pool)
            pool.close()

    # -- signals and trades -------------------------------------------------
    def record_signal(self, symbol: str, kind: str, *, side: str | None = None,
                      price: float | None = None, ts: float | None = None,
                      trade_id: int | None = None,
                      detail: Mapping[str, object] | None = None) -> int:
        """Log one signal (``kind``: the plugin's name for it, e.g. ``entry_long``);
        returns its id. Counted in the day's ``signals``."""
        when = self._now(ts)

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(q.INSERT_SIGNAL, (when, symbol, kind, side, price, trade_id,
                                                 _json(detail)))
            _bump(conn, when, signals=1)
            return int(cur.lastrowid or 0)
        return int(self._run("record_signal", write, write=True))

    def open_trade(self, symbol: str, side: str, quantity: float, price: float, *,
                   ref: str | None = None, stop: float | None = None,
                   target: float | None = None, ts: float | None = None,
                   reason: str | None = None, extra: Mapping[str, object] | None = None) -> Trade:
        """Record an entry fill (``side``: ``buy`` opens long, ``sell`` short).

        With ``ts`` given (the bar's or fill's time), a trade's natural identity is
        (``symbol``, ``side``, ``ts``): opening it again (a replay of the same bars
        after a restart) returns the trade recorded first and records nothing, so no
        trade is counted twice. Without ``ts`` (now) every call opens a trade."""
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        when = self._now(ts)

        def write(conn: sqlite3.Connection) -> int:
            same = (None if ts is None else
                    conn.execute(q.SELECT_SAME, (symbol, side, when)).fetchone())
            if same is not None:
                return int(same["id"])
            cur = conn.execute(q.INSERT_TRADE, (ref, symbol, side, float(quantity), float(price),
                                                stop, target, when, reason, _json(extra),
                                                self._clock()))
            _bump(conn, when, trades_opened=1)
            return int(cur.lastrowid or 0)
        return self._trade_or_fail(self._run("open_trade", write, write=True))

    def update_trade(self, trade_id: int, **changes: object) -> Trade:
        """Change ``ref``, ``quantity``, ``stop``, ``target``, ``reason`` or ``extra``."""
        unknown = sorted(set(changes) - q.UPDATABLE)
        if unknown:
            raise ValueError(f"update_trade cannot change {', '.join(unknown)}; "
                             f"allowed: {', '.join(sorted(q.UPDATABLE))}")
        if "extra" in changes:
            extra = changes["extra"]
            changes["extra"] = _json(extra if isinstance(extra, Mapping) else None)
        names = sorted(changes)
        assignments = ", ".join(f"{name} = ?" for name in names)  # names: from UPDATABLE only
        # S608: column names come from UPDATABLE only; values are parameters
        statement = f"UPDATE trades SET {assignments}, updated_at = ?, rev = {q.NEXT_REV} WHERE id = ?"  # noqa: S608
        values = [changes[n] for n in names] + [self._clock(), trade_id]
        self._run("update_trade", lambda c: c.execute(statement, values), write=True)
        return self._trade_or_fail(trade_id)

    def close_trade(self, trade_id: int, price: float, *, ts: float | None = None,
                    reason: str | None = None, fee: float = 0.0,
                    pnl: float | None = None) -> Trade:
        """Record the exit of an open trade; ``pnl`` defaults to the price move times
        the quantity, less ``fee``. Counted in the day of ``ts`` (win, loss, P&L).
        The same exit (price and time) of a trade closed already is a no-op (a replay)."""
        when = self._now(ts)

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(q.SELECT_TRADE, (trade_id,)).fetchone()
            if (row is not None and row["status"] == "closed" and row["closed_at"] == when
                    and row["exit_price"] == price):
                return  # the same exit again (a replay): recorded once already
            if row is None or row["status"] != "open":
                state = "unknown" if row is None else "already closed"
                raise ValueError(f"trade {trade_id} is {state}")
            sign = 1.0 if row["side"] == "buy" else -1.0
            total_fee = float(row["fee"]) + fee
            gain = (sign * (price - row["entry_price"]) * row["quantity"] - total_fee
                    if pnl is None else pnl)
            conn.execute(q.CLOSE_TRADE, (price, when, gain, total_fee, reason, self._clock(),
                                         trade_id))
            _bump(conn, when, trades_closed=1, wins=int(gain > 0), losses=int(gain < 0),
                  pnl=gain, fees=total_fee)
        self._run("close_trade", write, write=True)
        return self._trade_or_fail(trade_id)

    def trade(self, trade_id: int) -> Trade | None:
        row = self._run("trade", lambda c: c.execute(q.SELECT_TRADE, (trade_id,)).fetchone())
        return None if row is None else Trade.from_row(row)

    def trade_by_ref(self, ref: str) -> Trade | None:
        """The trade with the broker's ticket ``ref``, or None."""
        row = self._run("trade_by_ref", lambda c: c.execute(q.SELECT_BY_REF, (ref,)).fetchone())
        return None if row is None else Trade.from_row(row)

    def open_trades(self, symbol: str | None = None) -> list[Trade]:
        rows = self._run("open_trades",
                         lambda c: c.execute(q.SELECT_OPEN, (symbol, symbol)).fetchall())
        return [Trade.from_row(r) for r in rows]

    def trades(self, *, open_only: bool = False, limit: int | None = None) -> list[Trade]:
        """Trades newest first (all of them unless ``limit``)."""
        args = (int(open_only), -1 if limit is None else int(limit))
        rows = self._run("trades", lambda c: c.execute(q.SELECT_TRADES, args).fetchall())
        return [Trade.from_row(r) for r in rows]

    def daily_stats(self, day: str | date | datetime) -> DailyStats:
        """The statistics of UTC day ``day`` (``YYYY-MM-DD``); zeros for a quiet day."""
        key = day_text(day)
        row = self._run("daily_stats", lambda c: c.execute(q.SELECT_DAY, (key,)).fetchone())
        return DailyStats(day=key) if row is None else DailyStats.from_row(row)

    def days(self, limit: int = 30) -> list[DailyStats]:
        rows = self._run("days", lambda c: c.execute(q.SELECT_DAYS, (limit,)).fetchall())
        return [DailyStats.from_row(r) for r in rows]

    # -- a plugin's own tables ----------------------------------------------
    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Lend a connection for the plugin's own tables (autocommit; use
        ``with conn:`` or ``BEGIN`` for a transaction). Keep it within the block."""
        with self._connected().borrow() as conn:
            yield conn

    def migrate(self, name: str, steps: Sequence[Migration]) -> int:
        """Bring the plugin's own tables called ``name`` up to ``len(steps)``.

        Each step is SQL text or a function of the connection, and runs once, in
        its own transaction, in order; the version reached is kept in
        ``plugin_schema``, so the next activation runs only new steps. Append
        steps, never edit one that shipped. Returns the version reached.
        """
        done = self._run("migrate", lambda c: plugin_version(c, name))
        for version, step in enumerate(steps[done:], start=done + 1):
            self._run(f"migrate {name} to {version}",
                      partial(plugin_step, name=name, version=version, step=step,
                              now=self._clock()), write=True)
        return len(steps) if steps else done

    # -- what the host reads --------------------------------------------------
    def changes_since(self, rev: int, limit: int = 1000) -> list[Row]:
        """Trade rows changed after ``rev``, oldest change first (the sync cursor)."""
        rows = self._run("changes", lambda c: c.execute(q.SELECT_CHANGES, (rev, limit)).fetchall())
        return [dict(r) for r in rows]

    def prune(self, before: float, synced_rev: int) -> tuple[int, int]:
        """Delete signals older than ``before`` and closed trades older than it that the
        ledger has (``rev <= synced_rev``); never an open trade or one not yet synced.
        Returns (signals, trades) deleted."""
        def write(conn: sqlite3.Connection) -> tuple[int, int]:
            signals = conn.execute(q.DELETE_OLD_SIGNALS, (before,)).rowcount
            trades = conn.execute(q.DELETE_OLD_TRADES, (before, synced_rev)).rowcount
            return signals, trades
        return self._run("prune", write, write=True)

    def closed_since(self, rev: int) -> list[Closed]:
        """Trades closed (or changed after closing) since ``rev``, oldest change first:
        what the host's risk watch reads. A row whose id or rev is not whole is left
        out, a P&L or time that is not a number is None (the plugin owns the file)."""
        rows = self._run("closed_since",
                         lambda c: c.execute(q.SELECT_CLOSED_SINCE, (rev,)).fetchall())
        return [Closed(r["id"], r["rev"], _number(r["closed_at"]), _number(r["pnl"]))
                for r in rows if type(r["id"]) is int and type(r["rev"]) is int]

    def pending(self, rev: int) -> tuple[float | None, int | None]:
        """When the oldest change after ``rev`` was made, and the newest ``rev``."""
        row = self._run("pending", lambda c: c.execute(q.SELECT_OLDEST_CHANGE, (rev,)).fetchone())
        return row["oldest"], row["rev"]

    def stats(self) -> DbStats:
        """This process's counts (zeros before the first call)."""
        return self._pool.stats() if self._pool is not None else DbStats(
            connections_max=self.pool_size)

    def saved_stats(self) -> Row | None:
        """The counts last written to the file by the process that uses it."""
        row = self._run("saved stats", lambda c: c.execute(q.SELECT_STATS).fetchone(),
                        counted=False)
        return None if row is None else dict(row)

    # -- internals ----------------------------------------------------------
    def _now(self, ts: float | None) -> float:
        return float(self._clock() if ts is None else ts)

    def _trade_or_fail(self, trade_id: int) -> Trade:
        found = self.trade(trade_id)
        if found is None:
            raise ValueError(f"trade {trade_id} is unknown")
        return found

    def _run(self, what: str, work: Callable[[sqlite3.Connection], T], *, write: bool = False,
             counted: bool = True) -> T:
        pool = self._connected()
        value = pool.run(what, work, write=write, counted=counted)
        if counted and self.track and self._clock() - self._saved_at >= self.stats_every:
            self._save_stats(pool)
        return value

    def _save_stats(self, pool: Pool) -> None:
        now = self._clock()
        self._saved_at = now
        s = pool.stats()
        try:
            pool.run("save stats", lambda c: c.execute(q.SAVE_STATS, (
                pid(), s.queries, s.query_time_ms, s.connections_active, s.connections_open,
                s.connections_max, now, s.writes, s.errors)), write=True, counted=False)
        except StorageError:
            pass  # statistics are best effort; the next call tries again


def _number(value: SqlValue) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _json(value: Mapping[str, object] | None) -> str:
    return json.dumps(dict(value or {}), default=str, allow_nan=False)


def _bump(conn: sqlite3.Connection, when: float, *, signals: int = 0, trades_opened: int = 0,
          trades_closed: int = 0, wins: int = 0, losses: int = 0, pnl: float = 0.0,
          fees: float = 0.0) -> None:
    conn.execute(q.BUMP_DAY, (day_of(when), signals, trades_opened, trades_closed, wins, losses,
                              pnl, fees))
