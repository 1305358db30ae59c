"""One monitoring round over the active plugins, and what rides on it.

Under the loop lock: the bars kept for plugins in the last round's checks are
handed over, deferred writes flushed, counters saved, then the health calls run
with the loop let go (``turns``: bars never wait on a health hook), the verdicts
are judged (risk, supervision), ``zepix alerts test`` requests answered, old
snapshots and resolved alerts pruned (``Monitor.prune``) and the plugin databases
(``retention``), each at the first round and then hourly, the heartbeat written, and the
host's ``after_round`` hook called (``host.hooks``: the supervisor's restart
decisions, the versions' gates, the ledger sync's finished runs). A locked or full database ends the round's
bookkeeping early, never the host (``outage``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping

from zepix_core.contract.errors import StorageError
from zepix_core.health import monitor
from zepix_core.host import retention
from zepix_core.host.feeding import Feeding
from zepix_core.host.parts import HostParts
from zepix_core.loading.paths import data_dir
from zepix_core.storage import RequestRow
from zepix_core.supervision.controls import ALERTS_TEST

__all__ = ["PRUNE_EVERY", "Rounds", "version_changes"]

#: Seconds between two prunes of the plugin databases (``[plugindb] retention_days``).
PRUNE_EVERY = 3600.0


class Rounds:
    """The round pipeline of one host."""

    def __init__(self, host: HostParts, feeding: Feeding) -> None:
        self.host = host
        self.feeding = feeding
        #: The scheduler's ``prune`` timer: due at once, then hourly.
        self.prunes = host.loop.every("prune", PRUNE_EVERY, first=0.0)
        self.pruner: threading.Thread | None = None
        #: The ``snapshots`` timer: the monitor's own retention (snapshots, resolved
        #: alerts, config history past ``[host] retention_days``), at once, then hourly.
        self.snapshots = host.loop.every("snapshots", monitor.PRUNE_EVERY, first=0.0)
        self._testing: set[int] = set()

    def round(self) -> str:
        """One monitoring round; returns a one-line summary that ends with the bars and
        intents handed out since the previous round.

        A database that is locked or full ends the round's bookkeeping early, never
        the host: what could not be written waits (``storage.deferred``) and a
        CRITICAL alert says so until the database is back.
        """
        host, feeding = self.host, self.feeding
        summary = "round: database unavailable"
        with host.loop.busy:
            host.turns.begin()
            before = {s.plugin_id: s.version for s in host.active()}
            # Bars kept for plugins in the last round's checks reach them before this
            # round looks at them; their intents go out with the next feed.
            host.turns.late.extend(feeding.hand_over(feeding.pauses.rows))
            try:
                host.store.flush_deferred()
                feeding.pauses.if_changed()
                host.supervisor.flush()
                # Counters a restart reloads; while the database is out, the next round's
                # totals replace them, so nothing is lost by skipping one.
                host.outage.best_effort("accuracy", host.store.save_accuracy,
                                        host.trades.accuracy_counts())
                host.outage.best_effort("bar counts", host.bar_accounts.save,
                                        host.store.save_bar_counts, host.host_id)
                checks = host.monitor.plan(host.active())
                # The plugin calls with the loop let go: bars never wait on a health hook.
                outcomes = host.turns.outside(
                    [w.slot.plugin_id for w in checks.checked],
                    lambda: host.monitor.call(checks, host.turns.done))
                summary = host.monitor.finish(checks, outcomes)
                host.turns.end()
                host.risk.check([s.plugin_id for s in host.active()], host.clocks.wall())
                self.alert_tests()
                self.prune()
                host.store.heartbeat(host.host_id, host.clocks.wall())
                host.hooks.after_round()  # restarts, version gates, the ledger sync
            except StorageError as exc:
                host.outage.failed("round", exc)
            finally:
                host.turns.end()
            host.outage.alert_storage()
            host.outage.alert_files()
            (bars, intents), feeding.counts = feeding.counts, [0, 0]
            changed = version_changes(before, {s.plugin_id: s.version for s in host.active()})
        return (f"{summary}; {bars} bars, {intents} trade intent"
                f"{'' if intents == 1 else 's'}{changed}")

    def prune(self) -> None:
        """``[plugindb] retention_days``: at most once an hour, drop each plugin
        database's old signals and closed trades the ledger already has, on a thread
        of its own (``retention``): a locked plugin database never holds the round.
        Before that, when the ``snapshots`` timer is due, the monitor's own prune."""
        host = self.host
        if self.snapshots.due():
            host.monitor.prune()  # a StorageError leaves it due: the next round tries again
            self.snapshots.done()
        days = float(host.config.sections.get("plugindb", {}).get("retention_days") or 0)
        if days <= 0 or not self.prunes.due() or (
                self.pruner is not None and self.pruner.is_alive()):
            return
        self.prunes.done()
        self.pruner = retention.start(data_dir() / "plugins", host.clocks.wall() - days * 86_400,
                                      host.store.sync_cursors(host.sync.manager.target), days)

    def alert_tests(self) -> None:
        """``zepix alerts test`` requests: each on a thread of its own (it waits for the
        sinks), its outcome the JSON list of what each sink said."""
        for request in self.host.store.pending_requests(ALERTS_TEST):
            if request["id"] in self._testing:
                continue
            self._testing.add(request["id"])
            threading.Thread(target=self._alert_test, args=(request,), daemon=True,
                             name="zepix-alerts-test").start()

    def _alert_test(self, request: RequestRow) -> None:
        host = self.host
        try:
            results = host.monitor.alerting.test(str(request["actor"]))
            host.store.finish_request(request["id"], host.clocks.wall(), json.dumps(results))
        except StorageError as exc:
            host.outage.failed("alerts test", exc)


def version_changes(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """``; versions: a 1.0.0 -> 1.1.0`` for the round line when an active plugin now runs
    another version (``before`` and ``after`` map plugin id to version), else ""."""
    moved = [f"{pid} {before[pid]} -> {version}" for pid, version in sorted(after.items())
             if pid in before and before[pid] != version]
    return f"; versions: {', '.join(moved)}" if moved else ""
