"""The host's loop: a round every ``[host] interval`` on a fixed monotonic schedule,
and between rounds the supervisor's restarts and a look at the config file every
``POLL`` seconds.

Rounds are supervised here, whoever drives them (``open_host``'s round thread,
``zepix run``, a bare ``Host.run``): a round that raises is logged, counted and
raised as the CRITICAL ``zepix:rounds`` alert with its reason, and the rounds go on
after a pause that grows with each death (at most one interval); the alert
resolves with the next round that completes. Trading never stops silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from zepix_core.contract.errors import StorageError, describe
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel
from zepix_core.execution.ports import Clocks
from zepix_core.health.alerting import HOST_ALERTS
from zepix_core.host.outage import Outage, Raise
from zepix_core.loading.watch import POLL
from zepix_core.supervision.supervisor import Supervisor

log = logging.getLogger("zepix.host")

__all__ = ["Loop", "Polled"]


class Polled(Protocol):
    """What the loop needs of the config watcher (``host.reconfig.Reconfigurer``)."""

    period: float | None
    polled_at: float


class Loop:
    """Runs the rounds and the waits between them on the calling thread."""

    def __init__(self, clocks: Clocks, supervisor: Supervisor, config: Polled,
                 poll: Callable[[], None], outage: Outage, raise_event: Raise,
                 host_id: str) -> None:
        self.clocks = clocks
        self.supervisor = supervisor
        self.config = config
        self._poll = poll            # pauses and the config file, under the loop lock
        self.outage = outage
        self._raise = raise_event
        self.host_id = host_id
        #: How often a round raised and the rounds went on.
        self.restarts = 0

    def run(self, period: float, step: Callable[[], str],
            on_round: Callable[[str], None] | None = None, *,
            once: bool = False, duration: float | None = None) -> None:
        """``step`` (a round) every ``period`` seconds until ``clocks.stop`` (or
        ``duration``). A slow round shortens the next wait instead of pushing every
        later round back; between rounds restarts fall due, and other threads may
        feed bars."""
        clocks = self.clocks
        self.supervisor.hold()
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
                if self.config.period is not None:  # a new [host] interval: from now on
                    period, self.config.period = self.config.period, None
                    begin, count = clocks.monotonic(), 1
                wake = begin + count * period
                if end is not None and wake >= end:
                    self.supervisor.idle(end)
                    break
                if self.idle(wake):
                    break
        finally:
            self.supervisor.let_go()

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
            with self.supervisor.loop.busy:
                self._raise(HOST_ALERTS, "rounds", AlertLevel.CRITICAL, message, firing)
        except Exception:  # the alert is the report
            log.exception("rounds alert not raised", extra=fields(message=message))

    def idle(self, until: float) -> bool:
        """``supervisor.idle`` in slices of ``POLL`` seconds, looking at the config file
        between them. Returns True when the host was asked to stop."""
        while True:
            due = self.config.polled_at + POLL
            step = min(until, due)
            if self.supervisor.idle(step):
                return True
            if self.clocks.monotonic() >= due:
                with self.supervisor.loop.busy:
                    try:
                        self._poll()
                    except StorageError as exc:
                        self.outage.failed("config", exc)
                    except Exception:  # a reload gone wrong never stops the rounds
                        log.exception("config check failed; the config in force stays")
            if step >= until:
                return False
