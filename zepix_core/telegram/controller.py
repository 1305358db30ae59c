"""The bot: python-telegram-bot on a thread and event loop of its own.

One handler per command (``commands.Surface`` builds the answers), a gate in
front that drops anything from a chat not in ``allowed_chats`` (logged with
the chat and user id, at most once a minute per chat), and inline Confirm /
Cancel keyboards for the changes (``confirm``). Every call to the Bot API
goes through the retry framework as the operation ``telegram``
(``Retrier.run_async``: its waits are ``asyncio`` sleeps, so a wait never
stalls the loop). Nothing here
runs on the host's round or bar path; the host never waits for the bot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
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
from zepix_core.retry import Retrier, RetryFailed
from zepix_core.telegram import render
from zepix_core.telegram.commands import (
    ALL,
    HELP,
    Ask,
    BadArgument,
    Surface,
    one_id,
    parse_ask,
)
from zepix_core.telegram.confirm import Confirmations, Pending
from zepix_core.telegram.settings import Settings

log = logging.getLogger("zepix.telegram")
OPERATION = "telegram"
#: Commands that change anything: only ``[telegram] allowed_users`` may ask for them.
CHANGES = frozenset({"upgrade", "rollback", "restart", "resume"})
#: Seconds between two log lines about the same refused chat.
REFUSED_EVERY = 60.0
T = TypeVar("T")
Context = ContextTypes.DEFAULT_TYPE
App = Application[Any, Any, Any, Any, Any, Any]
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


class Timing:
    """The bot's waits, injectable for tests. ``clock`` is monotonic and times the
    Confirm expiry and the refusal log limit; ``interval`` is the host's round."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, confirm_ttl: float = 60.0,
                 interval: float = 30.0, probation_rounds: int = 3, poll_timeout: float = 10.0,
                 sweep_every: float = 1.0, poll: float = 0.25) -> None:
        self.clock, self.confirm_ttl, self.poll_timeout = clock, confirm_ttl, poll_timeout
        self.sweep_every, self.poll = sweep_every, poll
        self.apply_wait = 3 * interval + 15.0
        self.gate_wait = (probation_rounds + 2) * interval + 15.0


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
        self._app: App | None = None
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
        app = self._app = self._build()
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
            "version": lambda a: self.surface.versions(),
            "versions": lambda a: self.surface.versions(),
            "alerts": lambda a: self.surface.alerts(),
            "history": lambda a: self.surface.history(str(one_id("history", a))),
            "breakers": lambda a: self.surface.breakers(),
            "profit": lambda a: self.surface.profit(one_id("profit", a, optional=True)),
            "status": lambda a: self.surface.status(),
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
            await self._send(chat.id, text)
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
            await self._send(chat.id, text)
        return handle

    async def _other(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is not None and update.effective_message is not None:
            await self._send(chat.id, "Unknown command. /help lists what I understand.")

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
                await self._send(chat.id, f"❗ {render.esc(exc)}")
                return
            pending = self.confirmations.ask(ask, user.id, chat.id)
            keyboard = InlineKeyboardMarkup([[
                InlineKeyboardButton("✅ Confirm", callback_data=f"ok:{pending.key}"),
                InlineKeyboardButton("✖️ Cancel", callback_data=f"no:{pending.key}")]])
            text = (f"{ask.question()}\nOnly you can confirm; expires in "
                    f"{self.timing.confirm_ttl:g} s.")
            sent = await self._send(chat.id, text, keyboard)
            pending.message_id = sent.message_id if sent is not None else None
        return handle

    async def may_change(self, command: str, chat_id: int, user_id: int) -> bool:
        """Whether ``user_id`` may ask for ``command`` (one of CHANGES); a refusal is
        answered in the chat and logged with the user id."""
        if command not in CHANGES or user_id in self.settings.allowed_users:
            return True
        log.warning("telegram change refused: user not in allowed_users", extra=fields(
            chat=chat_id, user=user_id, command=command))
        await self._send(chat_id, f"⛔ /{command} changes live trading: only the users in "
                         f"[telegram] allowed_users may ask for it (your user id is {user_id}). "
                         "Nothing changed.")
        return False

    async def _pressed(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        choice, _, key = (query.data or "").partition(":")
        verdict, pending = self.confirmations.answer(key, query.from_user.id)
        if verdict == "missing" or pending is None:
            await self._answer(query.id, "This request is no longer open.")
            return
        if verdict == "other_user":
            log.warning("telegram confirm refused: not the user who asked", extra=fields(
                chat=pending.chat_id, user=query.from_user.id, asked_by=pending.user_id))
            await self._answer(query.id, "Only the user who asked can answer this.", True)
            return
        if pending.message_id is None and isinstance(query.message, Message):
            pending.message_id = query.message.message_id
        head = pending.ask.question()
        if verdict == "expired":
            await self._answer(query.id, "Expired")
            await self._edit(pending, f"{head}\n⌛ Expired: not confirmed within "
                             f"{self.timing.confirm_ttl:g} s. Nothing changed.")
        elif choice != "ok":
            await self._answer(query.id, "Cancelled")
            await self._edit(pending, f"{head}\n✖️ Cancelled. Nothing changed.")
        elif query.from_user.id not in self.settings.allowed_users:  # removed meanwhile
            await self._answer(query.id, "Refused: not in allowed_users", True)
            await self._edit(pending, f"{head}\n⛔ Refused: user {query.from_user.id} is not "
                             "in [telegram] allowed_users. Nothing changed.")
        else:
            await self._answer(query.id, "Confirmed")
            task = asyncio.create_task(self._carry_out(pending, query.from_user.id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _carry_out(self, pending: Pending, user_id: int) -> None:
        """Record the change as the CLI does, then edit the prompt with the outcome:
        when the host applied it and, for a version on probation, the gate's verdict."""
        ask, actor = pending.ask, f"telegram:{user_id}"
        head = f"{ask.question()}\nConfirmed by {render.esc(actor)}."
        await self._edit(pending, f"{head}\n⏳ Recording…")
        try:
            done = await asyncio.to_thread(self.surface.perform, ask, actor)
        except ZepixError as exc:
            await self._edit(pending, f"{head}\n❌ Refused: {render.esc(exc)}")
            return
        log.info("telegram change recorded", extra=fields(
            plugin=ask.plugin_id, action=ask.action, actor=actor, request=done.request_id))
        if done.request_id is None:
            await self._edit(pending, f"{head}\nℹ️ {render.esc(done.message)}")
            return
        text = (f"{head}\n⏳ Request {done.request_id}: {render.esc(done.message)}; the host "
                "applies it within one round.")
        await self._edit(pending, text)
        row = await self._until(lambda: self._applied(done.request_id), self.timing.apply_wait)
        if row is None:
            await self._edit(pending, f"{text}\n⌛ Not applied within "
                             f"{self.timing.apply_wait:.0f} s; follow it with /history "
                             f"{render.esc(ask.plugin_id)}")
            return
        outcome = str(row["outcome"])
        failed = outcome.startswith(("failed", "refused", "not restarted"))
        text = f"{head}\n{'❌' if failed else '✅'} Request {done.request_id}: {render.esc(outcome)}"
        await self._edit(pending, text)
        if "on probation" in outcome and done.version is not None:
            await self._follow_gate(pending, text, done.version, float(row["applied_at"]))

    async def _follow_gate(self, pending: Pending, text: str, version: str,
                           since: float) -> None:
        pid = pending.ask.plugin_id
        event = await self._until(lambda: self.surface.gate_verdict(pid, version, since),
                                  self.timing.gate_wait)
        if event is None:
            return
        if event["kind"] == "gate_passed":
            text += f"\n🎓 {render.esc(event['detail'])}"
        else:
            # the event is written before the rollback loads: wait for the version to change
            running = await self._until(lambda: self.surface.running_version(pid, not_=version),
                                        self.timing.apply_wait)
            text += (f"\n↩️ Gate rollback: {render.esc(event['detail'])}; now running "
                     f"{render.esc(running or 'nothing')}")
        await self._edit(pending, text)

    def _applied(self, request_id: int | None) -> dict[str, Any] | None:
        row = self.surface.request(int(request_id or 0))
        return row if row is not None and row["applied_at"] is not None else None

    async def _until(self, probe: Callable[[], T | None], seconds: float) -> T | None:
        deadline = time.monotonic() + seconds
        while True:
            found = await asyncio.to_thread(probe)
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(self.timing.poll)

    async def _sweep(self) -> None:
        """Edit prompts nobody answered in time, so their buttons go away."""
        while True:
            await asyncio.sleep(self.timing.sweep_every)
            for pending in self.confirmations.expired():
                await self._edit(pending, f"{pending.ask.question()}\n⌛ Expired: not "
                                 f"confirmed within {self.timing.confirm_ttl:g} s. Nothing "
                                 "changed.")

    # -- the Bot API, through the retry framework --------------------------------
    async def _api(self, make: Callable[[], Awaitable[T]]) -> T:
        return await self.retrier.run_async(OPERATION, make)

    async def _send(self, chat_id: int, text: str,
                    markup: InlineKeyboardMarkup | None = None) -> Message | None:
        assert self._app is not None
        bot, sent = self._app.bot, None
        pieces = render.split(text)
        for number, piece in enumerate(pieces):
            keys = markup if number == len(pieces) - 1 else None
            try:
                sent = await self._api(lambda p=piece, k=keys: bot.send_message(  # type: ignore[misc]
                    chat_id, p, parse_mode=ParseMode.HTML, reply_markup=k))
            except RetryFailed as exc:
                log.warning("telegram reply failed", extra=fields(chat=chat_id, error=str(exc)))
                return None
        return sent

    async def _edit(self, pending: Pending, text: str) -> None:
        if pending.message_id is None or self._app is None:
            return
        bot = self._app.bot
        try:
            await self._api(lambda: bot.edit_message_text(
                render.split(text)[0], chat_id=pending.chat_id, message_id=pending.message_id,
                parse_mode=ParseMode.HTML, reply_markup=None))
        except RetryFailed as exc:
            if "not modified" not in str(exc):
                log.warning("telegram edit failed", extra=fields(
                    chat=pending.chat_id, error=str(exc)))

    async def _answer(self, query_id: str, text: str, alert: bool = False) -> None:
        assert self._app is not None
        bot = self._app.bot
        try:
            await self._api(lambda: bot.answer_callback_query(query_id, text, show_alert=alert))
        except RetryFailed as exc:
            log.warning("telegram answer failed", extra=fields(error=str(exc)))

    async def _error(self, update: object, context: Context) -> None:
        error = context.error
        if isinstance(error, BadRequest) and "not modified" in str(error):
            return
        log.warning("telegram handler failed", extra=fields(
            error=redact_text(describe(error)) if error else "unknown"))


__all__ = ["Ask", "Controller", "Timing"]
