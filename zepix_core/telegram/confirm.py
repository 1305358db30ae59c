"""Changes waiting for a Confirm: who asked, in which chat, until when.

The key goes into the inline keyboard's callback data (``ok:KEY`` / ``no:KEY``),
so a press names exactly one pending change. Only the user who asked may
answer it; after ``ttl`` seconds (monotonic) it expires.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from zepix_core.telegram.commands import Ask

Verdict = Literal["ok", "missing", "other_user", "expired"]


@dataclass
class Pending:
    key: str
    ask: Ask
    user_id: int
    chat_id: int
    expires: float
    message_id: int | None = None


class Confirmations:
    def __init__(self, clock: Callable[[], float], ttl: float = 60.0) -> None:
        self.clock, self.ttl = clock, ttl
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def ask(self, ask: Ask, user_id: int, chat_id: int) -> Pending:
        with self._lock:
            key = secrets.token_hex(6)
            pending = self._pending[key] = Pending(key, ask, user_id, chat_id,
                                                   self.clock() + self.ttl)
            return pending

    def answer(self, key: str, user_id: int) -> tuple[Verdict, Pending | None]:
        """Take the pending change ``key`` for ``user_id``'s answer. It stays pending
        when another user pressed."""
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
                return "missing", None
            if pending.user_id != user_id:
                return "other_user", pending
            del self._pending[key]
            if self.clock() >= pending.expires:
                return "expired", pending
            return "ok", pending

    def expired(self) -> list[Pending]:
        """Remove and return every pending change past its time."""
        now = self.clock()
        with self._lock:
            gone = [p for p in self._pending.values() if now >= p.expires]
            for p in gone:
                del self._pending[p.key]
            return gone
