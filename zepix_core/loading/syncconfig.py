"""``[sync]``: where the central ledger is and how often the sync manager runs."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from zepix_core.contract.configschema import require
from zepix_core.contract.errors import ConfigError
from zepix_core.loading.tables import SYNC

#: The environment variable holding the PostgreSQL password of the central ledger.
# S105: the environment variable's name, not a password
PASSWORD_ENV = "ZEPIX_SYNC_PASSWORD"  # noqa: S105


@dataclass(frozen=True)
class SyncSettings:
    """``interval`` seconds between runs; ``url`` of the ledger (default
    ``sqlite:///<data dir>/central.db``); ``host_id`` of this host in the ledger
    (default: made once and kept in the host's database); ``password_file`` for a
    PostgreSQL password (else ``$ZEPIX_SYNC_PASSWORD``, else libpq's own);
    ``batch`` trades per ledger transaction; a WARNING alert after
    ``warn_after`` failed syncs of a plugin in a row, CRITICAL after
    ``critical_after``."""

    url: str
    interval: float = 300.0
    host_id: str | None = None
    password_file: str | None = None
    batch: int = 1000
    warn_after: int = 3
    critical_after: int = 6
    connect_timeout: float = 5.0
    enabled: bool = True

    @classmethod
    def from_config(cls, table: Mapping[str, object], data_dir: Path,
                    where: str = "<config>") -> SyncSettings:
        """Validate ``[sync]``; ``ConfigError`` names the key and what it must be."""
        require(SYNC, table, ("sync",), where)
        values = SYNC.typed(table)
        values.setdefault("url", f"sqlite://{(data_dir / 'central.db').resolve()}")
        settings = cls(**values)
        if settings.critical_after < settings.warn_after:
            raise ConfigError(f"{where}: sync.critical_after must be >= sync.warn_after")
        return settings

    def password(self) -> str | None:
        """The ledger password from the environment or ``password_file``, if any."""
        if os.environ.get(PASSWORD_ENV):
            return os.environ[PASSWORD_ENV]
        if self.password_file is None:
            return None
        try:
            return Path(self.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"sync.password_file: cannot read {self.password_file} "
                              f"({exc.strerror})") from None


def host_prefix() -> str:
    """The readable part of a new host id: this machine's name."""
    return socket.gethostname().split(".")[0] or "host"
