"""One outbound HTTP request, bounded as a whole in time and in response size.

A socket timeout bounds each read, not the request: a server that drips one
byte a second would hold a caller for ever. Here a watchdog shuts the socket
down when the whole request (connect, send, headers, body) passes its time
limit, and the body is read up to a size limit. Redirects are not followed
(a redirected POST would arrive as a bodiless GET). Any answer but 2xx
raises ``OutboundError`` with the category the retry policy needs.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from zepix_core.contract.redact import redact_url
from zepix_core.retry.categories import Category, OutboundError, from_status

#: Default limits of one request.
TIMEOUT = 10.0
MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


def request(url: str, *, method: str = "POST", body: bytes | None = None,
            headers: Mapping[str, str] | None = None, timeout: float = TIMEOUT,
            max_bytes: int = MAX_BYTES) -> Reply:
    """Send one request to ``url``; the 2xx reply, or ``OutboundError`` / ``OSError``.

    Errors name the URL redacted (scheme and host only). A whole request over
    ``timeout`` seconds raises ``TimeoutError``; a body over ``max_bytes`` is a
    permanent ``OutboundError``.
    """
    shown = redact_url(url)
    conn, target = _connection(url, shown, timeout)
    expired = threading.Event()
    watchdog = threading.Timer(timeout, _cut, (conn, expired))
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request(method, target, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read(max_bytes + 1)
    except (OSError, http.client.HTTPException) as exc:
        # the socket's own timeout (the same limit) may fire before the watchdog does
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise TimeoutError(f"{shown}: no complete answer within {timeout:g} s") from None
        raise _redacted(exc, url, shown) from None
    finally:
        watchdog.cancel()
        conn.close()
    if expired.is_set():
        raise TimeoutError(f"{shown}: no complete answer within {timeout:g} s")
    found = {k: v for k, v in response.getheaders()}
    if not 200 <= response.status <= 299:
        raise from_status(response.status, _titled(found), what=shown)
    if len(data) > max_bytes:
        raise OutboundError(f"{shown}: answer larger than {max_bytes} bytes",
                            Category.PERMANENT, status=response.status)
    return Reply(response.status, found, data)


def _connection(url: str, shown: str, timeout: float
                ) -> tuple[http.client.HTTPConnection, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundError(f"{shown}: malformed URL", Category.PERMANENT) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(f"{shown}: not an http:// or https:// URL with a host",
                            Category.PERMANENT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, port, timeout=timeout,
                                           context=ssl.create_default_context()), target
    return http.client.HTTPConnection(parts.hostname, port, timeout=timeout), target


def _cut(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
    """Wake a read blocked on ``conn``: the request ran out of time."""
    expired.set()
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


def _titled(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.title(): v for k, v in headers.items()}


def _redacted(exc: BaseException, url: str, shown: str) -> BaseException:
    """``exc`` with the URL's secret parts out of its message, same type when possible."""
    text = str(exc)
    if url not in text:
        return exc
    try:
        return type(exc)(text.replace(url, shown))
    except Exception:  # noqa: BLE001 - an exception type with another constructor
        return exc
