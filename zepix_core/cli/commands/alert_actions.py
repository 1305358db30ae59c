"""``zepix alerts silence|silences|unsilence|test``: the actions of ``zepix alerts``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from zepix_core.cli.commands.base import (
    _DURATION,
    _UNITS,
    actor,
    await_request,
    live_host,
    show,
    store_from,
)
from zepix_core.cli.render import emit_json
from zepix_core.contract.errors import ZepixError
from zepix_core.storage import SilenceRow, Store
from zepix_core.supervision import controls

ACTIONS = ("silence", "silences", "unsilence", "test")
SILENCE_COLUMNS = ("id", "plugin_id", "kind", "until", "reason", "actor")


def minutes(text: str | None) -> float:
    """``--for``: 90s, 30m, 2h, 1d, 1h30m; in minutes."""
    spec = (text or "").strip().lower()
    if not spec or _DURATION.sub("", spec) != "":
        raise ZepixError(f"alerts silence: --for {text!r}; give a duration such as 30m, 2h "
                         "or 1d")
    return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(spec)) / 60.0


def run(args: argparse.Namespace) -> int:
    action = args.plugin_id
    store = store_from(args)
    try:
        if action == "silence":
            if not args.target:
                raise ZepixError("alerts silence: name PLUGIN[:KIND] (or '*'), e.g. "
                                 "zepix alerts silence combined_v3:latency --for 2h --reason "
                                 "'exchange upgrade'")
            row = controls.silence(store, args.target, minutes(args.duration), args.reason,
                                   actor(), time.time())
            return _silenced(args, row)
        if action == "silences":
            show(args, _shown(store.silences(time.time())), SILENCE_COLUMNS)
            return 0
        if action == "unsilence":
            if not (args.target or "").isdigit():
                raise ZepixError("alerts unsilence: give the silence id; see "
                                 "'zepix alerts silences'")
            row = controls.unsilence(store, int(args.target), actor(), time.time())
            if args.json:
                emit_json({**row, "removed": True})
            else:
                sys.stdout.write(f"silence {row['id']} of {row['plugin_id']} removed\n")
            return 0
        return _test(args, store)
    finally:
        store.close()


def _shown(rows: list[SilenceRow]) -> list[dict[str, object]]:
    return [{**r, "kind": r["kind"] or "*"} for r in rows]


def _silenced(args: argparse.Namespace, row: SilenceRow) -> int:
    if args.json:
        emit_json(row)
    else:
        until = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(row["until"]))
        sys.stdout.write(f"silence {row['id']}: alerts of {row['plugin_id']}"
                         f"{':' + row['kind'] if row['kind'] else ''} are recorded, not "
                         f"delivered, until {until}; end it with 'zepix alerts unsilence "
                         f"{row['id']}'\n")
    return 0


def _test(args: argparse.Namespace, store: Store) -> int:
    host = live_host(store)
    if host is None:
        raise ZepixError("alerts test: no host is running on this database; the sinks "
                         "(log, webhook, Alertmanager, Telegram) live in a running host: "
                         "start 'zepix run' and try again")
    request_id = store.add_request("*", controls.ALERTS_TEST, actor(), time.time())
    row = await_request(store, request_id, max(0.0, args.wait))
    if row["applied_at"] is None:
        sys.stderr.write(f"zepix: the host (pid {host['pid']}) did not finish the test "
                         f"within {args.wait:g}s (request {request_id})\n")
        return 1
    results = json.loads(row["outcome"] or "[]")
    if args.json:
        emit_json(results)
    else:
        for r in results:
            state = "delivered" if r["delivered"] else f"NOT delivered: {r['error']}"
            sys.stdout.write(f"{r['sink']}: {state}\n")
    return 0 if all(r["delivered"] for r in results) else 1
