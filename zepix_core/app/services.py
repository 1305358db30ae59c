"""The edges a running host serves beside itself: the HTTP API and the Telegram bot.

Started for ``zepix run`` and for every embedded host (``open_host``), so a bot that
embeds the host gets the same API, dashboard, metrics and chat controls as the
command line. The API binds before the host starts (an address in use stops the
start with one line); both stop after the host has shut down, so the last alerts
still go out.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.logs import fields
from zepix_core.host.host import Host

log = logging.getLogger("zepix.app")


class Service(Protocol):
    def stop(self) -> None: ...


@dataclass
class Services:
    """What was started; ``notes`` are one line each for the operator (the API's URL)."""

    running: list[Service] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop every service, newest first; one that fails to stop is logged, the rest
        still stop."""
        while self.running:
            service = self.running.pop()
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - stopping the others matters more
                log.warning("service did not stop cleanly",
                            extra=fields(service=type(service).__name__, error=str(exc)))


def start_api(host: Host, interval: float | None) -> Services:
    """The HTTP API (``[http] listen``; off with ``""``): before the host starts."""
    from zepix_core.api import start

    services = Services()
    server = start(host, host.interval(interval))
    if server is not None:
        services.running.append(server)
        services.notes.append(f"HTTP API and dashboard: {server.url}/")
    return services


def start_telegram(host: Host, interval: float | None, services: Services) -> None:
    """The Telegram bot when ``[telegram]`` or ``ZEPIX_TELEGRAM_TOKEN`` configures one
    (it needs the extra ``zepix-core[telegram]``)."""
    if host.config.sections.get("telegram") is None and not os.environ.get(
            "ZEPIX_TELEGRAM_TOKEN"):
        return
    try:
        from zepix_core import telegram
    except ImportError as exc:
        raise ZepixError(f"[telegram] is configured but python-telegram-bot is missing "
                         f"({exc.name}); pip install 'zepix-core[telegram]'") from None
    bot: Any = telegram.start(host, interval=interval)
    if bot is not None:
        services.running.append(bot)
        services.notes.append("Telegram bot: on")
