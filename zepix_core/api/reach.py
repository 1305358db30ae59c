"""Can the host reach where its alerts go? A real request to Telegram's Bot API
(``getMe`` with the bot's token) and to Alertmanager (``/-/healthy``), for the host
panel of the dashboard and ``GET /api/v1/status``.

Each answer is kept for ``TTL`` seconds, so a dashboard polling every two seconds
costs one request a target every ``TTL``; a check waits at most ``TIMEOUT``.
Reachable means the target answered 2xx; anything else is false with what happened
(never the URL: Telegram's holds the token).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypedDict

import httpx

from zepix_core.loading.config import Config
from zepix_core.loading.tables import TELEGRAM

TTL = 15.0
TIMEOUT = 3.0
# S105: the environment variable's name, not a token (as zepix_core.telegram.settings)
TELEGRAM_TOKEN_ENV = "ZEPIX_TELEGRAM_TOKEN"  # noqa: S105


class Reach(TypedDict):
    configured: bool
    reachable: bool | None      # None when not configured
    detail: str
    checked_at: float | None


def probe(url: str) -> tuple[bool, str]:
    """GET ``url``: (answered 2xx, what happened), without the URL in the text."""
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
            answer = client.get(url)
    except httpx.HTTPError as exc:
        return False, f"no answer ({type(exc).__name__})"
    return answer.is_success, f"HTTP {answer.status_code}"


def telegram_url(config: Config) -> str | None:
    """``getMe`` of the configured bot, or None when the bot is off (no token).

    The token is found as the bot finds it (``zepix_core.telegram.settings``, which
    this layer may not import): ``ZEPIX_TELEGRAM_TOKEN``, else ``token_file``."""
    table = config.sections.get("telegram", {})
    token = os.environ.get(TELEGRAM_TOKEN_ENV, "").strip()
    if not token and table.get("token_file"):
        try:
            token = Path(str(table["token_file"])).expanduser().read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            token = ""
    if not token:
        return None
    return f"{table.get('api_url', TELEGRAM.defaults()['api_url'])}{token}/getMe"


def alertmanager_url(config: Config) -> str | None:
    url = config.sections.get("alerts", {}).get("alertmanager_url")
    return f"{str(url).rstrip('/')}/-/healthy" if url else None


TARGETS: Mapping[str, Callable[[Config], str | None]] = {
    "telegram": telegram_url, "alertmanager": alertmanager_url}


class Reachability:
    """The last answer per target, checked again when older than ``TTL``."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._known: dict[str, tuple[str, Reach]] = {}
        self._lock = threading.Lock()

    def report(self, config: Config) -> dict[str, Reach]:
        with self._lock:  # one check at a time, whoever polls
            return {name: self._one(name, target(config)) for name, target in TARGETS.items()}

    def _one(self, name: str, url: str | None) -> Reach:
        if url is None:
            return {"configured": False, "reachable": None, "detail": "not configured",
                    "checked_at": None}
        now = self.clock()
        known = self._known.get(name)
        if known is not None and known[0] == url and known[1]["checked_at"] is not None \
                and now - known[1]["checked_at"] < TTL:
            return known[1]
        ok, detail = probe(url)
        found: Reach = {"configured": True, "reachable": ok, "detail": detail,
                        "checked_at": now}
        self._known[name] = (url, found)
        return found
