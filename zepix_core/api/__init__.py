"""The operator HTTP API of a running host (contract section 9): an edge over the host.

``start(host)`` serves it on its own thread as ``[http]`` says and returns a
handle whose ``stop()`` ends it; ``build_app`` is the ASGI app itself, for
tests and for embedding in another server.
"""

from zepix_core.api.app import build_app
from zepix_core.api.context import Context
from zepix_core.api.server import ApiServer, start
from zepix_core.api.settings import HttpSettings, read_settings

__all__ = ["ApiServer", "Context", "HttpSettings", "build_app", "read_settings", "start"]
