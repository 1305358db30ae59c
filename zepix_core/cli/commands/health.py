"""``zepix health`` and ``zepix alerts``: what the monitor last saw and what it raised."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping

from zepix_core.cli.commands import alert_actions
from zepix_core.cli.commands.base import Command, filter_args, plugin_filter, show, store_from
from zepix_core.cli.render import table
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.stdio import terminal_control
from zepix_core.storage import Store
from zepix_core.views.records import alert_rows
from zepix_core.views.status import no_host_line, running_host

HEALTH_COLUMNS = ("plugin_id", "version", "status", "age", "uptime", "signals", "orders",
                  "win_rate", "win_rate_host", "accuracy_host", "orders_h_host", "pnl_host",
                  "p95_ms", "err_rate", "critical", "rss_mb", "cpu", "breaker", "reasons")
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


def health_row(snap: Mapping[str, object], now: float | None = None) -> dict[str, object]:
    """A snapshot flattened for the dashboard table; ``age`` is relative to ``now``."""
    res = _table(snap.get("resources"))
    rss, cpu = _num(res.get("rss_bytes")), _num(res.get("cpu_percent"))
    scope = "" if res.get("scope") == "process" else " (host)"
    rate, err = _num(snap.get("win_rate")), _num(snap.get("error_rate", 0.0))
    host = _table(snap.get("host_measured"))
    reasons, up = snap.get("reasons"), _num(snap.get("uptime_seconds"))
    return {
        **snap,
        "age": age((now if now is not None else time.time()) - (_num(snap["timestamp"]) or 0.0)),
        "uptime": None if up is None else age(up),
        "signals": snap.get("signals_processed"), "orders": snap.get("orders_placed"),
        "win_rate": None if rate is None else f"{rate:.0%}",
        "win_rate_host": _share(_num(host.get("win_rate"))),
        "accuracy_host": _share(_num(host.get("signal_accuracy"))),
        "orders_h_host": host.get("orders_per_hour"),
        "pnl_host": host.get("realised_pnl") if host.get("fills") else None,
        "p95_ms": _table(snap.get("latency_ms")).get("p95"),
        "err_rate": None if err is None else f"{err:.1%}",
        "critical": snap.get("critical_errors"),
        "rss_mb": None if rss is None else f"{rss / 2**20:.0f}{scope}",
        "cpu": None if cpu is None else f"{cpu:.0f}%{scope}",
        "reasons": ("; ".join(str(r) for r in reasons) or None
                    if isinstance(reasons, list | tuple) else None),
    }


def _table(value: object) -> Mapping[str, object]:
    """A nested table of a snapshot (``resources``, ``anomaly``, ...), or an empty one."""
    return value if isinstance(value, Mapping) else {}


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _health_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--watch", type=float, nargs="?", const=2.0, metavar="S",
                   help="redraw every S seconds (default 2) until Ctrl-C")
    p.add_argument("--hours", type=float, metavar="H",
                   help="with ID: its p95 and error rate over the last H hours (1-168)")
    p.add_argument("--incidents", action="store_true",
                   help="periods of non-HEALTHY status over the last --hours (default 24)")


def _health(args: argparse.Namespace) -> int:
    store = store_from(args)
    if args.incidents or args.hours is not None:
        return _over_time(args, store)
    while True:
        snaps = [s for s in store.latest_snapshots()
                 if args.plugin_id in (None, s["plugin_id"])]
        if args.watch is None or args.json:
            live = running_host(store) is not None
            if not live and not args.json:
                sys.stdout.write(no_host_line(store))
            show(args, [health_row(s) if live else _offline(health_row(s)) for s in snaps],
                 HEALTH_COLUMNS, document=[{**s, "running": live} for s in snaps])
            if not args.json and any(_shared(s) for s in snaps):
                sys.stdout.write("\n" + HOST_NOTE)
            if not args.json and any((s.get("host_measured") or {}).get("accuracy_samples")
                                     or (s.get("host_measured") or {}).get("fills")
                                     for s in snaps):
                sys.stdout.write(MEASURED_NOTE)
            if not args.json and args.plugin_id:
                for snap in snaps:
                    _bands(snap)
            return 0
        terminal_control("\x1b[2J\x1b[H")  # clear the terminal, cursor home
        sys.stdout.write(f"zepix health  {time.strftime('%H:%M:%S')}  "
                         f"(every {args.watch:g}s, Ctrl-C stops)\n\n")
        table([health_row(s) for s in snaps], HEALTH_COLUMNS)
        sys.stdout.write("\n" + HOST_NOTE)
        sys.stdout.flush()
        time.sleep(args.watch)


def _offline(row: dict[str, object]) -> dict[str, object]:
    """A table row while no host runs: the last status, not a live one."""
    return {**row, "status": f"no host (last {row['status']})"}


BAND_COLUMNS = ("metric", "value", "band", "center", "state")


def band_rows(snap: Mapping[str, object]) -> list[dict[str, object]]:
    """Each metric of a snapshot against the band its baseline allows."""
    anomaly = _table(snap.get("anomaly"))
    rows: list[dict[str, object]] = []
    for name, found in _table(anomaly.get("bands")).items():
        b = _table(found)
        low, high = _num(b.get("low")), _num(b.get("high"))
        learning = anomaly.get("warming_up") or low is None
        state = ("ANOMALY" if b.get("anomalous") else "learning" if learning
                 else f"out {b['rounds']} round(s)" if b.get("rounds") else "ok")
        band = None if low is None or high is None else f"{low:.3g} .. {high:.3g}"
        rows.append({"metric": name, "value": b.get("value"), "band": band,
                     "center": b.get("center"), "state": state})
    return rows


def _bands(snap: Mapping[str, object]) -> None:
    anomaly = _table(snap.get("anomaly"))
    sys.stdout.write(f"\n{snap['plugin_id']}: metrics against their baseline bands")
    if not anomaly or not anomaly.get("enabled"):
        sys.stdout.write(" (anomaly detection off)\n")
        return
    sys.stdout.write(f" ({anomaly.get('rounds_learned', 0)} rounds learned)\n")
    table(band_rows(snap), BAND_COLUMNS)
def _over_time(args: argparse.Namespace, store: Store) -> int:
    from zepix_core.cli.commands.trends import show_incidents, show_series

    if args.incidents:
        args.hours = 24.0 if args.hours is None else args.hours
        return show_incidents(args, store)
    if args.plugin_id is None:
        raise ZepixError("health: --hours needs a plugin ID (or --incidents for all)")
    return show_series(args, store)
def _share(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"


def _shared(snap: Mapping[str, object]) -> bool:
    return _table(snap.get("resources")).get("scope") == "host"


def _alerts_args(p: argparse.ArgumentParser) -> None:
    filter_args(p)
    p.add_argument("target", nargs="?", metavar="ARG",
                   help="after 'silence': PLUGIN[:KIND]; after 'unsilence': the silence id")
    p.add_argument("--unresolved", action="store_true", help="only alerts still firing")
    p.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    p.add_argument("--for", dest="duration", metavar="DURATION",
                   help="silence: how long (30m, 2h, 1d)")
    p.add_argument("--reason", default="", metavar="TEXT", help="silence: why")
    p.add_argument("--wait", type=float, default=60.0, metavar="S",
                   help="test: seconds to wait for the running host's sinks (60)")


def _alerts(args: argparse.Namespace) -> int:
    if args.plugin_id in alert_actions.ACTIONS and args.plugin_opt is None:
        return alert_actions.run(args)
    if args.target is not None:
        raise ZepixError(f"alerts: unexpected {args.target!r}; the actions are "
                         f"{', '.join(alert_actions.ACTIONS)}")
    store = store_from(args)
    rows = alert_rows(store, plugin_filter(args), args.unresolved, args.limit, args.since)
    show(args, rows, ("timestamp", "plugin_id", "level", "kind", "message", "repeats",
                      "resolved", "delivered"))
    return 0


COMMANDS = [
    Command("health", "latest health snapshot per plugin (a dashboard)",
            "The newest snapshot the monitor wrote for each plugin: status, work metrics,\n"
            "latency percentiles, error rate, resources and the reasons for the status.\n"
            "With ID, also each metric against the band of its learned baseline.\n"
            "Resource figures of in-process plugins are of the whole host process.",
            _health, _health_args, listing=True),
    Command("alerts", "recent alerts, newest first",
            "Alerts the monitor raised, deduplicated per plugin and condition, with their\n"
            "resolved state. --since keeps those fired, repeated or resolved since then.\n\n"
            "  zepix alerts --since 24h --plugin combined_v3\n\n"
            "Silences (an alert it covers is recorded, not delivered) and a delivery test:\n"
            "  zepix alerts silence combined_v3:latency --for 2h --reason 'exchange upgrade'\n"
            "  zepix alerts silence '*' --for 30m --reason 'maintenance'   every plugin\n"
            "  zepix alerts silences                 the active ones\n"
            "  zepix alerts unsilence 3              end silence 3 now\n"
            "  zepix alerts test                     a test alert through every sink; exit 1\n"
            "                                        when one did not deliver",
            _alerts, _alerts_args, listing=True),
]
