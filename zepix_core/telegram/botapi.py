"""The command bot's calls to the Bot API, each through the retry framework.

Every call goes through ``Retrier.run_async`` as the operation ``telegram``: its
waits are ``asyncio`` sleeps, so a wait never stalls the bot's loop. A call that
still fails is logged, never raised: a reply that cannot be sent must not end
the handler that wanted to send it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.ext import Application

from zepix_core.contract.logs import fields
from zepix_core.retry import Retrier, RetryFailed
from zepix_core.telegram import render
from zepix_core.telegram.confirm import Pending

log = logging.getLogger("zepix.telegram")
OPERATION = "telegram"
T = TypeVar("T")
App = Application[Any, Any, Any, Any, Any, Any]


class BotApi:
    """Send, edit and answer through the application ``app`` (set once it is built)."""

    def __init__(self, retrier: Retrier) -> None:
        self.retrier = retrier
        self.app: App | None = None

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        return await self.retrier.run_async(OPERATION, make)

    async def send(self, chat_id: int, text: str,
                   markup: InlineKeyboardMarkup | None = None) -> Message | None:
        """``text`` in pieces Telegram accepts; the keyboard goes with the last one."""
        assert self.app is not None
        bot, sent = self.app.bot, None
        pieces = render.split(text)
        for number, piece in enumerate(pieces):
            keys = markup if number == len(pieces) - 1 else None
            try:
                sent = await self.call(lambda p=piece, k=keys: bot.send_message(  # type: ignore[misc]
                    chat_id, p, parse_mode=ParseMode.HTML, reply_markup=k))
            except RetryFailed as exc:
                log.warning("telegram reply failed", extra=fields(chat=chat_id, error=str(exc)))
                return None
        return sent

    async def edit(self, pending: Pending, text: str) -> None:
        """Replace the prompt of ``pending`` (its buttons go away)."""
        if pending.message_id is None or self.app is None:
            return
        bot = self.app.bot
        try:
            await self.call(lambda: bot.edit_message_text(
                render.split(text)[0], chat_id=pending.chat_id, message_id=pending.message_id,
                parse_mode=ParseMode.HTML, reply_markup=None))
        except RetryFailed as exc:
            if "not modified" not in str(exc):
                log.warning("telegram edit failed", extra=fields(
                    chat=pending.chat_id, error=str(exc)))

    async def answer(self, query_id: str, text: str, alert: bool = False) -> None:
        assert self.app is not None
        bot = self.app.bot
        try:
            await self.call(lambda: bot.answer_callback_query(query_id, text, show_alert=alert))
        except RetryFailed as exc:
            log.warning("telegram answer failed", extra=fields(error=str(exc)))
