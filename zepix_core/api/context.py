"""What the HTTP routes work on: the running host, a database connection of their own,
and the settings the server was started with."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from zepix_core.api.reach import Reachability
from zepix_core.api.settings import HttpSettings
from zepix_core.host.host import Host
from zepix_core.storage import Store
from zepix_core.views.jsonable import jsonable

#: Who a change made through the API is recorded as, in the history.
ACTOR = "api"


@dataclass
class Context:
    host: Host
    store: Store        # the API's own connection: a slow read never holds the host's
    settings: HttpSettings
    period: float       # seconds between rounds, as the host runs them
    reach: Reachability = field(default_factory=Reachability)  # Telegram, Alertmanager

    def known(self, plugin_id: str) -> bool:
        return plugin_id in self.host.slots or plugin_id in self.store.statuses()

    def require(self, plugin_id: str) -> None:
        if not self.known(plugin_id):
            raise HTTPException(404, f"no plugin '{plugin_id}' is known to this host; "
                                "see GET /api/v1/plugins")


def document(value: object, status: int = 200) -> JSONResponse:
    """A CLI ``--json`` document as a response: times as ISO 8601 UTC, no NaN."""
    return JSONResponse(jsonable(value), status_code=status)
