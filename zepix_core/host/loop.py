"""The host's one scheduler: the loop lock and every wait between rounds.

A round runs every ``[host] interval`` on a fixed monotonic schedule (a slow round
shortens the next wait instead of pushing every later round back; a new interval
from a config reload applies from then on). Between rounds the scheduler wakes
for whatever falls due first: the supervisor's restarts (``Supervisor.next_due``,
run by ``Supervisor.service``) and, every ``POLL`` seconds, the host's
``between_rounds`` hook (pauses written by another process, the config file),
under the loop lock. What rides on the rounds (the restart decisions, version
gates, the ledger sync) is the ``after_round`` hook (``host.hooks``), called by
the round pipeline (``host.rounds``); the due times of the work done there (the
ledger sync's runs, the prune of the plugin databases) are ``Timer``s kept here
too (``every``). The wait itself lets go of the loop lock
(``LoopThread.wait``), so bars and alerts from other threads go on.

Rounds are supervised here, whoever drives them (``open_host``'s round thread,
``zepix run``, a bare ``Host.run``): a round that raises is logged, counted and
raised as the CRITICAL ``zepix:rounds`` alert with its reason, and the rounds go on
after a pause that grows with each death (at most one interval); the alert
resolves with the next round that completes. Trading never stops silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from zepix_core.contract.errors import StorageError, describe
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel
from zepix_core.execution.ports import Clocks
from zepix_core.health.alerting import HOST_ALERTS
from zepix_core.host.hooks import Hooks
from zepix_core.host.outage import Outage, Raise
from zepix_core.loading.watch import POLL
from zepix_core.supervision.loopthread import LoopThread
from zepix_core.supervision.supervisor import Supervisor

log = logging.getLogger("zepix.host")

__all__ = ["Loop", "Timer"]


class Timer:
    """One due time the scheduler keeps: ``due`` once ``every`` seconds have passed
    since the last ``done`` (the first time ``first`` seconds after it was made)."""

    def __init__(self, clock: Callable[[], float], every: float, first: float) -> None:
        self.clock = clock
        self.every = every
        #: Monotonic time it is due next.
        self.next = clock() + first

    def due(self) -> bool:
        return self.clock() >= self.next

    def done(self) -> None:
        self.next = self.clock() + self.every


class Loop:
    """Runs the rounds and the waits between them on the calling thread."""

    def __init__(self, clocks: Clocks, thread: LoopThread, supervisor: Supervisor,
                 hooks: Hooks, outage: Outage, raise_event: Raise, host_id: str) -> None:
        self.clocks = clocks
        self.thread = thread
        #: The loop lock: bars, rounds, restarts and config polls take turns on it.
        self.busy: threading.RLock = thread.busy
        self.supervisor = supervisor
        self.hooks = hooks
        #: A new ``[host] interval`` (a config reload), taken after the current round.
        self.period: float | None = None
        self.outage = outage
        self._raise = raise_event
        self.host_id = host_id
        #: Every due time but the rounds' and the restarts' (``Supervisor.next_due``),
        #: by name: ``between_rounds``, and those the round's work asks (``every``).
        self.timers: dict[str, Timer] = {}
        self.polls = self.every("between_rounds", POLL)
        #: How often a round raised and the rounds went on.
        self.restarts = 0

    def every(self, name: str, seconds: float, first: float | None = None) -> Timer:
        """The timer ``name``, due every ``seconds`` (the first time after ``first``,
        by default ``seconds``), kept here so every due time is in one place."""
        timer = self.timers[name] = Timer(self.clocks.monotonic, seconds,
                                          seconds if first is None else first)
        return timer

    def hold(self) -> None:
        """The calling thread works on the host until ``let_go`` (``Host.run``)."""
        self.thread.hold()

    def let_go(self) -> None:
        self.thread.let_go()

    def run(self, period: float, step: Callable[[], str],
            on_round: Callable[[str], None] | None = None, *,
            once: bool = False, duration: float | None = None) -> None:
        """``step`` (a round) every ``period`` seconds until ``clocks.stop`` (or
        ``duration``); between rounds what falls due runs, and other threads may
        feed bars."""
        clocks = self.clocks
        self.hold()
        try:
            begin = clocks.monotonic()
            end = begin + duration if duration is not None else None
            count = deaths = 0
            while not clocks.stop.is_set():
                try:
                    summary = step()
                except Exception as exc:  # noqa: BLE001 - supervised: the rounds go on, and say why
                    deaths += 1
                    self.died(exc)
                    pause = clocks.monotonic() + min(period, 0.5 * deaths)
                    if self.idle(pause if end is None else min(pause, end)) or (
                            end is not None and clocks.monotonic() >= end):
                        break
                    begin, count = clocks.monotonic(), 0
                    continue
                count += 1
                if deaths:
                    self.alert(f"rounds run again after {deaths} restart(s)", False)
                    deaths = 0
                if on_round:
                    on_round(summary)
                if once:
                    break
                if self.period is not None:  # a new [host] interval: from now on
                    period, self.period = self.period, None
                    begin, count = clocks.monotonic(), 1
                wake = begin + count * period
                if self.idle(wake if end is None else min(wake, end)) or (
                        end is not None and wake >= end):
                    break
        finally:
            self.let_go()

    def idle(self, until: float) -> bool:
        """Wait until monotonic ``until``, running what falls due meanwhile (restarts;
        the ``between_rounds`` hook every ``POLL`` s). True when asked to stop."""
        clocks = self.clocks
        while not clocks.stop.is_set():
            self.supervisor.service()
            if self.polls.due():
                self._between_rounds()
            now = clocks.monotonic()
            if now >= until:
                return False
            wake = min(until, self.polls.next)
            restart = self.supervisor.next_due(now)
            if restart is not None:
                wake = min(wake, restart)
            if self.thread.wait(clocks.wait, max(0.0, wake - now)):
                return True
        return True

    def _between_rounds(self) -> None:
        self.polls.done()
        with self.busy:
            try:
                self.hooks.between_rounds()
            except StorageError as exc:
                self.outage.failed("config", exc)
            except Exception:  # a reload gone wrong never stops the rounds
                log.exception("config check failed; the config in force stays")

    def died(self, exc: Exception) -> None:
        """A round raised: logged, counted and raised as CRITICAL ``zepix:rounds``."""
        self.restarts += 1
        reason = describe(exc)
        log.exception("rounds stopped; restarting them", extra=fields(
            host=self.host_id, error=reason, restarts=self.restarts))
        self.alert(f"the round thread died ({reason}); restarted "
                   f"({self.restarts} restart(s) so far)", True)

    def alert(self, message: str, firing: bool) -> None:
        """The host's ``zepix:rounds`` alert; its failure is logged, never fatal."""
        try:
            with self.busy:
                self._raise(HOST_ALERTS, "rounds", AlertLevel.CRITICAL, message, firing)
        except Exception:  # the alert is the report
            log.exception("rounds alert not raised", extra=fields(message=message))
