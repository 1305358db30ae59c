"""``zepix run``, ``plugins``, ``history`` and ``self-test``."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from zepix_core.cli.commands.base import Command, host_from, show, store_from
from zepix_core.cli.render import emit_json, iso, table, wrapped
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import PluginState
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.runner import call
from zepix_core.storage import Store

PLUGIN_COLUMNS = ("id", "distribution", "version", "state", "reason")


def plugin_row(slot: PluginSlot) -> dict[str, Any]:
    meta = slot.meta.as_dict() if slot.meta else {}
    return {
        "id": slot.plugin_id, "distribution": slot.record.distribution,
        "version": slot.version, "state": slot.state.value, "reason": slot.reason,
        "reported_version": meta.get("version"), "requires_api": meta.get("requires_api"),
        "requires": meta.get("requires", {}), "features": meta.get("features", []),
        "isolation": slot.config.isolation, "entry_point": slot.record.value,
    }


# -- run -------------------------------------------------------------------
def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true",
                   help="one full monitoring round, then shut down cleanly")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--interval", type=float, metavar="S",
                   help="seconds between monitoring rounds (default: host.interval, 30)")


def _run(args: argparse.Namespace) -> int:
    if args.interval is not None and args.interval <= 0:
        raise ZepixError("run: --interval must be > 0 seconds")
    host = host_from(args)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: host.clocks.stop.set())
    out = sys.stdout

    def started(slots: list[PluginSlot]) -> None:
        table([plugin_row(s) for s in slots], PLUGIN_COLUMNS, out=out)
        out.write(f"\n{len(host.active())} active; monitoring every "
                  f"{host.interval(args.interval):g}s (Ctrl-C stops)\n")
        out.flush()

    def each_round(summary: str) -> None:
        out.write(summary + "\n")
        out.flush()

    host.run(once=args.once, duration=args.duration, interval=args.interval,
             on_start=started, on_round=each_round)
    out.write("shut down cleanly\n")
    return 0


# -- plugins ---------------------------------------------------------------
def _plugins_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID",
                   help="show everything about one plugin: full reason, distribution, entry "
                        "point, hooks, state history and last health")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when any plugin is REJECTED or FAILED (for scripts and CI)")


def _plugins(args: argparse.Namespace) -> int:
    host = host_from(args)
    try:
        slots = host.discover()
        if args.plugin_id and args.plugin_id not in {s.plugin_id for s in slots}:
            known = ", ".join(sorted({s.plugin_id for s in slots})) or "none"
            raise ZepixError(f"plugins: no plugin '{args.plugin_id}' is installed "
                             f"(installed: {known})")
        rows = _plugin_rows(host.store, slots)
    finally:
        host.release()
    if args.plugin_id:
        [row] = [r for r in rows if r["id"] == args.plugin_id]
        detail = _plugin_detail(host.store, row)
        if getattr(args, "json", False):
            emit_json(detail)
        else:
            _show_detail(detail)
    else:
        show(args, rows, PLUGIN_COLUMNS)
    broken = [r for r in rows if r["state"] in (PluginState.REJECTED.value,
                                                 PluginState.FAILED.value)]
    return 1 if args.check and broken else 0


def _plugin_rows(store: Store, slots: list[PluginSlot]) -> list[dict[str, Any]]:
    recorded = store.statuses()
    running = {r["plugin_id"] for r in store.open_activations()}
    health = {r["plugin_id"]: r for r in store.latest_snapshots()}
    rows = []
    for slot in slots:
        row = plugin_row(slot)
        if slot.state is PluginState.DISCOVERED:  # resolved: a host activates it
            row["state"] = PluginState.ACTIVE.value
        last = recorded.get(slot.plugin_id)
        # Failures seen only at run time (activate raised, restarts exhausted)
        # stay visible until the version changes or an operator restarts it.
        if (last and last["state"] == PluginState.FAILED.value
                and last["version"] == slot.version and row["state"] == "ACTIVE"):
            row["state"], row["reason"] = last["state"], last["reason"]
        seen = health.get(slot.plugin_id)
        trouble = _health_trouble(seen) if seen and seen.get("version") == slot.version else None
        if trouble and row["state"] == PluginState.ACTIVE.value:
            row["reason"] = trouble if not row["reason"] else f"{row['reason']}; {trouble}"
        row["running"] = slot.plugin_id in running
        row["hooks"] = list(getattr(slot.runner, "hooks", []))
        rows.append(row)
    return rows


def _health_trouble(snapshot: Mapping[str, Any]) -> str | None:
    """What the last health snapshot holds against the plugin: its status if not HEALTHY,
    and hooks that answered in a wrong shape."""
    parts = []
    if snapshot.get("status") not in ("HEALTHY", None):
        reasons = "; ".join(str(r) for r in snapshot.get("reasons") or [])
        parts.append(f"last health {snapshot['status']}" + (f": {reasons}" if reasons else ""))
    for hook, errors in sorted((snapshot.get("hook_errors") or {}).items()):
        if isinstance(errors, Mapping) and errors.get("wrong_shape"):
            parts.append(f"{hook} answered in a wrong shape: {errors.get('last_message')}")
    return "; ".join(parts) or None


def _plugin_detail(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    pid = row["id"]
    snapshots = store.snapshots(pid, 1)
    return {**row,
            "history": [history_row(r) for r in store.history(pid, 10)],
            "last_health": snapshots[0] if snapshots else None}


def _show_detail(detail: Mapping[str, Any], out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    fields = [("plugin", detail["id"]), ("state", detail["state"]),
              ("distribution", f"{detail['distribution']} {detail['version']}"),
              ("entry point", detail["entry_point"]), ("isolation", detail["isolation"]),
              ("requires_api", detail["requires_api"]),
              ("requires", ", ".join(f"{k} {v}" for k, v in detail["requires"].items())
               or None),
              ("features", ", ".join(detail["features"]) or None),
              ("hooks", ", ".join(detail["hooks"]) or "(not loaded)"),
              ("running", "yes" if detail["running"] else "no"),
              ("reason", detail["reason"])]
    for name, value in fields:
        stream.write(wrapped(name, value))
    health = detail["last_health"]
    stream.write("\nlast health\n")
    if health is None:
        stream.write("  (no snapshot yet: a running host writes one every round)\n")
    else:
        p95 = (health.get("latency_ms") or {}).get("p95")
        for name, value in [("status", health.get("status")), ("at", iso(health.get("ts"))),
                            ("reasons", "; ".join(health.get("reasons") or []) or None),
                            ("p95 latency", None if p95 is None else f"{p95:.2f} ms"),
                            ("error rate", health.get("error_rate"))]:
            stream.write(wrapped(name, value, indent=2))
    stream.write("\nstate history (newest first)\n")
    table(detail["history"], ("version", "activated_at", "deactivated_at", "reason"),
          out=stream)


# -- history ---------------------------------------------------------------
def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--limit", type=int, default=200, help="at most this many rows (200)")
    p.add_argument("--events", action="store_true",
                   help="one timeline: activations, deactivations and events (crashes, "
                        "restarts, give-ups, breaker, operator requests)")


def history_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "plugin_id": row["plugin_id"], "version": row["version"],
        "activated_at": row["activated_at"], "deactivated_at": row["deactivated_at"],
        "reason": row["deactivation_reason"] or row["activation_reason"],
        "activation_reason": row["activation_reason"],
        "deactivation_reason": row["deactivation_reason"],
        "distribution": row["distribution"],
    }


def _history(args: argparse.Namespace) -> int:
    store = store_from(args)
    if args.events:
        from zepix_core.cli.commands.supervision import TIMELINE_COLUMNS, timeline

        show(args, timeline(store, args.plugin_id, args.limit), TIMELINE_COLUMNS)
        return 0
    rows = [history_row(r) for r in store.history(args.plugin_id, args.limit)]
    show(args, rows, ("plugin_id", "version", "activated_at", "deactivated_at",
                      "activation_reason", "deactivation_reason"))
    return 0


# -- self-test -------------------------------------------------------------
def _self_test_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _self_test(args: argparse.Namespace) -> int:
    from zepix_core.health.shapes import parse_self_test

    host = host_from(args)
    try:
        slots = [s for s in host.discover() if args.plugin_id in (None, s.plugin_id)]
        if args.plugin_id and not slots:
            raise ZepixError(f"self-test: no plugin '{args.plugin_id}' is installed; "
                             "see 'zepix plugins'")
        rows = [_one_self_test(slot, parse_self_test) for slot in slots]
    finally:
        host.release()
    show(args, rows, ("plugin_id", "passed", "detail"))
    return 0 if rows and all(r["passed"] for r in rows) else 1


def _one_self_test(slot: PluginSlot, parse: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"plugin_id": slot.plugin_id, "passed": False, "checks": []}
    if slot.runner is None:
        return {**row, "detail": f"{slot.state.value}: {slot.reason}"}
    result = call(slot.runner, "self_test", DEFAULT_DEADLINES["self_test"])
    if not result.ok:
        return {**row, "detail": f"self_test failed: {result.error}"}
    reply = parse(result.value)
    failed = [str(c["name"]) for c in reply.checks if not c["passed"]]
    detail = ("; ".join(reply.problems) or (f"failed: {', '.join(failed)}" if failed else
              f"{len(reply.checks)} check(s) passed" if reply.checks else
              ("passed" if reply.passed else "failed")))
    return {**row, "passed": reply.passed, "checks": [dict(c) for c in reply.checks],
            "detail": detail}


COMMANDS = [
    Command("run", "discover, activate and supervise plugins until interrupted",
            "Discover the installed plugins, resolve their versions, activate what is\n"
            "compatible, then feed market bars and run a monitoring round every interval.\n"
            "SIGINT or SIGTERM shuts down cleanly: plugins are deactivated in reverse\n"
            "dependency order and the history records why.\n\n"
            "  zepix run --once                  one round, then stop\n"
            "  zepix run --duration 60 --interval 5", _run, _run_args),
    Command("plugins", "list discovered plugins with their state and reason",
            "Discover and resolve every installed plugin without activating it. ACTIVE\n"
            "means compatible and enabled (a host activates it); 'running' says whether a\n"
            "live host has it active now. Runtime failures of the last run, and what its\n"
            "last health snapshot held against a plugin, stay visible.\n\n"
            "  zepix plugins                 the table (long reasons wrap)\n"
            "  zepix plugins combined_v3     everything about one plugin\n"
            "  zepix plugins --check         exit 1 if any plugin is REJECTED or FAILED",
            _plugins, _plugins_args, listing=True),
    Command("history", "activation history, newest first",
            "Every activation and deactivation with its version and reason. --events\n"
            "adds what happened in between (crashes, restarts, give-ups, breaker changes,\n"
            "operator requests) as one timeline, newest first.",
            _history, _history_args, listing=True),
    Command("self-test", "run plugins' self tests; exit 0 only if all pass",
            "Load each plugin (without activating it) and call its self_test hook.",
            _self_test, _self_test_args),
]
