"""systemd's notify protocol (``Type=notify``, ``WatchdogSec=``) over ``$NOTIFY_SOCKET``.

``READY=1`` once the host has activated its plugins, ``WATCHDOG=1`` every half
``$WATCHDOG_USEC`` but only while the host's monitoring rounds are fresh (the
rule ``/healthz`` applies), so systemd restarts a host whose round loop wedged;
``STOPPING=1`` when it shuts down. The protocol is one datagram per message
on a unix socket (sd_notify(3)); a few lines here instead of a dependency.
The socket's address is taken out of the environment so that plugins and the
worker processes the host starts cannot speak for the service.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from zepix_core.api.app import LATE_ROUNDS
from zepix_core.contract.logs import fields
from zepix_core.host.facade import of
from zepix_core.host.host import Host

log = logging.getLogger("zepix.app")


class Notifier:
    """Sends sd_notify messages to ``address``; silently nothing without one."""

    def __init__(self, address: str | None) -> None:
        self.address = address

    @classmethod
    def from_environment(cls) -> Notifier:
        """The ``$NOTIFY_SOCKET`` systemd gave this process (removed from the environment)."""
        return cls(os.environ.pop("NOTIFY_SOCKET", None) or None)

    def send(self, message: str) -> bool:
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), target)
        except OSError as exc:
            log.warning("systemd notify failed", extra=fields(message=message,
                                                              error=exc.strerror))
            return False
        return True


def watchdog_period() -> float | None:
    """Seconds between two ``WATCHDOG=1`` (half of ``$WATCHDOG_USEC``), or None when
    systemd asked for no watchdog or asked another process (``$WATCHDOG_PID``)."""
    usec, pid = os.environ.pop("WATCHDOG_USEC", ""), os.environ.pop("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


class Watchdog:
    """Pets systemd's watchdog while ``host``'s rounds are fresh."""

    def __init__(self, notifier: Notifier, host: Host, period: float, every: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.notifier, self.host, self.every, self.clock = notifier, host, every, clock
        self.limit = LATE_ROUNDS * period + 10   # as /healthz judges a round late
        self.since = clock()
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zepix-watchdog", daemon=True)
        self._stale = False

    def fresh(self) -> bool:
        last = of(self.host).last_round()
        ended = self.since if last is None else max(last[0], self.since)
        return self.clock() - ended <= self.limit

    def beat(self) -> bool:
        """One ``WATCHDOG=1`` if the rounds are fresh; True when it was sent."""
        if not self.fresh():
            if not self._stale:
                log.error("rounds are late: not petting the systemd watchdog", extra=fields(
                    late_after_s=self.limit))
            self._stale = True
            return False
        self._stale = False
        return self.notifier.send("WATCHDOG=1")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(5)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self.beat()
