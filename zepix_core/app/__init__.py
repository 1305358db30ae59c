"""Composition: what starts a host and its services, for a bot or for ``zepix run``.

Edges that serve a running host (HTTP, chat, config watching) are started from
here, so the host never imports them.
"""

from zepix_core.app.aio import AsyncHost, open_host_async
from zepix_core.app.embedded import EmbeddedHost, open_host
from zepix_core.app.run import run, source_for
from zepix_core.app.sources import load_source, source_names

__all__ = ["AsyncHost", "EmbeddedHost", "load_source", "open_host", "open_host_async", "run",
           "source_for", "source_names"]
