"""``start(host)``: the bot and the alert sink of one running host, off unless configured.

Until the ``app`` composition starts a host's services, ``zepix run`` calls
``start`` right after building its host and ``stop`` after the host shut down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from telegram import Bot
from telegram.constants import ParseMode

from zepix_core.contract.logs import fields
from zepix_core.contract.model import Alert
from zepix_core.host.facade import of
from zepix_core.host.host import Host
from zepix_core.retry import Retrier
from zepix_core.storage import Store
from zepix_core.telegram.commands import Surface
from zepix_core.telegram.controller import Controller, Timing
from zepix_core.telegram.settings import Settings, settings_from
from zepix_core.telegram.sink import Outbox, TelegramSink, retrying
from zepix_core.telegram.summary import DailySummary

log = logging.getLogger("zepix.telegram")

#: Loggers that would print request URLs, which carry the bot token.
_CHATTY = ("httpx", "httpcore", "telegram")


class AlertBot:
    """A Bot of the outbox thread's own, on that thread's own event loop, so alert
    delivery needs neither the command loop nor polling to be up."""

    def __init__(self, settings: Settings) -> None:
        self._bot = Bot(settings.token, base_url=settings.api_url)
        self._loop = asyncio.new_event_loop()
        self._ready = False

    def send(self, chat_id: int, text: str) -> None:
        self._loop.run_until_complete(self._send(chat_id, text))

    async def _send(self, chat_id: int, text: str) -> None:
        if not self._ready:
            await self._bot.initialize()
            self._ready = True
        await self._bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)

    def close(self) -> None:
        if self._ready:
            try:
                self._loop.run_until_complete(self._bot.shutdown())
            except Exception:  # noqa: BLE001, S110 - closing a client that failed anyway
                pass
        self._loop.close()


class Telegram:
    """The running bot and sink of one host; ``stop()`` delivers what waits, then ends."""

    def __init__(self, host: Host, settings: Settings, *, retrier: Retrier,
                 timing: Timing, wall: Callable[[], float] = time.time,
                 per_chat: float = 1.0, per_second: int = 30,
                 sleep: Callable[[float], None] | None = None,
                 summary_poll: float = 20.0) -> None:
        self.settings = settings
        self.host = host
        self.store = Store(host.store.path)   # the bot's own connection
        self.wall = wall
        self.controller = Controller(settings, Surface(host, self.store, wall), retrier, timing)
        self.sink: TelegramSink | None = None
        self._alert_bot: AlertBot | None = None
        if settings.alert_chats:
            self._alert_bot = AlertBot(settings)
            outbox = Outbox(retrying(self._alert_bot.send, retrier), settings.alert_chats,
                            on_result=self._delivered, per_chat=per_chat, per_second=per_second,
                            clock=timing.clock, sleep=sleep)
            self.sink = TelegramSink(outbox)
            of(host).register_sink(self.sink, TelegramSink.name)
        self.summary: DailySummary | None = None
        if settings.daily_summary is not None and settings.summary_chats:
            # A Bot and a database connection of its own: it sends from its own thread.
            self._summary_bot = AlertBot(settings)
            self.summary = DailySummary(
                host, Store(host.store.path), retrying(self._summary_bot.send, retrier),
                settings.summary_chats, settings.daily_summary, wall=wall, poll=summary_poll)

    def start(self) -> None:
        if self.settings.allowed_chats:
            self.controller.start()
        if self.summary is not None:
            self.summary.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.summary is not None:
            self.summary.stop(timeout)
            self._summary_bot.close()
            self.summary.store.close()
        if self.sink is not None:
            self.sink.outbox.close(timeout)
            of(self.host).unregister_sink(self.sink)
        if self._alert_bot is not None and not (self.sink and self.sink.outbox.running):
            self._alert_bot.close()   # not while a send still runs on its loop
        self.controller.stop(timeout)
        if not (self.sink and self.sink.outbox.running):  # still recording late outcomes
            self.store.close()

    def _delivered(self, alerts: Sequence[Alert], chat_id: int, delivered: bool,
                   error: str | None) -> None:
        now = self.wall()
        for alert in alerts:
            self.store.record_delivery(alert.fingerprint, f"telegram:{chat_id}", delivered,
                                       error, now)


def start(host: Host, *, interval: float | None = None, env: Mapping[str, str] | None = None,
          retrier: Retrier | None = None, timing: Timing | None = None,
          per_chat: float = 1.0, per_second: int = 30,
          sleep: Callable[[float], None] | None = None, wall: Callable[[], float] = time.time,
          summary_poll: float = 20.0) -> Telegram | None:
    """Start the bot for ``host`` when ``[telegram]`` (or ``ZEPIX_TELEGRAM_TOKEN``)
    configures one; None when it is off. Raises ``ConfigError`` for a bad table."""
    config = host.config
    settings = settings_from(config.sections.get("telegram", {}),
                             str(config.path or "<defaults>"), env)
    if settings is None:
        return None
    for warning in settings.warnings:
        log.warning(warning)
    for name in _CHATTY:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    timing = timing or Timing(interval=host.interval(interval),
                              probation_rounds=of(host).probation_rounds())
    bot = Telegram(host, settings, retrier=retrier or host.retrier, timing=timing,
                   per_chat=per_chat, per_second=per_second, sleep=sleep, wall=wall,
                   summary_poll=summary_poll)
    bot.start()
    log.info("telegram on", extra=fields(allowed_chats=len(settings.allowed_chats),
                                         alert_chats=len(settings.alert_chats)))
    return bot
