"""``zepix restart``, and the timeline ``zepix history --events`` shows."""

from __future__ import annotations

import argparse
import sys
import time

from zepix_core.cli.commands.base import Command, actor, await_request, live_host, store_from
from zepix_core.cli.render import emit_json
from zepix_core.contract.errors import ZepixError
from zepix_core.supervision.requests import request_restart


def _restart_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", metavar="ID", help="the plugin to restart")
    p.add_argument("--wait", type=float, metavar="S",
                   help="wait up to S seconds for the running host to apply it and print the "
                        "outcome; exit 1 if it did not")








def _restart(args: argparse.Namespace) -> int:
    if args.wait is not None and args.wait < 0:
        raise ZepixError("restart: --wait must be >= 0 seconds")
    store = store_from(args)
    try:
        host = live_host(store)
        request_id = request_restart(store, args.plugin_id, actor(), time.time(),
                                     host_running=host is not None)
        if host is not None and args.wait is not None:
            await_request(store, request_id, args.wait)
        row = store.request(request_id)
    finally:
        store.close()
    assert row is not None
    applied = row["applied_at"] is not None
    if args.json:
        emit_json({**row, "host_pid": host["pid"] if host else None})
    elif applied:
        sys.stdout.write(f"restart of {row['plugin_id']} (request {row['id']}): "
                         f"{row['outcome']}\n")
    else:
        assert host is not None
        sys.stdout.write(f"restart of {row['plugin_id']} requested (request {row['id']}); "
                         f"the running host (pid {host['pid']}) applies it within one round, "
                         f"with [plugins.{row['plugin_id']}] as the config file has it now\n")
    if applied or args.wait is None:
        return 0
    sys.stderr.write(f"zepix: the host did not apply request {row['id']} within "
                     f"{args.wait:g}s; see 'zepix history {row['plugin_id']} --events'\n")
    return 1


TIMELINE_COLUMNS = ("timestamp", "plugin_id", "version", "kind", "detail")

COMMANDS = [
    Command("restart", "bring back a plugin the host gave up on (or restart any plugin)",
            "Writes a restart request. A running host applies it within one round: it\n"
            "re-reads the plugin's [plugins.ID] table from the config file (isolation, pin,\n"
            "limits, its own keys; other sections need a host restart), forgets the\n"
            "plugin's failures, closes its circuit breaker and loads a fresh instance. With no host running, the FAILED mark a host left when it gave up\n"
            "is cleared, so the next 'zepix run' activates the plugin again.\n\n"
            "  zepix restart crasher --wait 30   wait for the running host's outcome",
            _restart, _restart_args, listing=True),
]
