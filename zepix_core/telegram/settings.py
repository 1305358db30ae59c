"""``[telegram]``: the bot token, who may command, where alerts go, the Bot API base.

The bot is off unless a token is found: ``ZEPIX_TELEGRAM_TOKEN`` first, else the
file ``token_file`` names. The token is never logged or shown; ``Settings``
keeps it out of its ``repr``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zepix_core.contract.configschema import require
from zepix_core.contract.errors import ConfigError
from zepix_core.loading.tables import TELEGRAM

# S105: the environment variable's name, not a token
TOKEN_ENV = "ZEPIX_TELEGRAM_TOKEN"  # noqa: S105
DEFAULT_API_URL: str = TELEGRAM.defaults()["api_url"]
KEYS = TELEGRAM.names()


@dataclass(frozen=True)
class Settings:
    """The validated ``[telegram]`` table. ``token`` is secret: not in ``repr``."""

    token: str = field(repr=False)
    allowed_chats: frozenset[int] = frozenset()
    alert_chats: tuple[int, ...] = ()
    api_url: str = DEFAULT_API_URL
    warnings: tuple[str, ...] = ()
    #: Users who may ask for changes (/upgrade, /rollback, /restart, /resume); reads and
    #: /pause stay open to every member of an allowed chat.
    allowed_users: frozenset[int] = frozenset()
    #: ``daily_summary`` as (hour, minute) UTC; None: no daily summary.
    daily_summary: tuple[int, int] | None = None

    @property
    def summary_chats(self) -> tuple[int, ...]:
        """Where the daily summary goes: ``alert_chats``, else ``allowed_chats``."""
        return self.alert_chats or tuple(sorted(self.allowed_chats))


def settings_from(table: Mapping[str, Any], where: str = "<config>",
                  env: Mapping[str, str] | None = None) -> Settings | None:
    """The bot's settings, or None when no token is configured (the bot is off).

    Raises ``ConfigError`` naming ``where`` and the key for anything malformed.
    """
    environ = os.environ if env is None else env
    require(TELEGRAM, table, ("telegram",), where)
    warnings: list[str] = []
    token = environ.get(TOKEN_ENV, "").strip() or _token_file(table, where, warnings)
    if not token:
        return None
    allowed = list(table.get("allowed_chats", []))
    alerts = list(table.get("alert_chats", []))
    users = list(table.get("allowed_users", []))
    if not allowed and not alerts:
        warnings.append("telegram: neither allowed_chats nor alert_chats is set; the bot "
                        "answers nobody and delivers no alert")
    if allowed and not users:
        warnings.append("telegram: allowed_users is empty; /upgrade, /rollback and /restart "
                        "are refused for everyone (list the user ids that may change things)")
    at = table.get("daily_summary")
    summary = None if at is None else (int(str(at)[:2]), int(str(at)[3:5]))
    if summary is not None and not allowed and not alerts:
        warnings.append("telegram: daily_summary is set but no chat is: nobody gets it")
    return Settings(token, frozenset(allowed), tuple(dict.fromkeys(alerts)),
                    str(table.get("api_url", DEFAULT_API_URL)), tuple(warnings), frozenset(users),
                    summary)


def _token_file(table: Mapping[str, Any], where: str, warnings: list[str]) -> str:
    name = table.get("token_file")
    if name is None:
        return ""
    path = Path(name).expanduser()
    try:
        text = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: telegram.token_file: cannot read {path} "
                          f"({type(exc).__name__}); create it with the token from BotFather, "
                          f"or set {TOKEN_ENV}") from None
    if not text:
        raise ConfigError(f"{where}: telegram.token_file: {path} is empty; put the token "
                          "from BotFather in it")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"telegram: {path} is readable by other users; chmod 600 it")
    return text
