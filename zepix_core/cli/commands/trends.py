"""``zepix health ID --hours H`` and ``zepix health --incidents``: health over time."""

from __future__ import annotations

import argparse
import sys
import time

from zepix_core.cli.commands.base import show
from zepix_core.cli.render import emit_json, iso, sparkline
from zepix_core.contract.errors import ZepixError
from zepix_core.storage import Store
from zepix_core.views.series import check_hours, incidents, series

INCIDENT_COLUMNS = ("plugin_id", "worst", "started_at", "ended_at", "duration", "rounds",
                    "statuses")


def _hours(args: argparse.Namespace) -> float:
    try:
        return check_hours(args.hours)
    except ValueError as exc:
        raise ZepixError(f"health: --{exc}") from None


def show_series(args: argparse.Namespace, store: Store) -> int:
    """A plugin's p95 and error rate over the last hours: sparklines, or rows."""
    rows = series(store, args.plugin_id, _hours(args), time.time())
    if args.json:
        emit_json(rows)
        return 0
    out = sys.stdout
    if not rows:
        out.write(f"{args.plugin_id}: no snapshot in the last {args.hours:g}h\n")
        return 0
    p95 = [r["p95_ms"] for r in rows]
    errors = [r["error_rate"] for r in rows]
    top = max((v for v in p95 if v is not None), default=None)
    out.write(f"{args.plugin_id}: {len(rows)} snapshots, {iso(rows[0]['timestamp'])} .. "
              f"{iso(rows[-1]['timestamp'])}\n")
    out.write(f"p95 ms   {sparkline(p95)}  max {'-' if top is None else f'{top:.3g}'}\n")
    out.write(f"errors   {sparkline(errors)}  max {max(e or 0.0 for e in errors):.1%}\n")
    bad = sum(1 for r in rows if r["status"] != "HEALTHY")
    out.write(f"status   {bad} of {len(rows)} snapshots not HEALTHY; now {rows[-1]['status']}\n")
    return 0


def show_incidents(args: argparse.Namespace, store: Store) -> int:
    found = incidents(store, _hours(args), time.time())
    rows = [{**p, "duration": f"{p['duration_s']:.0f}s", "statuses": ",".join(p["statuses"]),
             "ended_at": p["ended_at"] if p["ended_at"] is not None else "ongoing"}
            for p in found]
    if args.json:
        emit_json(found)
    else:
        show(args, rows, INCIDENT_COLUMNS)
    return 0



