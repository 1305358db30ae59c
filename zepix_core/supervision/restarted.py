"""``plugin_restarted``: a fresh instance learns that it replaces an earlier one, and why.

``host.reload`` (restarts by the supervisor, operator restarts, config restarts,
upgrades and rollbacks) tells every instance after the first of a host's run, once,
right after its ``activate`` and before its first bar. The notice is only a call of
an optional hook: a plugin without it is not called, and one that raises or misses
the deadline has that recorded as an error of its own and stays active.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.runner import CallResult, call

HOOK = "plugin_restarted"


class RestartNotices:
    """Counts the restarts of each plugin in this host's run and tells the plugin."""

    def __init__(self, record: Callable[[CallResult], None],
                 clock: Callable[[], float]) -> None:
        self.record, self.clock = record, clock
        self.restarts: Counter[str] = Counter()

    def tell(self, slot: PluginSlot, reason: str) -> CallResult | None:
        """Call ``plugin_restarted(reason, restarts)`` on ``slot``'s fresh instance;
        None when the plugin does not implement it."""
        self.restarts[slot.plugin_id] += 1
        runner = slot.runner
        if runner is None or HOOK not in runner.hooks:
            return None
        result = call(runner, HOOK, DEFAULT_DEADLINES[HOOK],
                      {"reason": reason, "restarts": self.restarts[slot.plugin_id]}, self.clock)
        self.record(result)
        return result
