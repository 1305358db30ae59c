"""Writes that may wait while the database is unavailable (locked or full).

A running host must keep trading when a backup tool (or a plugin's worker)
holds the write lock or the disk fills up. With ``defer_writes`` on
(``Host.run`` and ``open_host`` turn it on):

- a write of the host's own connection waits at most ``FIRST_WAIT`` seconds
  for a lock held elsewhere, never the whole ``busy_timeout``: the host's
  loop, which bars need, never waits on the database for long;
- once a write failed (any write, of any thread, that found the database
  locked or full), the outage is known (``outage`` says why) and every write
  fails at once, without waiting, until a flush succeeds (with nothing
  waiting, a flush tries an empty write transaction);
- snapshots, events, alerts, fills, plugin states and closed activations that
  cannot be written wait, oldest first: ``PENDING_LIMIT`` of them in memory,
  the rest in an append-only journal beside the database
  (``<db>-deferred.jsonl``, one JSON line each). ``flush_deferred`` (every
  round) writes them in order, memory first, then the journal, which is then
  removed; what still waits when the host closes goes to the journal too, and a
  journal left by a host (closed or killed) is replayed by the next one. How
  far a replay got is kept beside the journal (``<journal>.done``), so a host
  killed while replaying leaves at most one entry to be written twice.
  Nothing is dropped unless the journal itself cannot be written (a full
  disk): then the oldest in memory go, counted in ``dropped``;
- a heartbeat that cannot be written is dropped: the next one replaces it.

Without ``defer_writes`` (the CLI's short-lived commands) every write waits
up to ``busy_timeout`` and fails loudly, as before.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from zepix_core.contract import jsondoc
from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Alert, AlertLevel, Fill, Intent
from zepix_core.storage.alerts import AlertQueries
from zepix_core.storage.history import HistoryQueries
from zepix_core.storage.snapshots import SnapshotQueries
from zepix_core.storage.trades import TradeQueries

log = logging.getLogger("zepix.storage")

#: Writes kept in memory while the database is unavailable; more go to the journal.
PENDING_LIMIT = 2000
#: Seconds a running host's write waits for a lock held elsewhere before the database
#: counts as unavailable (at most ``busy_timeout``).
FIRST_WAIT = 1.0

_Write = tuple[str, list[object]]


def journal_path(db: Path) -> Path:
    """Where a database's deferred writes spill when memory is full."""
    return db.with_name(db.name + "-deferred.jsonl")


