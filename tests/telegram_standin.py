"""A loopback stand-in of the Telegram Bot API for tests.

It implements what the bot uses: ``getMe``, ``getUpdates`` (long polling, with
``offset`` and ``timeout``), ``sendMessage``, ``editMessageText``,
``answerCallbackQuery`` and ``deleteWebhook``. Tests play the users
(``say``: a message typed in a chat; ``press``: an inline button pressed) and
read what the bot did (``sent``, ``edits``, ``answers``). ``fail_next`` makes
the next calls of a method answer 429 with ``retry_after``. Each call is
stamped with ``clock()`` (a test's fake clock, or real monotonic time).
python-telegram-bot talks real HTTP to it through ``base_url``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT = {"id": 999, "is_bot": True, "first_name": "Zepix", "username": "zepix_test_bot",
       "can_join_groups": True, "can_read_all_group_messages": False,
       "supports_inline_queries": False}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class StandIn:
    token: str
    clock: Callable[[], float] = time.monotonic
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cond = threading.Condition()
        self._update_id = 100
        self._message_id = 1000
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    def close(self) -> None:
        with self.cond:
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- the test plays the users ---------------------------------------------------
    def say(self, chat_id: int, user_id: int, text: str) -> None:
        message = {"message_id": self._next_message(), "date": int(time.time()),
                   "chat": _chat(chat_id), "from": _user(user_id), "text": text}
        if text.startswith("/"):
            word = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word)}]
        self._push({"message": message})

    def press(self, chat_id: int, user_id: int, message_id: int, data: str) -> None:
        shown = self.messages[message_id]
        self._push({"callback_query": {
            "id": f"q{self._next_message()}", "from": _user(user_id), "chat_instance": "ci",
            "data": data, "message": shown}})

    def fail_next(self, method: str, *statuses_or_retry_after: int) -> None:
        """The next calls of ``method`` answer 429 with these ``retry_after`` values."""
        self.failures.setdefault(method, []).extend(statuses_or_retry_after)

    # -- what the bot did -----------------------------------------------------------
    def of(self, method: str, chat_id: int | None = None) -> list[Call]:
        with self.cond:
            return [c for c in self.calls if c.method == method and c.status == 200
                    and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]

    def texts(self, chat_id: int) -> list[str]:
        return [str(c.params["text"]) for c in self.of("sendMessage", chat_id)]

    def wait_for(self, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with self.cond:
                found = probe()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"stand-in: condition not met within {timeout}s; "
                                         f"calls: {[(c.method, c.params) for c in self.calls][-8:]}")
                self.cond.wait(min(left, 0.2))

    def sent_after(self, chat_id: int, count: int, timeout: float = 30.0) -> list[str]:
        """Wait until ``chat_id`` received more than ``count`` messages; the new ones."""
        self.wait_for(lambda: len(self.texts(chat_id)) > count, timeout)
        return self.texts(chat_id)[count:]

    # -- the server side ----------------------------------------------------------
    def _next_message(self) -> int:
        self._message_id += 1
        return self._message_id

    def _push(self, update: dict[str, Any]) -> None:
        with self.cond:
            self._update_id += 1
            self.updates.append({"update_id": self._update_id, **update})
            self.cond.notify_all()

    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        with self.cond:
            waits = self.failures.get(method)
            if waits:
                retry_after = waits.pop(0)
                self.calls.append(Call(method, params, self.clock(), 429))
                self.cond.notify_all()
                return 429, {"ok": False, "error_code": 429,
                             "description": f"Too Many Requests: retry after {retry_after}",
                             "parameters": {"retry_after": retry_after}}
            if method != "getUpdates":
                self.calls.append(Call(method, params, self.clock()))
                self.cond.notify_all()
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        return 200, {"ok": True, "result": self._answer(method, params)}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 2.0)
        with self.cond:
            while True:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if self.updates or time.monotonic() >= deadline:
                    return list(self.updates)
                self.cond.wait(max(0.0, deadline - time.monotonic()))

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT
        if method in ("deleteWebhook", "answerCallbackQuery", "setMyCommands"):
            return True
        if method == "sendMessage":
            message = {"message_id": self._next_message(), "date": int(time.time()),
                       "chat": _chat(int(params["chat_id"])), "from": BOT,
                       "text": params["text"]}
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            with self.cond:
                self.messages[message["message_id"]] = message
            return message
        if method == "editMessageText":
            with self.cond:
                message = dict(self.messages[int(params["message_id"])])
                message["text"] = params["text"]
                message.pop("reply_markup", None)
                if "reply_markup" in params:
                    message["reply_markup"] = params["reply_markup"]
                self.messages[message["message_id"]] = message
            return message
        raise KeyError(method)


def _chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "t"}


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}


def _params(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        return dict(json.loads(raw))
    params: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True):
        try:
            params[key] = json.loads(value) if value[:1] in "[{" else value
        except json.JSONDecodeError:
            params[key] = value
    return params


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            head, _, method = path.rpartition("/")
            token = head.removeprefix("/bot")
            length = int(self.headers.get("Content-Length") or 0)
            params = _params(self.rfile.read(length), self.headers.get("Content-Type", ""))
            try:
                status, body = standin.handle(token, method, params)
            except KeyError:
                status, body = 404, {"ok": False, "error_code": 404,
                                     "description": f"Not Found: {method}"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on a long poll (the bot stopping)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
