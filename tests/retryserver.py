"""A loopback HTTP server for retry and sink tests: it answers each request with the
next scripted reply and records what it received."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drip: float = 0.0          # seconds between body bytes (a server that drips)


class ScriptedServer:
    """Answers requests with ``replies`` in order, then 200; ``requests`` holds
    (method, path, headers, body) of each, and ``seen`` is set on every request."""

    def __init__(self, replies: list[Reply | int] | None = None) -> None:
        self.replies = [r if isinstance(r, Reply) else Reply(r) for r in replies or []]
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.seen = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                owner._answer(self)

            def do_GET(self) -> None:
                owner._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/T000/B000/secretpath"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        with self._lock:
            self.requests.append((handler.command, handler.path, dict(handler.headers), body))
            reply = self.replies.pop(0) if self.replies else Reply()
        self.seen.set()
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        try:
            if reply.drip:
                for i in range(len(reply.body)):
                    handler.wfile.write(reply.body[i:i + 1])
                    handler.wfile.flush()
                    time.sleep(reply.drip)
            else:
                handler.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up on a dripping answer

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