class DeferredWrites(HistoryQueries, SnapshotQueries, AlertQueries, TradeQueries):
    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        super().__init__(path, busy_timeout=busy_timeout)
        self._defer = False
        self._outage: str | None = None
        self.dropped = 0
        self._pending: deque[_Write] = deque()
        self.journal = journal_path(path)
        self._journaled = 0

    # -- modes ---------------------------------------------------------------
    @property
    def defer_writes(self) -> bool:
        return self._defer

    @defer_writes.setter
    def defer_writes(self, value: bool) -> None:
        with self._lock:
            self._defer = value
            self._journaled = _count_lines(self.journal) if value else 0
            self._set_wait()

    @property
    def outage(self) -> str | None:
        """Why the database is unavailable, or None while it is fine."""
        return self._outage

    @outage.setter
    def outage(self, value: str | None) -> None:
        self._outage = value
        self._set_wait()

    def _set_wait(self) -> None:
        if not self._defer:
            self.write_wait = None
        elif self._outage is not None:
            self.write_wait = 0.0  # known to be out: fail at once, keep, retry each round
        else:
            self.write_wait = min(FIRST_WAIT, self.busy_timeout)

    @property
    def pending(self) -> int:
        """How many writes wait for the database (in memory and in the journal)."""
        return len(self._pending) + self._journaled

    # -- flushing ------------------------------------------------------------
    def flush_deferred(self) -> bool:
        """Write what waits, oldest first; True when nothing waits any more."""
        with self._lock:  # the loop thread and a worker's watcher may both write
            return self._flush()

    def _flush(self) -> bool:
        while self._pending:
            kind, args = self._pending[0]
            try:
                self._write(kind, args)
            except StorageError as exc:
                self._unavailable(exc)
                return False
            self._pending.popleft()
        if self._journaled and not self._replay():
            return False
        if self._outage is not None and not self._probe():
            return False
        if self._outage is not None:
            log.warning("database available again", extra=fields(path=str(self.path),
                                                                 dropped=self.dropped))
        self.outage = None
        return True

    def _probe(self) -> bool:
        """Whether the database takes writes again (nothing waited to show it)."""
        try:
            with self.transaction():
                pass
        except StorageError:
            return False
        return True

    def _replay(self) -> bool:
        """Write the journal's entries in order; the journal goes once all are written.

        How many are written is kept beside it (``<journal>.done``) after each one, so
        a host killed halfway leaves the next one to start after them: at most the
        entry being written at the kill can be written twice. After a failure
        halfway, what is left is written back as the journal."""
        done_file = self.journal.with_name(self.journal.name + ".done")
        try:
            lines = self.journal.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            self._journaled = 0
            return True
        except OSError as exc:
            self._unavailable(StorageError(f"{self.journal}: cannot read ({exc})"))
            return False
        try:
            skip = int(done_file.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            skip = 0
        try:  # one write of a fixed width in place: a kill never leaves it half written
            progress: int | None = os.open(done_file, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError:
            progress = None
        try:
            return self._replay_lines(lines, skip, progress, done_file)
        finally:
            if progress is not None:
                os.close(progress)

    def _replay_lines(self, lines: list[str], skip: int, progress: int | None,
                      done_file: Path) -> bool:
        for done, line in enumerate(lines):
            if done < skip:
                continue
            try:
                entry = json.loads(line)
                kind, args = str(entry["kind"]), list(entry["args"])
            except (ValueError, KeyError, TypeError):  # a line torn by a kill: skipped
                log.warning("journal line skipped", extra=fields(path=str(self.journal),
                                                                 line=done + 1))
                continue
            try:
                self._write(kind, args)
            except StorageError as exc:
                self._unavailable(exc)
                self._rewrite(lines[done:])
                done_file.unlink(missing_ok=True)
                return False
            if progress is not None:
                try:
                    os.pwrite(progress, f"{done + 1:>20}".encode("ascii"), 0)
                except OSError:
                    pass  # a kill now would write this journal's entries again
        try:
            self.journal.unlink()
        except FileNotFoundError:
            pass
        done_file.unlink(missing_ok=True)
        self._journaled = 0
        return True

    def _rewrite(self, lines: Sequence[str]) -> None:
        spare = self.journal.with_name(self.journal.name + ".tmp")
        try:
            spare.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            os.replace(spare, self.journal)
            self._journaled = len(lines)
        except OSError as exc:  # the whole journal stays: some entries may come twice
            log.warning("journal not shortened", extra=fields(path=str(self.journal),
                                                              error=str(exc)))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``Database.transaction``; with ``defer_writes``, a write of any kind and any
        thread that finds the database locked or full makes the outage known, so
        the next write fails at once instead of waiting ``FIRST_WAIT`` again."""
        try:
            with super().transaction() as conn:
                yield conn
        except StorageError as exc:
            if getattr(self, "_defer", False) and _unavailable_error(exc):
                self._unavailable(exc)
            raise

    # -- keeping -------------------------------------------------------------
    def _deferred(self, kind: str, args: list[Any], default: object = None) -> Any:
        if not self._defer:
            return self._write(kind, args)
        with self._lock:
            if (self._pending or self._journaled) and not self._flush():
                self._keep(kind, args)
                return default
            try:
                result = self._write(kind, args)
            except StorageError as exc:
                self._unavailable(exc)
                self._keep(kind, args)
                return default
            self.outage = None
            return result

    def _keep(self, kind: str, args: list[Any]) -> None:
        if kind == "snapshots":  # plain JSON values only once kept: the caller may reuse
            args = [args[0], json.loads(jsondoc.dumps([dict(s) for s in args[1]]))]
        if self._journaled or len(self._pending) >= PENDING_LIMIT:
            try:
                with self.journal.open("a", encoding="utf-8") as out:
                    out.write(jsondoc.dumps({"kind": kind, "args": args}) + "\n")
                self._journaled += 1
                return
            except (OSError, ValueError) as exc:
                log.error("journal not written; the oldest waiting write is dropped",
                          extra=fields(path=str(self.journal), error=str(exc)))
                if self._pending:
                    self._pending.popleft()
                self.dropped += 1
        self._pending.append((kind, args))

    def close(self) -> None:
        """Close the connection; writes still waiting in memory go to the journal first
        (before what it holds: they are older), for the next host to replay."""
        with self._lock:
            if self._defer and self._pending:
                try:
                    old = (self._unreplayed() if self._journaled else [])
                    kept = [jsondoc.dumps({"kind": k, "args": a}) for k, a in self._pending]
                    self._rewrite(kept + old)
                    if self._journaled == len(kept) + len(old):
                        log.warning("writes left for the next start", extra=fields(
                            path=str(self.journal), writes=self._journaled))
                        self._pending.clear()
                except (OSError, ValueError) as exc:
                    log.error("writes lost at close", extra=fields(
                        path=str(self.path), writes=len(self._pending), error=str(exc)))
            super().close()

    def _unreplayed(self) -> list[str]:
        """The journal's lines not written yet (after those ``<journal>.done`` counts)."""
        lines = self.journal.read_text(encoding="utf-8").splitlines()
        done_file = self.journal.with_name(self.journal.name + ".done")
        try:
            skip = int(done_file.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            skip = 0
        done_file.unlink(missing_ok=True)
        return lines[skip:]

    def _unavailable(self, exc: StorageError) -> None:
        if self._outage is None:
            log.error("database unavailable; writes wait", extra=fields(
                path=str(self.path), error=str(exc), pending=self.pending))
        self.outage = str(exc)

    def _write(self, kind: str, args: list[Any]) -> Any:
        """Perform one write of ``kind`` (as kept: plain JSON values)."""
        if kind == "snapshots":
            return SnapshotQueries.save_snapshots(self, args[0], args[1])
        if kind == "event":
            return HistoryQueries.record_event(self, *args)
        if kind == "alerts":
            return AlertQueries.record_alerts(self, [_alert(a) for a in args[0]])
        if kind == "fill":
            return TradeQueries.record_fill(self, args[0], Intent(**args[1]), Fill(**args[2]))
        if kind == "status":
            return HistoryQueries.set_status(self, *args)
        if kind == "close_activation":
            return HistoryQueries.close_activation(self, *args)
        raise StorageError(f"{self.path}: unknown deferred write {kind!r}")

    # -- the writes that may wait ------------------------------------------
    def save_snapshots(self, ts: float, snapshots: Sequence[Mapping[str, object]]) -> None:
        # Encoded once, as they are written; turned into plain JSON values first only
        # when they must wait (``_keep``): a round with the database up pays no more.
        self._deferred("snapshots", [ts, list(snapshots)])

    def record_event(self, plugin_id: str, kind: str, detail: str, now: float,
                     version: str | None = None, actor: str = "host") -> None:
        self._deferred("event", [plugin_id, kind, detail, now, version, actor])

    def record_alerts(self, alerts: Sequence[Alert]) -> list[int]:
        kept = [{**asdict(a), "level": a.level.value} for a in alerts]
        ids: list[int] = self._deferred("alerts", [kept], default=[])
        return ids

    def record_fill(self, host_id: str, intent: Intent, fill: Fill) -> int:
        row: int = self._deferred("fill", [host_id, asdict(intent), asdict(fill)], default=0)
        return row

    def set_status(self, plugin_id: str, distribution: str, version: str, state: str,
                   reason: str | None, now: float) -> None:
        self._deferred("status", [plugin_id, distribution, version, state, reason, now])

    def close_activation(self, activation_id: int, now: float, reason: str) -> None:
        self._deferred("close_activation", [activation_id, now, reason])

    def heartbeat(self, host_id: str, now: float) -> None:
        if not self._defer:
            HistoryQueries.heartbeat(self, host_id, now)
            return
        try:
            HistoryQueries.heartbeat(self, host_id, now)
        except StorageError as exc:  # the next heartbeat replaces this one
            self._unavailable(exc)


def _unavailable_error(exc: StorageError) -> bool:
    """Whether ``exc`` says the database is out (locked, full, failing), not that one
    write was refused for what it held."""
    text = str(exc)
    return any(word in text for word in ("locked", "busy", "full", "disk I/O", "readonly"))


def _alert(kept: Mapping[str, Any]) -> Alert:
    return Alert(**{**kept, "level": AlertLevel(kept["level"])})


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0
