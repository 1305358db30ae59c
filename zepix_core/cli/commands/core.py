"""``zepix run``, ``plugins``, ``history`` and ``self-test``."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from zepix_core.app.records import plugin_row
from zepix_core.app.run import run, source_for
from zepix_core.cli.commands.base import Command, host_from, show, store_from
from zepix_core.cli.render import table
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import PluginState
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.runner import call

PLUGIN_COLUMNS = ("id", "distribution", "version", "state", "reason")


# -- run -------------------------------------------------------------------
def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true",
                   help="one full monitoring round, then shut down cleanly")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--interval", type=float, metavar="S",
                   help="seconds between monitoring rounds (default: host.interval, 30)")
    p.add_argument("--source", metavar="NAME",
                   help="market source (entry point group zepix.sources; default: [market] "
                        "source, else replay; bundled: replay, csv)")
    p.add_argument("--source-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the source, e.g. path=bars.csv (repeatable)")


def _run(args: argparse.Namespace) -> int:
    if args.interval is not None and args.interval <= 0:
        raise ZepixError("run: --interval must be > 0 seconds")
    options = {}
    for item in args.source_option:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ZepixError(f"run: --source-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value
    host = host_from(args)
    try:
        source = source_for(host, args.source, options, once=args.once, interval=args.interval)
    except BaseException:
        host.store.close()
        raise
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

    run(host, source, once=args.once, duration=args.duration, interval=args.interval,
        on_start=started, on_round=each_round)
    out.write("shut down cleanly\n")
    return 0


# -- plugins ---------------------------------------------------------------
def _plugins(args: argparse.Namespace) -> int:
    host = host_from(args)
    try:
        slots = host.discover()
        recorded = host.store.statuses()
        running = {r["plugin_id"] for r in host.store.open_activations()}
        rows = []
        for slot in slots:
            if slot.state is PluginState.DISCOVERED:  # resolved: a host activates it
                slot.state = PluginState.ACTIVE
            row = plugin_row(slot)
            last = recorded.get(slot.plugin_id)
            # Failures seen only at run time (activate raised, restarts exhausted)
            # stay visible until the version changes or an operator restarts it.
            if (last and last["state"] == PluginState.FAILED.value
                    and last["version"] == slot.version and slot.state is PluginState.ACTIVE):
                row["state"], row["reason"] = last["state"], last["reason"]
            row["running"] = slot.plugin_id in running
            rows.append(row)
    finally:
        host.release()
    show(args, rows, PLUGIN_COLUMNS)
    return 0


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
            "live host has it active now. Runtime failures of the last run stay visible.",
            _plugins, listing=True),
    Command("history", "activation history, newest first",
            "Every activation and deactivation with its version and reason. --events\n"
            "adds what happened in between (crashes, restarts, give-ups, breaker changes,\n"
            "operator requests) as one timeline, newest first.",
            _history, _history_args, listing=True),
    Command("self-test", "run plugins' self tests; exit 0 only if all pass",
            "Load each plugin (without activating it) and call its self_test hook.",
            _self_test, _self_test_args),
]
