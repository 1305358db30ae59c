"""The invariants the soak checks after its run, by reading the databases and the
processes itself: a check through the host's storage layer could not catch that
layer's own mistakes.

- ``bars`` (``bars.BarChecks``): every bar the host was fed was offered to
  every plugin it knows or counted as dropped with a reason, and what it was
  fed is the CSV (``chaos_count`` saw its bars in order, none skipped);
- ``activations`` (``Stage.check_activations``): no plugin has two open
  activation rows at any check, and none is open after the last clean stop;
- ``integrity``: ``PRAGMA integrity_check`` is ``ok`` on every database;
- ``ledger``: the central ledger holds every paper trade of every plugin
  database once, as it is there (after the last stop's final sync);
- ``alerts`` (``faults.Faults._alertmanager_down``): Alertmanager, back after
  a stop, has the host's dead-man's switch firing again;
- ``processes``: no process of the run is left;
- ``stops`` (``Stage.stop_host``): every SIGTERM ended the host with status 0
  within ``[host] shutdown_timeout`` (30 s);
- ``alive`` (``Stage.check_alive``): the host ran rounds after every fault.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time

import psutil

from zepix_core.chaos.bars import BarChecks
from zepix_core.chaos.base import query
from zepix_core.storage.central import TRADE_FIELDS


class Checks(BarChecks):
    def check_integrity(self) -> None:
        for db in sorted(self.home.rglob("*.db")):
            try:
                result = query(db, "PRAGMA integrity_check")
            except sqlite3.Error as exc:
                self.report.fail("integrity", f"{db.name}: {exc}")
                continue
            if result != [("ok",)]:
                self.report.fail("integrity", f"{db.name}: {result[:3]}")

    def check_ledger(self) -> None:
        fields = ", ".join(TRADE_FIELDS)
        # S608: fields are our own column names (TRADE_FIELDS), no input
        sql = f"SELECT plugin_id, trade_id, {fields} FROM aggregated_trades"  # noqa: S608
        try:
            if self.postgres:
                import psycopg
                with psycopg.connect(self.postgres.url, password=self.postgres.password,
                                     connect_timeout=30) as conn:
                    central = [tuple(r) for r in conn.execute(sql).fetchall()]
            else:
                central = query(self.home / "central.db", sql)
        except Exception as exc:  # noqa: BLE001 - either engine: a failed invariant, told
            self.report.fail("ledger", f"the ledger cannot be read: {exc}")
            return
        by_plugin: dict[str, dict[int, tuple[object, ...]]] = {}
        for row in central:
            by_plugin.setdefault(row[0], {})[row[1]] = row[2:]
        trades = 0
        for db in sorted((self.home / "plugins").glob("*/*.db")):
            plugin_id = db.parent.name
            try:
                # S608: fields are our own column names (TRADE_FIELDS), no input
                found = query(db, f"SELECT id, {fields} FROM trades")  # noqa: S608
            except sqlite3.Error as exc:
                self.report.fail("ledger", f"{db.name}: {exc}")
                continue
            mine = {row[0]: row[1:] for row in found}
            theirs = by_plugin.pop(plugin_id, {})
            trades += len(mine)
            lost = sorted(set(mine) - set(theirs))
            extra = sorted(set(theirs) - set(mine))
            differ = sorted(t for t in set(mine) & set(theirs) if mine[t] != theirs[t])
            for what, ids in (("not in the ledger", lost), ("only in the ledger", extra),
                              ("different in the ledger", differ)):
                if ids:
                    self.report.fail("ledger", f"{plugin_id}: {len(ids)} trade(s) {what}, "
                                               f"e.g. {ids[:3]}")
        for plugin_id, left in by_plugin.items():
            self.report.fail("ledger", f"{plugin_id}: {len(left)} ledger trade(s) of no "
                                       "plugin database")
        self.report.trades = trades

    def check_processes(self) -> None:
        deadline = time.monotonic() + 30  # workers notice their host's end
        while True:
            left = _in_sessions(self.sessions)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for proc in left:
            with contextlib.suppress(psutil.Error):
                self.report.fail("processes", f"pid {proc.pid} left: "
                                              f"{' '.join(proc.cmdline())[:120]}")


def _in_sessions(sessions: set[int]) -> list[psutil.Process]:
    left = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) in sessions and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
    return left
