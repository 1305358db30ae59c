"""Paused plugins (``zepix pause``) as the database holds them.

Read at start, and at every round and config poll after another connection wrote
the database (``zepix pause`` from a shell: one ``PRAGMA data_version`` instead of a
query each time); an in-process control (HTTP, Telegram, risk) calls ``refresh`` at
once. A database that cannot be read keeps the pauses known so far: a pause is
never lost to a locked database.
"""

from __future__ import annotations

from zepix_core.contract.errors import StorageError
from zepix_core.contract.hookspecs import hookimpl
from zepix_core.host.outage import Outage
from zepix_core.storage import PauseRow, Store

__all__ = ["Pauses"]


class Pauses:
    """``rows``: plugin id -> reason, actor, paused_at."""

    def __init__(self, store: Store, outage: Outage) -> None:
        self.store = store
        self.outage = outage
        self.rows: dict[str, PauseRow] = {}
        self._seen: int | None = None  # the data_version they were read at

    def refresh(self) -> dict[str, PauseRow]:
        """Re-read which plugins are paused (a read that fails keeps the known ones)."""
        try:
            self.rows = self.store.pauses()
        except StorageError as exc:
            self.outage.failed("pauses", exc)
        return self.rows

    @hookimpl(specname="between_rounds")
    def if_changed(self) -> None:
        """``refresh`` when another connection committed since the last look."""
        try:
            version = self.store.data_version()
        except StorageError as exc:
            self.outage.failed("pauses", exc)
            return
        if version == self._seen:
            return
        try:
            self.rows = self.store.pauses()
        except StorageError as exc:  # not seen yet: read again at the next look
            self.outage.failed("pauses", exc)
            return
        self._seen = version
