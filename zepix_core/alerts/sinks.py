"""Alert sinks: the built-in log and webhook sinks.

Sinks are plugins of the host's own hook ``HostSpec.alert_sink``: the
built-in ``LogSink`` (registered by default) and ``WebhookSink`` are written
exactly like a third-party sink would be. ``delivery.AlertDispatcher`` calls
each sink on its own thread; a sink with a ``retry_operation`` attribute is
retried under that operation's policy (``zepix_core.retry``), a sink without
one is called once.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pluggy

from zepix_core.contract.errors import ConfigError
from zepix_core.contract.hookspecs import PROJECT, HostSpec, hookimpl
from zepix_core.contract.model import Alert, AlertLevel
from zepix_core.contract.redact import redact_url
from zepix_core.retry import http

log = logging.getLogger("zepix.alerts")

#: The environment variable holding webhook headers when the config names none.
HEADERS_ENV = "ZEPIX_WEBHOOK_HEADERS"

_LOG_LEVELS = {
    AlertLevel.INFO: logging.INFO,
    AlertLevel.WARNING: logging.WARNING,
    AlertLevel.HIGH: logging.ERROR,
    AlertLevel.CRITICAL: logging.CRITICAL,
}


def alert_payload(alert: Alert) -> dict[str, object]:
    """The alert as a JSON-ready mapping; ``timestamp`` is ISO 8601 UTC and
    ``epoch`` the same instant in epoch seconds."""
    when = datetime.fromtimestamp(alert.timestamp, tz=UTC)
    return {
        "plugin_id": alert.plugin_id, "kind": alert.kind, "level": alert.level.value,
        "message": alert.message, "event": alert.event, "resolved": alert.resolved,
        "fingerprint": alert.fingerprint, "timestamp": when.isoformat(),
        "epoch": alert.timestamp, "details": alert.details,
    }


class LogSink:
    """Logs each alert as one line of key=value fields; a resolution logs at
    INFO, an alert at the logging level matching its alert level."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or log

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        level = logging.INFO if alert.resolved else _LOG_LEVELS[alert.level]
        self._logger.log(
            level, "alert plugin=%s kind=%s level=%s event=%s msg=%s",
            alert.plugin_id, alert.kind, alert.level.value, alert.event, alert.message,
            extra={"zepix_alert": alert_payload(alert)},
        )


class WebhookSink:
    """POSTs each alert as a JSON document (``alert_payload``) to ``url``.

    Any answer but 2xx (a redirect included) and a whole request over
    ``timeout`` seconds or an answer over ``max_bytes`` are failures, raised
    for the dispatcher to retry under the ``sink.webhook`` policy. The sink's
    name, its logs and its errors show the URL redacted (scheme and host):
    a webhook's path is often its secret.
    """

    retry_operation = "sink.webhook"

    def __init__(self, url: str, timeout: float = 10.0,
                 headers: Mapping[str, str] | None = None, name: str | None = None,
                 max_bytes: int = 64 * 1024) -> None:
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            parts = urllib.parse.urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("webhook url must be http:// or https:// with a host, got "
                              f"{redact_url(url)!r}")
        self.url = url
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.headers = {"Content-Type": "application/json", "User-Agent": "zepix-alerts",
                        **(headers or {})}
        self.name = name or f"webhook:{redact_url(url)}"

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        body = json.dumps(alert_payload(alert), default=str, allow_nan=False).encode()
        http.request(self.url, body=body, headers=self.headers, timeout=self.timeout,
                     max_bytes=self.max_bytes)


def webhook_headers(file: str | None, env: str | None,
                    environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Extra webhook headers (an auth token, say), one ``Name: value`` per line,
    from the file ``file``, else the environment variable ``env`` (default
    ``ZEPIX_WEBHOOK_HEADERS``). Secrets stay out of the config; ``ConfigError``
    names the file or variable, never a value."""
    environ = os.environ if environ is None else environ
    if file:
        try:
            text, where = Path(file).read_text(encoding="utf-8"), f"{file}"
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"alerts.webhook_headers_file: cannot read {file} "
                              f"({type(exc).__name__})") from None
    else:
        name = env or HEADERS_ENV
        text, where = environ.get(name, ""), f"${name}"
    return _parse_headers(text, where)


def _parse_headers(text: str, where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            raise ConfigError(f"{where}: line {number} is not 'Header-Name: value'")
        found[name] = value.strip()
    return found


def build_host_manager(sinks: Iterable[object] = (), *, log_sink: bool = True
                       ) -> pluggy.PluginManager:
    """The host's own plugin manager: ``HostSpec`` hooks, the log sink
    (unless ``log_sink`` is false) and ``sinks``, each registered under its
    ``name`` attribute when it has one."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HostSpec)
    if log_sink:
        pm.register(LogSink(), name=LogSink.name)
    for sink in sinks:
        pm.register(sink, name=getattr(sink, "name", None))
    return pm
