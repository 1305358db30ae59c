"""ASGI middleware in front of every route: Host check, bearer tokens, body size.

A request whose ``Host`` is not the listen address, ``localhost``, a loopback
address or a name in ``[http] allowed_hosts`` gets 421 before anything else:
a page on a DNS-rebinding domain in the operator's browser reads nothing.
Every mutation (any method but GET/HEAD) needs ``Authorization: Bearer
TOKEN``; the viewer token may read and gets 403 for a change. With
``reads_need_token`` (always on a non-loopback address) every read needs
either token, except the static pages (the dashboard and API reference
shells, which hold no data and send the token the operator gives them).
Tokens are compared in constant time. A body longer than the limit is
refused before a handler sees it. No CORS headers are ever sent, so browsers
keep other origins from reading or posting.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp as App
from starlette.types import Message, Receive, Scope, Send

READS = frozenset({"GET", "HEAD"})
#: Pages that hold no data: the dashboard and reference shells (and the schema they
#: render); they load without a token and send the one the operator gives them.
SHELLS = frozenset({"/", "/docs", "/openapi.json"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
ADMIN, VIEWER = "admin", "viewer"
#: Where the guard leaves the request's role (ADMIN, VIEWER or None) in ``scope["state"]``.
ROLE_KEY = "zepix_role"


class RequestGuard:
    def __init__(self, app: App, token: str, *, reads_need_token: bool, max_body: int,
                 hosts: frozenset[str] = LOOPBACK_NAMES, viewer_token: str | None = None
                 ) -> None:
        self.app = app
        self.tokens = {ADMIN: token.encode()}
        if viewer_token:
            self.tokens[VIEWER] = viewer_token.encode()
        self.reads_need_token = reads_need_token
        self.max_body = max_body
        self.hosts = hosts | LOOPBACK_NAMES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if host_name(scope) not in self.hosts:
            await _error(send, 421, "this server does not answer for that Host; add the name "
                         "to [http] allowed_hosts if you reach the API through it")
            return
        method, role = scope["method"], self._role(scope)
        needs = method not in READS or (self.reads_need_token
                                        and scope.get("path") not in SHELLS)
        if needs and role is None:
            await _error(send, 401, "missing or wrong bearer token: send 'Authorization: "
                         "Bearer TOKEN' (ZEPIX_API_TOKEN, [http] token_file or api-token "
                         "in the data directory)", {"www-authenticate": "Bearer"})
            return
        if method not in READS and role != ADMIN:
            await _error(send, 403, "the viewer token may read but not change anything; "
                         "send the API token (ZEPIX_API_TOKEN) for this request")
            return
        # Whose token this is, for GET /api/v1/session (the dashboard hides its
        # controls from a viewer); Starlette's request.state reads scope["state"].
        scope.setdefault("state", {})[ROLE_KEY] = role
        if method in READS:
            await self.app(scope, receive, send)
            return
        body = await self._body(receive)
        if body is None:
            await _error(send, 413, f"request body over {self.max_body} bytes")
            return
        await self.app(scope, _replay(body), send)

    def _role(self, scope: Scope) -> str | None:
        """Whose token the request carries: ADMIN, VIEWER or None."""
        scheme, _, token = header(scope, b"authorization").partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        found = None
        for role, expected in self.tokens.items():  # every comparison runs: constant time
            if hmac.compare_digest(token.strip(), expected):
                found = role
        return found

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


def header(scope: Scope, wanted: bytes) -> bytes:
    given = b""
    for name, value in scope.get("headers", []):
        if name == wanted:
            given = value
    return bytes(given)


def host_name(scope: Scope) -> str:
    """The name in the ``Host`` header without its port, lower case ("" if none)."""
    raw = header(scope, b"host").decode("latin-1").strip().lower()
    if raw.startswith("["):
        return raw[1:].partition("]")[0]
    return (raw.rpartition(":")[0] if ":" in raw else raw).rstrip(".")


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
