"""``[plugindb] retention_days`` on a thread of its own (issue 22, item 2).

Pruning writes to every plugin's database, and a plugin (or a backup tool)
may hold one locked: each write then waits up to its ``lock_wait``. Done in
the monitoring round, that wait held the lock that bars need; here the round
only starts the work, and the next round starts it again only once it is over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path

from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
from zepix_core.contract.process import own
from zepix_core.plugindb import PluginDatabase
from zepix_core.sync.manager import plugin_databases

log = logging.getLogger("zepix.host")


def prune(plugins_dir: Path, before: float, synced: Mapping[str, int], days: float) -> None:
    """Drop each plugin database's signals and closed trades older than ``before``
    that the ledger already has (``synced``: plugin -> the last revision it has)."""
    for plugin_id, path in plugin_databases(plugins_dir).items():
        db = PluginDatabase(path, plugin_id, track=False, lock_wait=2.0)
        try:
            signals, trades = db.prune(before, int(synced.get(plugin_id, 0)))
        except StorageError as exc:
            log.warning("prune failed", extra=fields(plugin=plugin_id, error=str(exc)))
            continue
        finally:
            db.close()
        if signals or trades:
            log.info("pruned", extra=fields(plugin=plugin_id, signals=signals,
                                            trades=trades, days=days))


def _run(plugins_dir: Path, before: float, synced: Mapping[str, int], days: float) -> None:
    try:
        prune(plugins_dir, before, synced, days)
    except Exception:  # housekeeping: a bug is logged, the next hour tries again
        log.exception("prune crashed")


def start(plugins_dir: Path, before: float, synced: Mapping[str, int],
          days: float) -> threading.Thread:
    """``prune`` on a new host thread (``zepix-prune``); returns it, started."""
    thread = own(threading.Thread(target=_run, args=(plugins_dir, before, dict(synced), days),
                                  name="zepix-prune", daemon=True))
    thread.start()
    return thread
