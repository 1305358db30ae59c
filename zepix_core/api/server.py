"""The API server of a running host: uvicorn on a daemon thread of its own.

The socket is bound before the host starts, so a port in use is a one-line
error at once; requests are served on the server's thread and its thread
pool, never on the host's loop thread.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from zepix_core.api.app import build_app
from zepix_core.api.context import Context
from zepix_core.api.limits import (
    BACKLOG,
    KEEP_ALIVE,
    MAX_CONNECTIONS,
    CappedProtocol,
    quiet_server_logs,
)
from zepix_core.api.settings import HttpSettings, read_settings
from zepix_core.contract.errors import ConfigError
from zepix_core.contract.logs import fields
from zepix_core.host.host import Host
from zepix_core.loading.paths import data_dir
from zepix_core.storage import Store

log = logging.getLogger("zepix.api")


@dataclass
class ApiServer:
    """A running API server; ``stop()`` ends it and closes its database connection."""

    server: uvicorn.Server
    thread: threading.Thread
    store: Store
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.store.close()


def start(host: Host, period: float | None = None, home: Path | None = None) -> ApiServer | None:
    """Serve ``host``'s API as ``[http]`` says; None when ``listen`` is ``""``.

    Raises ``ConfigError`` (one line) for bad settings or an address in use.
    """
    settings = read_settings(host.config.sections.get("http", {}), home or data_dir())
    if settings is None:
        return None
    sock = bind(settings)
    port = sock.getsockname()[1]
    store = Store(host.store.path)
    ctx = Context(host, store, settings, period or host.interval())
    quiet_server_logs()
    config = uvicorn.Config(build_app(ctx), log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=2,
                            http=CappedProtocol, limit_concurrency=MAX_CONNECTIONS,
                            timeout_keep_alive=KEEP_ALIVE, backlog=BACKLOG)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=_serve, args=(server, sock), name="zepix-api", daemon=True)
    thread.start()
    reads = settings.reads_need_token or not settings.loopback
    log.info("api listening", extra=fields(url=f"http://{settings.host}:{port}",
                                           token_required_for_reads=reads))
    return ApiServer(server, thread, store, settings.host, port)


def bind(settings: HttpSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: without, a keep-alive client waits out a delayed
    # ACK (about 40 ms) on every answer sent in two writes (headers, then body).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        where = f"{settings.host}:{settings.port}"
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"http.listen: {where} is already in use; stop what listens "
                              "there or set another [http] listen (\"\" turns it off)") from None
        raise ConfigError(f"http.listen: cannot listen on {where} ({exc.strerror})") from None
    sock.listen(BACKLOG)
    sock.set_inheritable(False)
    return sock


def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
