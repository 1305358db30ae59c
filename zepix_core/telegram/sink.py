"""Alert delivery to Telegram chats: a sink of the host's ``alert_sink`` hook.

``TelegramSink.alert_sink`` only puts the alert in the outbox and returns, so
the dispatcher's lane never waits on Telegram (its ``telegram`` delivery row
means "queued for Telegram"). The outbox's own thread sends, per chat in
``alert_chats``:

- at most one message per ``per_chat`` seconds to a chat (Telegram: about 1/s)
  and at most ``per_second`` messages in any second overall (about 30/s);
- everything waiting for a chat in one message (a burst becomes a batch, split
  only at Telegram's size limit), so nothing is dropped;
- CRITICAL first: a chat with a CRITICAL alert waiting is served before the
  others, and CRITICAL alerts lead its batch;
- each message through the retry framework (operation ``sink.telegram``), so a
  429 waits the ``retry_after`` Telegram asked for.

Each alert's outcome per chat is reported through ``on_result`` (the host
records it as the delivery ``telegram:<chat id>``, with the error when the
retries ran out).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from zepix_core.contract.errors import describe
from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Alert, AlertLevel
from zepix_core.contract.redact import redact_text
from zepix_core.retry import Retrier, RetryFailed
from zepix_core.telegram.render import alert_batches

log = logging.getLogger("zepix.telegram")

OPERATION = "sink.telegram"
#: ``send(chat_id, html_text)``: one message; raises on failure.
Send = Callable[[int, str], None]
#: ``on_result(alerts, chat_id, delivered, error)``
OnResult = Callable[[Sequence[Alert], int, bool, "str | None"], None]


@dataclass(order=True)
class _Item:
    rank: int                       # 0 for CRITICAL, 1 for the rest
    seq: int
    alert: Alert = field(compare=False)


@dataclass
class _Chat:
    chat_id: int
    waiting: list[_Item] = field(default_factory=list)
    next_at: float = 0.0


class Outbox:
    """The rate-limited, prioritised, batching queue in front of ``send``.

    ``clock`` is monotonic; ``sleep(seconds)`` waits (tests: a fake clock's
    sleep). ``start=False`` leaves the thread for ``start()``.
    """

    def __init__(self, send: Send, chats: Sequence[int], *, on_result: OnResult | None = None,
                 per_chat: float = 1.0, per_second: int = 30,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None, start: bool = True) -> None:
        self._send, self._on_result = send, on_result
        self._chats = {c: _Chat(c) for c in chats}
        self.per_chat, self.per_second = per_chat, per_second
        self._clock = clock
        self._closing = threading.Event()
        self._sleep = sleep or (lambda s: self._closing.wait(s) and None)
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._sent: deque[float] = deque(maxlen=max(1, per_second))
        self._thread = threading.Thread(target=self._serve, name="zepix-telegram-alerts",
                                        daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        self._thread.start()

    def put(self, alert: Alert) -> None:
        rank = 0 if alert.level is AlertLevel.CRITICAL else 1
        with self._cond:
            for chat in self._chats.values():
                chat.waiting.append(_Item(rank, next(self._seq), alert))
            self._cond.notify()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def pending(self) -> int:
        with self._cond:
            return sum(len(c.waiting) for c in self._chats.values())

    def close(self, timeout: float = 5.0) -> bool:
        """Send what waits (no further waits between messages), for at most
        ``timeout`` seconds; report what is left as not delivered. True when
        nothing was left."""
        self._closing.set()
        with self._cond:
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._cond:
            left = {c.chat_id: [i.alert for i in c.waiting] for c in self._chats.values()}
            for chat in self._chats.values():
                chat.waiting.clear()
        for chat_id, alerts in left.items():
            if alerts:
                self._report(alerts, chat_id, False, "not delivered: the host shut down first")
        return not any(left.values())

    # -- the thread ------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._busy() and not self._closing.is_set():
                    self._cond.wait()
                if not self._busy():
                    return
                chat = self._next_chat()
                wait = 0.0 if self._closing.is_set() else self._wait_for(chat)
                if wait <= 0:
                    batch = sorted(chat.waiting)
                    chat.waiting.clear()
            if wait > 0:
                self._sleep(wait)  # alerts arriving meanwhile join the batch
                continue
            self._deliver(chat, [i.alert for i in batch])

    def _busy(self) -> bool:
        return any(c.waiting for c in self._chats.values())

    def _next_chat(self) -> _Chat:
        """The chat to serve next: one with a CRITICAL waiting, then the one whose
        oldest alert waited longest."""
        ready = [c for c in self._chats.values() if c.waiting]
        return min(ready, key=lambda c: min(c.waiting))

    def _wait_for(self, chat: _Chat) -> float:
        now = self._clock()
        window = self._sent[0] + 1.0 if len(self._sent) >= self.per_second else now
        return max(chat.next_at, window) - now

    def _deliver(self, chat: _Chat, alerts: list[Alert]) -> None:
        texts = alert_batches(alerts)
        offset = 0
        for number, (text, count) in enumerate(texts):
            if number:
                # further parts of a batch keep to the same limits
                self._hold(chat)
            part = alerts[offset:offset + count]
            offset += count
            try:
                self._send(chat.chat_id, text)
            except RetryFailed as exc:
                self._failed(part, chat.chat_id, str(exc))
            except Exception as exc:  # noqa: BLE001 - a send may raise anything; go on
                self._failed(part, chat.chat_id, describe(exc))
            else:
                self._report(part, chat.chat_id, True, None)
            finally:
                now = self._clock()
                self._sent.append(now)
                chat.next_at = now + self.per_chat

    def _hold(self, chat: _Chat) -> None:
        if self._closing.is_set():
            return
        with self._cond:
            wait = self._wait_for(chat)
        if wait > 0:
            self._sleep(wait)

    def _failed(self, alerts: Sequence[Alert], chat_id: int, error: str) -> None:
        error = redact_text(error)
        log.warning("telegram alert undelivered", extra=fields(
            chat=chat_id, alerts=len(alerts), error=error))
        self._report(alerts, chat_id, False, error)

    def _report(self, alerts: Sequence[Alert], chat_id: int, delivered: bool,
                error: str | None) -> None:
        if self._on_result is None:
            return
        try:
            self._on_result(alerts, chat_id, delivered, error)
        except Exception as exc:  # noqa: BLE001 - bookkeeping never stops delivery
            log.error("telegram delivery not recorded", extra=fields(error=describe(exc)))


class TelegramSink:
    """The ``alert_sink`` plugin: hands each alert to the outbox and returns."""

    name = "telegram"

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        self.outbox.put(alert)


def retrying(send: Send, retrier: Retrier) -> Send:
    """``send`` with retries under ``sink.telegram`` (a 429 waits its ``retry_after``)."""
    def run(chat_id: int, text: str) -> None:
        retrier.run(OPERATION, lambda: send(chat_id, text))
    return run
