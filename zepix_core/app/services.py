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
from typing import TYPE_CHECKING, Protocol

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.logs import fields
from zepix_core.host.host import Host

if TYPE_CHECKING:  # both are optional extras, imported when configured
    from zepix_core.api import ApiServer
    from zepix_core.telegram import Telegram

log = logging.getLogger("zepix.app")


class Service(Protocol):
    def stop(self) -> None: ...


@dataclass
class Services:
    """What was started; ``notes`` are one line each for the operator (the API's URL)."""

    running: list[Service] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    api: ApiServer | None = None
    bot: Telegram | None = None

    def drop(self, service: Service | None) -> None:
        """Stop one service and forget it (a restart replaces it)."""
        if service is not None and service in self.running:
            self.running.remove(service)
            service.stop()

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
    services = Services()
    _serve_api(host, interval, services)
    return services


def _serve_api(host: Host, interval: float | None, services: Services) -> None:
    from zepix_core.api import start

    server = start(host, host.interval(interval))
    services.api = server
    if server is not None:
        services.running.append(server)
        services.notes.append(f"HTTP API and dashboard: {server.url}/")


def restart_api(host: Host, interval: float | None, services: Services) -> str:
    """``[http]`` changed in a running host: the server stops and starts on the new
    table (a new address, token or limits), or stays off when ``listen`` is ``""``."""
    services.drop(services.api)
    services.api = None
    _serve_api(host, interval, services)
    if services.api is None:
        return "applied live: the HTTP server is off ([http] listen = \"\")"
    return f"applied live: the HTTP server restarted on {services.api.url}/"


def restart_telegram(host: Host, interval: float | None, services: Services) -> str:
    """``[telegram]`` changed in a running host: the bot restarts on the new table."""
    services.drop(services.bot)
    services.bot = None
    start_telegram(host, interval, services)
    return ("applied live: the Telegram bot restarted" if services.bot is not None else
            "applied live: the Telegram bot is off")


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
    bot = telegram.start(host, interval=interval)
    services.bot = bot
    if bot is not None:
        services.running.append(bot)
        services.notes.append("Telegram bot: on")
