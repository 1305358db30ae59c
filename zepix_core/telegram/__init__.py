"""Telegram: the operator's dashboard, controls and alerts in chat (CONTRACT §10).

An edge over the host, like the CLI: ``start(host)`` runs the bot
(``controller``) on its own thread and event loop and registers the alert sink
(``sink``) when ``[telegram]`` configures a token; emoji and HTML live only in
``render``. docs/telegram.md walks through the setup.
"""

from zepix_core.telegram.controller import Controller, Timing
from zepix_core.telegram.service import Telegram, start
from zepix_core.telegram.settings import TOKEN_ENV, Settings, settings_from
from zepix_core.telegram.sink import Outbox, TelegramSink

__all__ = ["TOKEN_ENV", "Controller", "Outbox", "Settings", "Telegram", "TelegramSink",
           "Timing", "settings_from", "start"]
