"""ASGI middleware in front of every route: bearer token and body size.

Every mutation (any method but GET/HEAD) needs ``Authorization: Bearer
TOKEN``; on a non-loopback address every request does. The token is
compared in constant time. A body longer than the limit is refused before
a handler sees it. No CORS headers are ever sent, so browsers keep other
origins from reading or posting.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

READS = frozenset({"GET", "HEAD"})


class Guard:
    def __init__(self, app: App, token: str, *, reads_need_token: bool, max_body: int) -> None:
        self.app = app
        self.token = token.encode()
        self.reads_need_token = reads_need_token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if (method not in READS or self.reads_need_token) and not self._authorized(scope):
            await _error(send, 401, "missing or wrong bearer token: send 'Authorization: "
                         "Bearer TOKEN' (ZEPIX_API_TOKEN, [http] token_file or api-token "
                         "in the data directory)", {"www-authenticate": "Bearer"})
            return
        if method in READS:
            await self.app(scope, receive, send)
            return
        body = await self._body(receive)
        if body is None:
            await _error(send, 413, f"request body over {self.max_body} bytes")
            return
        await self.app(scope, _replay(body), send)

    def _authorized(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                given = value
        scheme, _, token = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.token)

    async def _body(self, receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _error(send: Send, status: int, message: str,
                 headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
