"""Sorting failures into the categories that decide whether and when to retry.

- ``rate_limit``: HTTP 429, Telegram's ``RetryAfter``; the server's wait is honoured.
- ``transient``: timeouts, refused or reset connections, DNS failures, 5xx, 408.
- ``permanent``: other 4xx, redirects, a bad token, a malformed URL; never retried.
- ``unknown``: anything else; retried, but conservatively.

``classify`` reads exceptions from the standard library (urllib, http.client,
socket, ssl, sqlite3 and DB-API drivers by their class names) and from httpx
and python-telegram-bot by duck typing, so nothing here imports them.
Callers with their own protocol raise ``OutboundError`` with a category, or
build one from an HTTP answer with ``from_status``.
"""

from __future__ import annotations

import email.utils
import errno
import http.client
import math
import socket
import ssl
import time
import urllib.error
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from zepix_core.contract.errors import ZepixError, describe
from zepix_core.contract.redact import redact_text


class Category(StrEnum):
    RATE_LIMIT = "rate_limit"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Classified:
    """A failure's category, the server's requested wait (seconds) if it gave
    one, and a one-line description with URLs redacted."""

    category: Category
    retry_after: float | None = None
    error: str = ""


class OutboundError(ZepixError):
    """An outbound call failed in a known way; ``category`` decides the retry."""

    def __init__(self, message: str, category: Category | str,
                 retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.category = Category(category)
        self.retry_after = retry_after
        self.status = status


#: A caller's own classifier: a verdict, or None to fall back to ``classify``.
Classifier = Callable[[BaseException], "Classified | None"]

# python-telegram-bot exception class names, most specific first (BadRequest and
# TimedOut both subclass NetworkError there).
_TELEGRAM = (
    ("RetryAfter", Category.RATE_LIMIT), ("InvalidToken", Category.PERMANENT),
    ("Forbidden", Category.PERMANENT), ("BadRequest", Category.PERMANENT),
    ("ChatMigrated", Category.PERMANENT), ("EndPointNotFound", Category.PERMANENT),
    ("Conflict", Category.TRANSIENT), ("TimedOut", Category.TRANSIENT),
    ("NetworkError", Category.TRANSIENT),
)
#: OSError numbers of a network that is down for now, beside ConnectionError's own.
_NETWORK_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN,
                             errno.EHOSTDOWN, errno.ENETRESET, errno.EADDRNOTAVAIL,
                             errno.ENOBUFS})
# DB-API (PEP 249) exception names shared by sqlite3, psycopg, SQLAlchemy.
_DBAPI = (
    ("OperationalError", Category.TRANSIENT), ("InterfaceError", Category.TRANSIENT),
    ("IntegrityError", Category.PERMANENT), ("ProgrammingError", Category.PERMANENT),
    ("NotSupportedError", Category.PERMANENT), ("DataError", Category.PERMANENT),
)


def status_category(status: int) -> Category:
    """The category of an HTTP answer that is not a success."""
    if status == 429:
        return Category.RATE_LIMIT
    if status in (408, 425) or 500 <= status <= 599:
        return Category.TRANSIENT
    if 300 <= status <= 499:
        return Category.PERMANENT
    return Category.UNKNOWN


def from_status(status: int, headers: Mapping[str, str] | None = None, *,
                what: str = "request", now: float | None = None) -> OutboundError:
    """The error to raise for an HTTP answer ``status`` (not 2xx) with its ``headers``."""
    retry_after = parse_retry_after((headers or {}).get("Retry-After"), now)
    return OutboundError(f"{what} answered HTTP {status}", status_category(status),
                         retry_after, status)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta seconds or an HTTP date."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def classify(exc: BaseException) -> Classified:
    """The category of ``exc``, with any wait the server asked for."""
    error = redact_text(describe(exc))
    if isinstance(exc, OutboundError):
        return Classified(exc.category, exc.retry_after, error)
    if isinstance(exc, urllib.error.HTTPError):
        retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        return Classified(status_category(exc.code), retry_after, error)
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return Classified(classify(exc.reason).category, None, error)
    return Classified(*_by_type(exc), error)


def _by_type(exc: BaseException) -> tuple[Category, float | None]:
    names = [cls.__name__ for cls in type(exc).__mro__]
    package = type(exc).__module__.split(".")[0]
    if package == "httpx":
        return _httpx(exc, names)
    if package == "telegram":
        for name, category in _TELEGRAM:
            if name in names:
                return category, _telegram_wait(exc) if name == "RetryAfter" else None
    for name, category in _DBAPI:
        if name in names and not isinstance(exc, OSError):
            return category, None
    return _stdlib(exc), None


def _stdlib(exc: BaseException) -> Category:
    if isinstance(exc, ssl.SSLCertVerificationError | http.client.InvalidURL):
        return Category.PERMANENT
    if isinstance(exc, urllib.error.URLError):  # reason is a string: "unknown url type"
        return Category.PERMANENT
    if isinstance(exc, ValueError) and "url" in str(exc).lower():
        return Category.PERMANENT     # urllib's "unknown url type", "no host given"
    if isinstance(exc, TimeoutError | socket.gaierror | ConnectionError
                  | http.client.HTTPException | ssl.SSLError):
        return Category.TRANSIENT
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return Category.TRANSIENT
    return Category.UNKNOWN


def _httpx(exc: BaseException, names: list[str]) -> tuple[Category, float | None]:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if "HTTPStatusError" in names and isinstance(status, int):
        headers = getattr(response, "headers", None) or {}
        return status_category(status), parse_retry_after(headers.get("Retry-After"))
    if "UnsupportedProtocol" in names or "InvalidURL" in names:
        return Category.PERMANENT, None
    if "TransportError" in names:
        return Category.TRANSIENT, None    # timeouts, connect and read errors
    return Category.UNKNOWN, None


def _telegram_wait(exc: BaseException) -> float | None:
    with warnings.catch_warnings():   # PTB 22 warns that the type will change
        warnings.simplefilter("ignore")
        value = getattr(exc, "retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
