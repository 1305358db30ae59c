"""The bot: python-telegram-bot on a thread and event loop of its own.

One handler per command (``commands.Surface`` builds the answers), a gate in
front that drops anything from a chat not in ``allowed_chats`` (logged with
the chat and user id, at most once a minute per chat), and inline Confirm /
Cancel keyboards for the changes (``confirm``; ``follow`` carries a confirmed
change out and follows it). Every call to the Bot API goes through the retry
framework as the operation ``telegram`` (``botapi``). Nothing here runs on the
host's round or bar path; the host never waits for the bot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from zepix_core.contract.errors import ZepixError, describe
from zepix_core.contract.logs import fields
from zepix_core.contract.redact import redact_text
from zepix_core.retry import Retrier
from zepix_core.telegram import render
from zepix_core.telegram.botapi import App, BotApi
from zepix_core.telegram.commands import (
    ALL,
    HELP,
    Ask,
    BadArgument,
    Surface,
    one_id,
    parse_ask,
)
from zepix_core.telegram.confirm import Confirmations
from zepix_core.telegram.follow import Follow, Timing
from zepix_core.telegram.settings import Settings

log = logging.getLogger("zepix.telegram")
#: Commands that change anything: only ``[telegram] allowed_users`` may ask for them.
CHANGES = frozenset({"upgrade", "rollback", "restart", "resume"})
#: Seconds between two log lines about the same refused chat.
REFUSED_EVERY = 60.0
Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


class Controller:
    """Starts with ``start()``, stops with ``stop()``; see the module docstring."""

    def __init__(self, settings: Settings, surface: Surface, retrier: Retrier,
                 timing: Timing | None = None) -> None:
        self.settings, self.surface, self.retrier = settings, surface, retrier
        self.timing = timing or Timing()
        self.confirmations = Confirmations(self.timing.clock, self.timing.confirm_ttl)
        self.ready = threading.Event()
        self._stop_asked = threading.Event()
        self._refused: dict[int, tuple[float, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.api = BotApi(retrier)
        self.follow = Follow(surface, self.api, self.timing)
        self._thread = threading.Thread(target=self._run, name="zepix-telegram", daemon=True)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_asked.set()   # seen by _main if its loop is not up yet
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop closed meanwhile
                pass
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        if self._stop_asked.is_set():
            return
        backoff = 5.0
        while not self._stopping.is_set():
            try:
                await self._serve()
                return
            except Exception as exc:  # noqa: BLE001 - Telegram unreachable: try again later
                log.warning("telegram bot not started", extra=fields(
                    error=redact_text(describe(exc)), retry_in_s=backoff))
            try:
                await asyncio.wait_for(self._stopping.wait(), backoff)
            except TimeoutError:
                backoff = min(300.0, backoff * 2)

    async def _serve(self) -> None:
        assert self._stopping is not None
        app = self.api.app = self._build()
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(
                timeout=int(self.timing.poll_timeout),
                allowed_updates=["message", "callback_query"], drop_pending_updates=True)
            sweeper = asyncio.create_task(self._sweep())
            log.info("telegram bot started", extra=fields(
                bot=app.bot.username, allowed_chats=len(self.settings.allowed_chats)))
            self.ready.set()
            await self._stopping.wait()
            sweeper.cancel()
            for task in list(self._tasks):
                task.cancel()
            await app.updater.stop()
            await app.stop()

    def _build(self) -> App:
        app = (ApplicationBuilder().token(self.settings.token).base_url(self.settings.api_url)
               .get_updates_read_timeout(self.timing.poll_timeout + 10.0).build())
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        reads: dict[str, Callable[[Sequence[str]], str]] = {
            "health": lambda a: self.surface.health(one_id("health", a, optional=True)),
            "version": lambda a: self.surface.versions(one_id("version", a, optional=True)),
            "versions": lambda a: self.surface.versions(one_id("versions", a, optional=True)),
            "alerts": lambda a: self.surface.alerts(),
            "history": lambda a: self.surface.history(str(one_id("history", a))),
            "breakers": lambda a: self.surface.breakers(),
            "profit": lambda a: self.surface.profit(one_id("profit", a, optional=True)),
            "status": lambda a: self.surface.status(),
            "summary": lambda a: self.surface.summary(),
            "help": lambda a: HELP, "start": lambda a: HELP,
        }
        for name, produce in reads.items():
            app.add_handler(CommandHandler(name, self._read(produce)))
        for name in ("upgrade", "rollback", "restart", "resume"):
            app.add_handler(CommandHandler(name, self._asker(name)))
        app.add_handler(CommandHandler("pause", self._now(self.surface.pause)))
        app.add_handler(CommandHandler("silence", self._now(self.surface.silence)))
        app.add_handler(CommandHandler("sync", self._now(self.surface.sync)))
        app.add_handler(CallbackQueryHandler(self._pressed))
        app.add_handler(MessageHandler(filters.ALL, self._other))
        app.add_error_handler(self._error)
        return app

    # -- the gate ----------------------------------------------------------------
    async def _gate(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is not None and chat.id in self.settings.allowed_chats:
            return
        user = update.effective_user
        self._note_refused(chat.id if chat else 0, user.id if user else 0)
        raise ApplicationHandlerStop

    def _note_refused(self, chat_id: int, user_id: int) -> None:
        now = self.timing.clock()
        last, suppressed = self._refused.get(chat_id, (None, 0))
        if last is not None and now - last < REFUSED_EVERY:
            self._refused[chat_id] = (last, suppressed + 1)
            return
        if len(self._refused) > 10_000:  # many strangers: forget the old ones
            self._refused.clear()
        self._refused[chat_id] = (now, 0)
        log.warning("telegram message from a chat not allowed; no answer", extra=fields(
            chat=chat_id, user=user_id, suppressed=suppressed))

    # -- reads -------------------------------------------------------------------
    def _read(self, produce: Callable[[Sequence[str]], str]
              ) -> Handler:
        async def handle(update: Update, context: Context) -> None:
            chat = update.effective_chat
            assert chat is not None
            args = list(context.args or [])
            try:
                text = await asyncio.to_thread(produce, args)
            except BadArgument as exc:
                text = f"❗ {render.esc(exc)}"
            except ZepixError as exc:
                text = f"❌ {render.esc(exc)}"
            await self.api.send(chat.id, text)
        return handle

    def _now(self, produce: Callable[[Sequence[str], str], str]) -> Handler:
        """A change that acts at once (``/pause``, ``/silence``), recorded with the user."""
        async def handle(update: Update, context: Context) -> None:
            chat, user = update.effective_chat, update.effective_user
            assert chat is not None and user is not None
            try:
                text = await asyncio.to_thread(produce, list(context.args or []),
                                               f"telegram:{user.id}")
            except BadArgument as exc:
                text = f"❗ {render.esc(exc)}"
            except ZepixError as exc:
                text = f"❌ {render.esc(exc)}"
            await self.api.send(chat.id, text)
        return handle

    async def _other(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is not None and update.effective_message is not None:
            await self.api.send(chat.id, "Unknown command. /help lists what I understand.")

    # -- changes -----------------------------------------------------------------
    def _asker(self, command: str) -> Handler:
        async def handle(update: Update, context: Context) -> None:
            chat, user = update.effective_chat, update.effective_user
            assert chat is not None and user is not None
            if not await self.may_change(command, chat.id, user.id):
                return
            try:
                ask = parse_ask(command, list(context.args or []))
                if ask.plugin_id != ALL:
                    await asyncio.to_thread(self.surface.require, command, ask.plugin_id)
            except BadArgument as exc:
                await self.api.send(chat.id, f"❗ {render.esc(exc)}")
                return
            pending = self.confirmations.ask(ask, user.id, chat.id)
            keyboard = InlineKeyboardMarkup([[
                InlineKeyboardButton("✅ Confirm", callback_data=f"ok:{pending.key}"),
                InlineKeyboardButton("✖️ Cancel", callback_data=f"no:{pending.key}")]])
            text = (f"{ask.question()}\nOnly you can confirm; expires in "
                    f"{self.timing.confirm_ttl:g} s.")
            sent = await self.api.send(chat.id, text, keyboard)
            pending.message_id = sent.message_id if sent is not None else None
        return handle

    async def may_change(self, command: str, chat_id: int, user_id: int) -> bool:
        """Whether ``user_id`` may ask for ``command`` (one of CHANGES); a refusal is
        answered in the chat and logged with the user id."""
        if command not in CHANGES or user_id in self.settings.allowed_users:
            return True
        log.warning("telegram change refused: user not in allowed_users", extra=fields(
            chat=chat_id, user=user_id, command=command))
        await self.api.send(chat_id, f"⛔ /{command} changes live trading: only the users in "
                         f"[telegram] allowed_users may ask for it (your user id is {user_id}). "
                         "Nothing changed.")
        return False

    async def _pressed(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        choice, _, key = (query.data or "").partition(":")
        verdict, pending = self.confirmations.answer(key, query.from_user.id)
        if verdict == "missing" or pending is None:
            await self.api.answer(query.id, "This request is no longer open.")
            return
        if verdict == "other_user":
            log.warning("telegram confirm refused: not the user who asked", extra=fields(
                chat=pending.chat_id, user=query.from_user.id, asked_by=pending.user_id))
            await self.api.answer(query.id, "Only the user who asked can answer this.", True)
            return
        if pending.message_id is None and isinstance(query.message, Message):
            pending.message_id = query.message.message_id
        head = pending.ask.question()
        if verdict == "expired":
            await self.api.answer(query.id, "Expired")
            await self.api.edit(pending, f"{head}\n⌛ Expired: not confirmed within "
                             f"{self.timing.confirm_ttl:g} s. Nothing changed.")
        elif choice != "ok":
            await self.api.answer(query.id, "Cancelled")
            await self.api.edit(pending, f"{head}\n✖️ Cancelled. Nothing changed.")
        elif query.from_user.id not in self.settings.allowed_users:  # removed meanwhile
            await self.api.answer(query.id, "Refused: not in allowed_users", True)
            await self.api.edit(pending, f"{head}\n⛔ Refused: user {query.from_user.id} is not "
                             "in [telegram] allowed_users. Nothing changed.")
        else:
            await self.api.answer(query.id, "Confirmed")
            task = asyncio.create_task(self.follow.carry_out(pending, query.from_user.id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _sweep(self) -> None:
        """Edit prompts nobody answered in time, so their buttons go away."""
        while True:
            await asyncio.sleep(self.timing.sweep_every)
            for pending in self.confirmations.expired():
                await self.api.edit(pending, f"{pending.ask.question()}\n⌛ Expired: not "
                                 f"confirmed within {self.timing.confirm_ttl:g} s. Nothing "
                                 "changed.")

    async def _error(self, update: object, context: Context) -> None:
        error = context.error
        if isinstance(error, BadRequest) and "not modified" in str(error):
            return
        log.warning("telegram handler failed", extra=fields(
            error=redact_text(describe(error)) if error else "unknown"))


__all__ = ["Ask", "Controller", "Timing"]
