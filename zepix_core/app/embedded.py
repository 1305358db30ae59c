"""The host inside a bot: ``open_host`` starts it, rounds tick on their own thread.

The bot's thread hands bars to ``on_bar`` and gets the intents back; a
``zepix-rounds`` thread runs monitoring, supervision and version rounds every
``[host] interval`` whether bars come or not. Every method may be called from
any thread: bars and rounds take turns on the host's loop lock (a round lets it go while it
waits on the plugins' health hooks, ``host.turns``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zepix_core.app.services import (
    Services,
    restart_api,
    restart_telegram,
    start_api,
    start_telegram,
)
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.jsondoc import JSON
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Bar, Fill, Intent, PluginState
from zepix_core.contract.process import own
from zepix_core.execution.ports import Clocks
from zepix_core.host.facade import of
from zepix_core.host.host import Host, create_host
from zepix_core.views.jsonable import jsonable_rows
from zepix_core.views.records import plugin_row

log = logging.getLogger("zepix.app")


class EmbeddedHost:
    """A started host: bars in, intents out, fills back, and the operator reads."""

    def __init__(self, host: Host, *, interval: float | None = None,
                 duration: float | None = None,
                 on_round: Callable[[str], None] | None = None, rounds: bool = True) -> None:
        self.host = host
        self.period = host.interval(interval)
        self._closed = False
        #: The HTTP API and the Telegram bot beside the host (``start``).
        self.services = Services()
        self._ticker: threading.Thread | None = None
        if rounds:
            self._ticker = threading.Thread(target=self._tick, args=(duration, on_round),
                                            name="zepix-rounds", daemon=True)

    @classmethod
    def start(cls, host: Host, *, services: bool = True, **kwargs: Any) -> EmbeddedHost:
        """Start ``host`` (discover, resolve, activate), its round timer and, unless
        ``services`` is false, the HTTP API and Telegram bot its config asks for."""
        started = Services()
        host.store.defer_writes = True  # a locked or full database never stops trading
        try:
            host.claim()  # the database's lease first: a second host learns who runs
            if services:
                started = start_api(host, kwargs.get("interval"))
            host.start()
            if services:
                start_telegram(host, kwargs.get("interval"), started)
                period = kwargs.get("interval")
                of(host).on_config_change("http", lambda: restart_api(host, period, started))
                of(host).on_config_change("telegram", lambda: restart_telegram(
                    host, period, started))
        except BaseException:
            host.shutdown()
            host.store.close()
            started.stop()
            raise
        embedded = cls(host, **kwargs)
        embedded.services = started
        if embedded._ticker is not None:
            embedded._ticker.start()
        log.info("host embedded", extra=fields(active=len(host.active()),
                                               interval=embedded.period))
        return embedded

    def _tick(self, duration: float | None, on_round: Callable[[str], None] | None) -> None:
        """The round thread: ``host.rounds`` until told to stop or ``duration`` runs out.

        Supervised (``Host.rounds``): an exception that ends a round is logged, raised as
        the CRITICAL ``zepix:rounds`` alert with its reason, and the rounds start again
        (after a pause that grows with each death, at most one interval); the alert
        resolves with the next round that completes. Trading never stops silently.
        """
        clocks = self.host.clocks
        end = None if duration is None else clocks.monotonic() + duration
        deaths = 0

        def round_done(summary: str) -> None:
            nonlocal deaths
            if deaths:
                of(self.host).rounds_alert(f"rounds run again after {deaths} restart(s)", False)
                deaths = 0
            if on_round:
                on_round(summary)

        try:
            while not clocks.stop.is_set():
                left = None if end is None else end - clocks.monotonic()
                if left is not None and left <= 0:
                    break
                try:  # a failed round is restarted inside ``rounds``; this is the rest
                    self.host.rounds(self.period, round_done, duration=left)
                    break
                except Exception as exc:  # noqa: BLE001 - reported, then the rounds again
                    deaths += 1
                    of(self.host).round_died(exc)
                    if clocks.stop.wait(min(self.period, 0.5 * deaths)):
                        break
        finally:
            clocks.stop.set()  # a duration ran out: the bot's feed ends too

    @property
    def restarts(self) -> int:
        """How often the rounds died and were started again."""
        return of(self.host).round_restarts()

    # -- the bot's side ----------------------------------------------------
    def _open(self) -> Host:
        if self._closed:
            raise ZepixError("the host is closed (its open_host block has ended); open a "
                             "new one")
        return self.host

    def on_bar(self, bar: Bar) -> list[Intent]:
        """Hand one closed bar to every active plugin; returns their checked intents."""
        return self._open().on_bar(bar)

    def feed(self, bars: Sequence[Bar]) -> list[Intent]:
        """Hand several bars in order (history at start, a file): one call, one lock."""
        return self._open().feed(bars)

    def report_fill(self, fill: Fill) -> Intent:
        """Book what the bot executed; returns the intent it fills (``IntentError`` for
        an unknown id or a shadow intent)."""
        return self._open().report_fill(fill)

    # -- reads: the documents of ``zepix plugins/health --json`` ------------
    def plugins(self) -> list[dict[str, JSON]]:
        with of(self.host).under_loop():
            rows = [{**plugin_row(s), "running": s.state is PluginState.ACTIVE}
                    for s in self.host.slots.values()]
        return jsonable_rows(rows)

    def health(self) -> list[dict[str, JSON]]:
        return jsonable_rows(self.host.store.latest_snapshots())

    def round(self) -> str:
        """Run a round now (the timer's rounds go on as scheduled)."""
        return self._open().round()

    @property
    def stopping(self) -> bool:
        return self.host.clocks.stop.is_set()

    def close(self, *, bounded: bool = True) -> str | None:
        """A last round (so the latest fills show in ``zepix health``), then deactivate
        every plugin and close the host record. Returns the last round's summary
        (None when closed before, or when the close outlasted ``[host]
        shutdown_timeout``: with ``bounded`` it returns then, logs CRITICAL, and the
        shutdown goes on in the background). Idempotent."""
        if self._closed:
            return None
        self._closed = True
        if not bounded:
            return self._shut()
        timeout = float(self.host.config.host["shutdown_timeout"])
        outcome: dict[str, Any] = {}

        def shut() -> None:
            try:
                outcome["summary"] = self._shut()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                outcome["error"] = exc

        closer = own(threading.Thread(target=shut, name="zepix-close", daemon=True))
        closer.start()
        closer.join(timeout)
        if closer.is_alive():
            log.critical("host close took longer than [host] shutdown_timeout; returning "
                         "while the shutdown goes on", extra=fields(timeout=timeout))
            return None
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("summary")

    def _shut(self) -> str | None:
        summary = None
        self.host.clocks.stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join()
        try:
            if self.host.started:
                summary = self.host.round()
        finally:
            with of(self.host).under_loop():
                self.host.shutdown()
            self.host.store.close()
            self.services.stop()
        return summary


@contextmanager
def open_host(config: Path | str | None = None, db: Path | str | None = None, *,
              interval: float | None = None, paths: Sequence[str] | None = None,
              clocks: Clocks | None = None,
              on_round: Callable[[str], None] | None = None,
              plugins: Sequence[str] | None = None, fresh: bool = False,
              services: bool = True) -> Iterator[EmbeddedHost]:
    """Start a host for a bot; leaving the block deactivates every plugin.

    ``config`` and ``db`` default as for the command line (``ZEPIX_HOME``,
    ``ZEPIX_DB``); ``interval`` overrides ``[host] interval``; ``paths`` limits
    discovery to those directories; ``on_round`` gets each round's summary line
    (on the round thread). ``plugins``: the ids to run (the others stay installed
    and idle; an id not installed is a ``ConfigError``). ``fresh``: the
    host-measured figures (win rate, P&L, accuracy) count this run only; the
    database keeps every fill. ``services=False`` starts neither the HTTP API
    nor the Telegram bot whatever the config says.
    """
    embedded = EmbeddedHost.start(build_host(config, db, paths, clocks, plugins, fresh),
                                  interval=interval, on_round=on_round, services=services)
    try:
        yield embedded
    finally:
        embedded.close()


def build_host(config: Path | str | None, db: Path | str | None,
               paths: Sequence[str] | None, clocks: Clocks | None,
               plugins: Sequence[str] | None, fresh: bool) -> Host:
    host = create_host(config, db, paths=paths, clocks=clocks, plugins=plugins)
    host.fresh_figures = fresh
    return host
