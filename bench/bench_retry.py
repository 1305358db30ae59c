"""What the retry framework costs an outbound call that succeeds, against the bare call.

- first-try success, in memory: ``Retrier.run`` around a call that returns at
  once (tenacity's loop, the outcome, the in-memory statistics), as a multiple
  of calling the function directly;
- first-try success, persisted: the same with the statistics written to a
  real SQLite database (one transaction per operation, as in a host);
- webhook POST: one delivery through ``Retrier.run`` and the bounded
  ``retry.http.request`` to a loopback server, against a bare
  ``urllib.request.urlopen`` POST to the same server.
"""

from __future__ import annotations

import http.server
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zepix_core.retry import Retrier, RetryStats
from zepix_core.retry import http as retry_http
from zepix_core.storage import Store


def _per_call(fn: Callable[[], object], n: int) -> float:
    best = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best.append((time.perf_counter() - started) / n)
    return statistics.median(best)


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 2_000 if quick else 20_000
    bare = _per_call(lambda: 1, n)
    memory = Retrier()
    in_memory = _per_call(lambda: memory.run("sink.webhook", lambda: 1), n)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "zepix.db")
        persisted = Retrier(stats=RetryStats(store))
        on_disk = _per_call(lambda: persisted.run("sink.webhook", lambda: 1), n // 10)
        store.close()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    try:
        posts = 100 if quick else 500
        raw = _per_call(lambda: urllib.request.urlopen(
            urllib.request.Request(url, data=b"{}"), timeout=5).read(), posts)
        ours = _per_call(lambda: memory.run("sink.webhook", lambda: retry_http.request(
            url, body=b"{}", timeout=5)), posts)
    finally:
        httpd.shutdown()
        httpd.server_close()
    return [
        {"bench": "retry", "what": "first-try success, in memory (vs bare call)",
         "seconds": in_memory, "ratio": in_memory / bare},
        {"bench": "retry", "what": "first-try success, persisted to SQLite (vs in memory)",
         "seconds": on_disk, "ratio": on_disk / in_memory},
        {"bench": "retry", "what": "webhook POST via Retrier + bounded request (vs urlopen)",
         "seconds": ours, "ratio": ours / raw},
    ]
