"""The ``bars`` invariant: every bar the host was fed was offered to every plugin it
knows, or counted as dropped with a reason, and what it was fed is the CSV.

Two witnesses, independent of each other:

- ``chaos_count`` writes every 1m bar it is offered (``seen-<pid>.txt``): in every
  run of the host they are the CSV's bars in order from the first, none skipped
  and none twice;
- the host's own totals (``bar_counts`` in ``zepix.db``, saved at every round and
  at the last; see ``zepix_core.host.bars``): for every plugin, in every run,
  bars offered plus bars dropped (each with a reason) equal the bars fed; the 1m
  bars fed are the ones ``chaos_count`` saw (all of them after a clean stop, at
  most them after a SIGKILL, whose last totals are those of its last round); the
  5m, 15m and 1h bars fed are the CSV's aggregates of those 1m bars, counted
  here from the CSV's times; ``chaos_count`` was dropped no bar; every plugin
  activated in a cleanly stopped run has its totals.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

from zepix_core.chaos.base import Stage, query
from zepix_core.chaos.hostproc import Host

#: The timeframes the ``csv`` source makes of 1m bars, in minutes.
AGGREGATES = {"5m": 5, "15m": 15, "1h": 60}
#: The reasons docs/hardening.md gives for a bar not offered to a plugin.
REASONS = {"failed", "rejected", "inactive", "discovered", "paused", "unresponsive",
           "not_admitted", "given_up"}


class BarChecks(Stage):
    def check_bars(self) -> None:
        seen = {host.pid: self._seen(host) for host in self.hosts}
        try:
            counts = query(self.home / "zepix.db",
                           "SELECT h.pid, b.plugin_id, b.kind, b.detail, b.bars "
                           "FROM bar_counts b JOIN hosts h ON h.host_id = b.host_id")
            activated = query(self.home / "zepix.db",
                              "SELECT DISTINCT h.pid, a.plugin_id FROM activations a "
                              "JOIN hosts h ON h.host_id = a.host_id")
        except sqlite3.Error as exc:
            self.report.fail("bars", f"the host's bar counts cannot be read: {exc}")
            return
        for host in self.hosts:
            mine = [row[1:] for row in counts if row[0] == host.pid]
            plugins = {plugin for pid, plugin in activated if pid == host.pid}
            self._check_accounts(host, mine, plugins, seen[host.pid])

    def _seen(self, host: Host) -> int:
        """How many 1m bars ``chaos_count`` saw in ``host``'s run, checked to be the
        CSV's first ones."""
        seen = self.home / f"seen-{host.pid}.txt"
        if not seen.exists():
            self.report.fail("bars", f"host pid {host.pid}: chaos_count saw no bar")
            return 0
        times = [int(t) for t in seen.read_text().split() if t.isdigit()]
        expected = [self.first_ts + 60 * n for n in range(len(times))]
        if times != expected:
            first = next(i for i, (a, b) in enumerate(zip(times, expected)) if a != b)
            self.report.fail("bars", f"host pid {host.pid}: bar {first} was "
                                     f"{times[first]}, expected {expected[first]} "
                                     f"({len(times)} seen)")
        return len(times)

    def _check_accounts(self, host: Host, rows: list[tuple[str, str, str, int]],
                        activated: set[str], seen: int) -> None:
        def fail(problem: str) -> None:
            self.report.fail("bars", f"host pid {host.pid}: {problem}")

        clean = host.proc.returncode == 0
        fed = Counter({detail: bars for plugin, kind, detail, bars in rows if kind == "fed"})
        offered: Counter[str] = Counter()
        dropped: dict[str, Counter[str]] = {}
        for plugin, kind, detail, bars in rows:
            if kind == "offered":
                offered[plugin] += bars
            elif kind == "dropped":
                dropped.setdefault(plugin, Counter())[detail] += bars
        total, minutes = sum(fed.values()), fed["1m"]
        self.report.bars += total
        if minutes > seen or (clean and minutes != seen):
            fail(f"fed {minutes} 1m bars by its own count, chaos_count saw {seen}")
        for timeframe, span in AGGREGATES.items():
            low, high = self._aggregates(minutes - 1, span), self._aggregates(minutes, span)
            if not low <= fed[timeframe] <= high:
                fail(f"fed {fed[timeframe]} {timeframe} bars; the CSV's first {minutes} 1m "
                     f"bars make {high}")
        unknown = sorted(set(fed) - {"1m", *AGGREGATES})
        if unknown:
            fail(f"fed bars of timeframes the CSV has not: {unknown}")
        plugins = set(offered) | set(dropped) | (activated if clean and total else set())
        for plugin in sorted(plugins):
            lost = dropped.get(plugin, Counter())
            if offered[plugin] + sum(lost.values()) != total:
                fail(f"{plugin}: {offered[plugin]} bars offered + {sum(lost.values())} "
                     f"dropped ({dict(lost)}) of {total} fed")
            unknown_reasons = sorted(set(lost) - REASONS)
            if unknown_reasons:
                fail(f"{plugin}: bars dropped for no known reason: {unknown_reasons}")
            for reason, bars in lost.items():
                self.report.dropped[f"{plugin}: {reason}"] += bars
        if total and offered["chaos_count"] != total:
            fail(f"chaos_count was offered {offered['chaos_count']} of {total} bars "
                 f"({dict(dropped.get('chaos_count', {}))})")

    def _aggregates(self, minutes: int, span: int) -> int:
        """How many bars of ``span`` minutes the CSV's first ``minutes`` 1m bars make:
        one after each bar whose time is on the span's boundary, with the whole
        span before it."""
        return sum(1 for n in range(span - 1, max(minutes, 0))
                   if (self.first_ts + 60 * n) % (span * 60) == 0)
