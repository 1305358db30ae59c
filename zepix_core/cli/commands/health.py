"""``zepix health`` and ``zepix alerts``: what the monitor last saw and what it raised."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from zepix_core.cli.commands.base import Command, show, store_from
from zepix_core.cli.render import table

HEALTH_COLUMNS = ("plugin_id", "status", "age", "signals", "orders", "win_rate",
                  "win_rate_host", "accuracy_host", "orders_h_host", "pnl_host",
                  "p95_ms", "err_rate", "rss_mb", "cpu", "breaker", "reasons")
HOST_NOTE = ("rss/cpu marked (host) are of the whole host process, shared by in-process "
             "plugins; not attributable to one plugin\n")
MEASURED_NOTE = ("*_host columns are measured by the host from the fills the bot reported "
                 "(win rate of closed round trips, signal accuracy over accuracy_horizon "
                 "bars, orders per hour, realised P&L); the others are the plugin's own\n")


def age(seconds: float) -> str:
    """``42s``, ``7m``, ``3h``, ``2d``: how long ago a snapshot was taken."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{max(0.0, seconds):.0f}s"


def health_row(snap: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """A snapshot flattened for the dashboard table; ``age`` is relative to ``now``."""
    res = snap.get("resources") or {}
    rss = res.get("rss_bytes")
    scope = "" if res.get("scope") == "process" else " (host)"
    rate = snap.get("win_rate")
    host = snap.get("host_measured") or {}
    return {
        **snap,
        "age": age((now if now is not None else time.time()) - snap["timestamp"]),
        "signals": snap.get("signals_processed"), "orders": snap.get("orders_placed"),
        "win_rate": None if rate is None else f"{rate:.0%}",
        "win_rate_host": _share(host.get("win_rate")),
        "accuracy_host": _share(host.get("signal_accuracy")),
        "orders_h_host": host.get("orders_per_hour"),
        "pnl_host": host.get("realised_pnl") if host.get("fills") else None,
        "p95_ms": (snap.get("latency_ms") or {}).get("p95"),
        "err_rate": f"{snap.get('error_rate', 0.0):.1%}",
        "rss_mb": None if rss is None else f"{rss / 2**20:.0f}{scope}",
        "cpu": None if res.get("cpu_percent") is None else f"{res['cpu_percent']:.0f}%{scope}",
        "reasons": "; ".join(snap.get("reasons") or []) or None,
    }


def _health_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--watch", type=float, nargs="?", const=2.0, metavar="S",
                   help="redraw every S seconds (default 2) until Ctrl-C")


def _health(args: argparse.Namespace) -> int:
    store = store_from(args)
    while True:
        snaps = [s for s in store.latest_snapshots()
                 if args.plugin_id in (None, s["plugin_id"])]
        if args.watch is None or args.json:
            show(args, [health_row(s) for s in snaps], HEALTH_COLUMNS, document=snaps)
            if not args.json and any(_shared(s) for s in snaps):
                sys.stdout.write("\n" + HOST_NOTE)
            if not args.json and any((s.get("host_measured") or {}).get("accuracy_samples")
                                     or (s.get("host_measured") or {}).get("fills")
                                     for s in snaps):
                sys.stdout.write(MEASURED_NOTE)
            return 0
        sys.stdout.write("\x1b[2J\x1b[H")  # clear the terminal, cursor home
        sys.stdout.write(f"zepix health  {time.strftime('%H:%M:%S')}  "
                         f"(every {args.watch:g}s, Ctrl-C stops)\n\n")
        table([health_row(s) for s in snaps], HEALTH_COLUMNS)
        sys.stdout.write("\n" + HOST_NOTE)
        sys.stdout.flush()
        time.sleep(args.watch)


def _share(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"


def _shared(snap: dict[str, Any]) -> bool:
    return bool((snap.get("resources") or {}).get("scope") == "host")


def _alerts_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--unresolved", action="store_true", help="only alerts still firing")
    p.add_argument("--limit", type=int, default=100, help="at most this many (100)")


def alert_row(row: dict[str, Any], deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "plugin_id": row["plugin_id"], "level": row["level"], "message": row["message"],
        "timestamp": row["fired_at"], "resolved": bool(row["resolved"]),
        "kind": row["kind"], "resolved_at": row["resolved_at"],
        "repeats": row["repeats"], "last_sent_at": row["last_sent_at"],
        "delivered": all(d["delivered"] for d in deliveries) if deliveries else None,
        "deliveries": [{"sink": d["sink"], "delivered": bool(d["delivered"]),
                        "error": d["error"], "timestamp": d["ts"]} for d in deliveries],
    }


def _alerts(args: argparse.Namespace) -> int:
    store = store_from(args)
    found = store.alerts(plugin_id=args.plugin_id, unresolved=args.unresolved,
                         limit=args.limit)
    sent = store.deliveries([r["id"] for r in found])
    rows = [alert_row(r, sent[r["id"]]) for r in found]
    show(args, rows, ("timestamp", "plugin_id", "level", "kind", "message", "repeats",
                      "resolved", "delivered"))
    return 0


COMMANDS = [
    Command("health", "latest health snapshot per plugin (a dashboard)",
            "The newest snapshot the monitor wrote for each plugin: status, work metrics,\n"
            "latency percentiles, error rate, resources and the reasons for the status.\n"
            "Resource figures of in-process plugins are of the whole host process.",
            _health, _health_args, listing=True),
    Command("alerts", "recent alerts, newest first",
            "Alerts the monitor raised, deduplicated per plugin and condition, with their\n"
            "resolved state.", _alerts, _alerts_args, listing=True),
]
