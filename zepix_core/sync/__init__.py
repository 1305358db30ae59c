"""The sync manager: copies trades from plugin databases into the central ledger.

``SyncManager.run`` does one sync (the CLI's ``zepix sync --now``);
``SyncLoop`` runs it on the host's timer, in the background.
"""

from zepix_core.sync.loop import SyncLoop
from zepix_core.sync.manager import (
    AlertDecision,
    PluginSync,
    SyncBook,
    SyncManager,
    SyncRun,
    plugin_databases,
)

__all__ = ["AlertDecision", "PluginSync", "SyncBook", "SyncLoop", "SyncManager", "SyncRun",
           "plugin_databases"]
