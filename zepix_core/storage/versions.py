"""Queries of version management: desired versions, version flags, probations, canaries.

A command that changes what should run reads and writes in one ``BEGIN
IMMEDIATE`` transaction (``version_tx``), so two commands racing each other,
or a command racing the host, each see the other's result or wait for it:
the checks a command makes hold when its writes land.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from zepix_core.contract import jsondoc
from zepix_core.storage.db import Row
from zepix_core.storage.kept import KeptReads
from zepix_core.storage.rows import DesiredRow, ProbationRow


@dataclass(frozen=True)
class VersionBook:
    """Everything recorded about one plugin's versions, read at one moment.

    ``versions`` by version string; ``running`` is the open activation (a
    host runs the plugin now), ``status`` the last recorded plugin state.
    """

    plugin_id: str
    versions: Mapping[str, Row]
    desired: Row | None
    running: Row | None
    status: Row | None
    canary: Row | None
    probation: Row | None


def _one(conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> Row | None:
    row = conn.execute(sql, params).fetchone()
    return dict(row) if row is not None else None


def read_book(conn: sqlite3.Connection, plugin_id: str) -> VersionBook:
    rows = conn.execute("SELECT * FROM plugin_versions WHERE plugin_id = ?", (plugin_id,))
    return VersionBook(
        plugin_id=plugin_id,
        versions={r["version"]: dict(r) for r in rows.fetchall()},
        desired=_one(conn, "SELECT * FROM desired_versions WHERE plugin_id = ?", (plugin_id,)),
        running=_one(conn, "SELECT * FROM activations WHERE plugin_id = ? AND deactivated_at "
                           "IS NULL ORDER BY id DESC LIMIT 1", (plugin_id,)),
        status=_one(conn, "SELECT * FROM plugin_status WHERE plugin_id = ?", (plugin_id,)),
        canary=_one(conn, "SELECT * FROM canary_runs WHERE plugin_id = ? AND ended_at IS NULL",
                    (plugin_id,)),
        probation=_one(conn, "SELECT * FROM probations WHERE plugin_id = ?", (plugin_id,)),
    )


class VersionTx:
    """Writes of one command, inside the transaction that read ``book``."""

    def __init__(self, conn: sqlite3.Connection, plugin_id: str, now: float) -> None:
        self.conn = conn
        self.plugin_id = plugin_id
        self.now = now
        self.book = read_book(conn, plugin_id)

    def request(self, action: str, version: str | None, actor: str, force: bool = False,
                outcome: str | None = None) -> int:
        """Queue a request for the host; with ``outcome`` it is recorded as already applied."""
        cur = self.conn.execute(
            "INSERT INTO requests (plugin_id, action, version, force, actor, requested_at, "
            "applied_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.plugin_id, action, version, int(force), actor, self.now,
             None if outcome is None else self.now, outcome))
        return int(cur.lastrowid or 0)

    def set_desired(self, version: str, previous: str | None, request_id: int | None,
                    actor: str, reason: str) -> None:
        set_desired(self.conn, self.plugin_id, version, previous, request_id, actor, reason,
                    self.now)

    def ensure_version(self, version: str, distribution: str, source: str) -> None:
        self.conn.execute(
            "INSERT INTO plugin_versions (plugin_id, version, distribution, source, first_seen) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (plugin_id, version) DO NOTHING",
            (self.plugin_id, version, distribution, source, self.now))

    def set_deprecated(self, version: str, deprecated: bool) -> None:
        self.conn.execute("UPDATE plugin_versions SET deprecated = ? WHERE plugin_id = ? "
                          "AND version = ?", (int(deprecated), self.plugin_id, version))

    def open_canary(self, version: str, baseline: str | None, request_id: int) -> int:
        cur = self.conn.execute(
            "INSERT INTO canary_runs (plugin_id, version, baseline, state, request_id, "
            "requested_at) VALUES (?, ?, ?, 'requested', ?, ?)",
            (self.plugin_id, version, baseline, request_id, self.now))
        return int(cur.lastrowid or 0)

    def end_canary(self, canary_id: int, state: str, actor: str, reason: str) -> None:
        end_canary(self.conn, canary_id, state, actor, reason, self.now)

    def event(self, kind: str, detail: str, version: str | None, actor: str) -> None:
        self.conn.execute("INSERT INTO events (ts, plugin_id, kind, version, actor, detail) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          (self.now, self.plugin_id, kind, version, actor, detail))


def set_desired(conn: sqlite3.Connection, plugin_id: str, version: str, previous: str | None,
                request_id: int | None, actor: str, reason: str, now: float) -> None:
    conn.execute(
        "INSERT INTO desired_versions (plugin_id, version, previous, request_id, actor, reason, "
        "set_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (plugin_id) DO UPDATE SET "
        "version = excluded.version, previous = excluded.previous, "
        "request_id = excluded.request_id, actor = excluded.actor, reason = excluded.reason, "
        "set_at = excluded.set_at",
        (plugin_id, version, previous, request_id, actor, reason, now))


def end_canary(conn: sqlite3.Connection, canary_id: int, state: str, actor: str, reason: str,
               now: float) -> bool:
    cur = conn.execute("UPDATE canary_runs SET state = ?, ended_at = ?, end_actor = ?, "
                       "end_reason = ? WHERE id = ? AND ended_at IS NULL",
                       (state, now, actor, reason, canary_id))
    return cur.rowcount == 1


class VersionQueries(KeptReads):
    @contextmanager
    def version_tx(self, plugin_id: str, now: float) -> Iterator[VersionTx]:
        """Read ``plugin_id``'s book and write a change in one ``BEGIN IMMEDIATE``."""
        with self.transaction() as conn:
            yield VersionTx(conn, plugin_id, now)

    @contextmanager
    def versions_tx(self, plugin_ids: Sequence[str], now: float) -> Iterator[dict[str, VersionTx]]:
        """``version_tx`` over several plugins at once (a distribution offering them)."""
        with self.transaction() as conn:
            yield {pid: VersionTx(conn, pid, now) for pid in plugin_ids}

    def version_book(self, plugin_id: str) -> VersionBook:
        with self.transaction() as conn:  # one consistent read
            return read_book(conn, plugin_id)

    def record_store_digest(self, directory: str, sha256: str, now: float) -> None:
        """What the store version ``directory`` (``<distribution>/<version>``) hashed to
        when it was installed; ``store_digest`` is what its files must hash to at load."""
        self.execute("INSERT INTO store_digests (dir, sha256, recorded_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (dir) DO UPDATE SET sha256 = excluded.sha256, "
                     "recorded_at = excluded.recorded_at", (directory, sha256, now))

    def store_digest(self, directory: str) -> str | None:
        rows = self.query("SELECT sha256 FROM store_digests WHERE dir = ?", (directory,))
        return str(rows[0]["sha256"]) if rows else None

    def all_versions(self) -> dict[str, dict[str, Row]]:
        """plugin id -> version -> its ``plugin_versions`` row."""
        found: dict[str, dict[str, Row]] = {}
        for row in self.query("SELECT * FROM plugin_versions"):
            found.setdefault(row["plugin_id"], {})[row["version"]] = row
        return found

    def desired_versions(self) -> dict[str, DesiredRow]:
        return {r["plugin_id"]: r
                for r in self.rows_as(DesiredRow, "SELECT * FROM desired_versions")}

    def set_desired_if(self, plugin_id: str, version: str, previous: str | None, actor: str,
                       reason: str, now: float, expect: str | None,
                       request_id: int | None = None) -> bool:
        """Set the desired version unless it changed from ``expect`` meanwhile
        (``None``: no desired version recorded yet); True when written."""
        with self.transaction() as conn:
            row = _one(conn, "SELECT version FROM desired_versions WHERE plugin_id = ?",
                       (plugin_id,))
            if (row["version"] if row else None) != expect:
                return False
            set_desired(conn, plugin_id, version, previous, request_id, actor, reason, now)
            return True

    # -- probations --------------------------------------------------------
    def save_probation(self, plugin_id: str, version: str, previous: str | None, rounds: int,
                       rounds_ok: int, now: float) -> None:
        self.execute(
            "INSERT INTO probations (plugin_id, version, previous, rounds, rounds_ok, "
            "started_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plugin_id) DO UPDATE SET "
            "version = excluded.version, previous = excluded.previous, "
            "rounds = excluded.rounds, rounds_ok = excluded.rounds_ok, "
            "started_at = CASE WHEN probations.version = excluded.version "
            "THEN probations.started_at ELSE excluded.started_at END",
            (plugin_id, version, previous, rounds, rounds_ok, now))

    def probations(self) -> dict[str, ProbationRow]:
        return {r["plugin_id"]: r for r in self.rows_as(ProbationRow, "SELECT * FROM probations")}

    def end_probation(self, plugin_id: str, version: str, passed: bool | None) -> None:
        """Drop the probation; ``passed`` True or False also sets the version's gate flag."""
        self.end_probations([(plugin_id, version, passed)])

    def end_probations(self, ended: Sequence[tuple[str, str, bool | None]]) -> None:
        """``end_probation`` of each (plugin id, version, passed), in one transaction."""
        if not ended:
            return
        with self.transaction() as conn:
            conn.executemany("DELETE FROM probations WHERE plugin_id = ? AND version = ?",
                             [(pid, version) for pid, version, _ in ended])
            conn.executemany("UPDATE plugin_versions SET gate_passed = ? WHERE plugin_id = ? "
                             "AND version = ?", [(int(passed), pid, version)
                                                 for pid, version, passed in ended
                                                 if passed is not None])

    def deprecated_versions(self) -> set[tuple[str, str]]:
        """(plugin id, version) of every version marked deprecated (usually none)."""
        return set(self.kept_read("deprecated_versions", ("plugin_versions",), lambda: {
            (str(r["plugin_id"]), str(r["version"])) for r in self.query(
                "SELECT plugin_id, version FROM plugin_versions WHERE deprecated")}))

    # -- canaries ----------------------------------------------------------
    def open_canaries(self) -> list[Row]:
        """Canary runs not ended, read again only when ``canary_runs`` may have changed
        (``KeptReads``: every round asks)."""
        return [dict(r) for r in self.kept_read("open_canaries", ("canary_runs",), lambda: self.query(
            "SELECT * FROM canary_runs WHERE ended_at IS NULL ORDER BY id"))]

    def canary_runs(self, plugin_id: str, limit: int = 20) -> list[Row]:
        rows = self.query("SELECT * FROM canary_runs WHERE plugin_id = ? ORDER BY id DESC "
                          "LIMIT ?", (plugin_id, limit))
        for row in rows:
            row["stats"] = json.loads(row["stats"])
        return rows

    def canary_started(self, canary_id: int, baseline: str | None, now: float) -> None:
        self.execute("UPDATE canary_runs SET state = 'running', started_at = ?, baseline = ? "
                     "WHERE id = ? AND ended_at IS NULL", (now, baseline, canary_id))

    def save_canary(self, canary_id: int, stats: Mapping[str, object],
                    intents: Sequence[tuple[str, float, str, str, float, float | None, str]]
                    ) -> None:
        """Store a run's latest comparison and the intents (arm, bar_ts, symbol, side,
        quantity, price, reason) seen since the last call, in one transaction."""
        with self.transaction() as conn:
            conn.execute("UPDATE canary_runs SET stats = ? WHERE id = ?",
                         (jsondoc.dumps(stats), canary_id))
            conn.executemany(
                "INSERT INTO canary_intents (canary_id, arm, bar_ts, symbol, side, quantity, "
                "price, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(canary_id, *intent) for intent in intents])

    def finish_canary(self, canary_id: int, state: str, actor: str, reason: str,
                      now: float) -> bool:
        """End a run (``promoted`` or ``aborted``); False when it had already ended."""
        with self.transaction() as conn:
            return end_canary(conn, canary_id, state, actor, reason, now)

    def canary_intents(self, canary_id: int, arm: str | None = None) -> list[Row]:
        return self.query("SELECT * FROM canary_intents WHERE canary_id = ? "
                          "AND (? IS NULL OR arm = ?) ORDER BY id", (canary_id, arm, arm))
