"""``zepix restart ID`` as an operation every operator surface shares (CLI, Telegram)."""

from __future__ import annotations

from zepix_core.contract.errors import ZepixError
from zepix_core.storage import Store
from zepix_core.supervision.operator import clear_mark


def request_restart(store: Store, plugin_id: str, actor: str, now: float, *,
                    host_running: bool) -> int:
    """Record a restart request by ``actor``; returns its id.

    A running host applies it within one round. With no host running the give-up
    mark is cleared at once (``clear_mark``), so the next start activates the plugin.
    Raises ``ZepixError`` for a plugin the database has never seen.
    """
    status = store.statuses().get(plugin_id)
    if status is None:
        raise ZepixError(f"restart: no plugin '{plugin_id}' is known to {store.path}; "
                         "see 'zepix plugins'", plugin_id=plugin_id)
    request_id = store.add_request(plugin_id, "restart", actor, now)
    if not host_running:
        clear_mark(store, request_id, status, now)
    return request_id
