"""``zepix run``, ``plugins``, ``history`` and ``self-test``."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from zepix_core.app.run import run, source_for
from zepix_core.app.stopping import Stopper
from zepix_core.cli.commands.base import (
    Command,
    filter_args,
    host_from,
    plugin_filter,
    show,
    store_from,
    view_host,
)
from zepix_core.cli.render import emit_json, iso, table, wrapped
from zepix_core.contract.errors import PluginError, ZepixError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import PluginState
from zepix_core.contract.process import adopt_orphans, child_pids, end_children
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.execution.runner import call
from zepix_core.host.facade import of
from zepix_core.loading.discovery import load_object, unmarked_hooks, unmarked_warning
from zepix_core.loading.paths import store_dir
from zepix_core.storage import Store
from zepix_core.views.records import history_row, history_rows, plugin_row, plugin_rows, timeline
from zepix_core.views.status import no_host_line, running_host

PLUGIN_COLUMNS = ("id", "distribution", "version", "state", "reason")


# -- run -------------------------------------------------------------------
def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true",
                   help="one full monitoring round, then shut down cleanly")
    p.add_argument("--strict", action="store_true",
                   help="with --once: exit 1 unless every enabled plugin was ACTIVE and "
                        "its round HEALTHY (for scripts and CI)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--interval", type=float, metavar="S",
                   help="seconds between monitoring rounds (default: host.interval, 30)")
    p.add_argument("--source", metavar="NAME",
                   help="market source (entry point group zepix.sources; default: [market] "
                        "source, else replay; bundled: replay, csv)")
    p.add_argument("--source-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the source, e.g. path=bars.csv (repeatable)")


def _run(args: argparse.Namespace) -> int:
    if args.interval is not None and not (math.isfinite(args.interval) and args.interval > 0):
        raise ZepixError("run: --interval must be > 0 seconds, and finite")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration >= 0):
        raise ZepixError("run: --duration must be >= 0 seconds, and finite")
    options = {}
    for item in args.source_option:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ZepixError(f"run: --source-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value
    if args.strict and not args.once:
        raise ZepixError("run: --strict goes with --once (it judges that one round)")
    host = host_from(args)
    began = time.time()
    try:
        source = source_for(host, args.source, options, once=args.once, interval=args.interval)
    except BaseException:
        host.store.close()
        raise
    stopper = Stopper(host.clocks.stop, float(host.config.host["shutdown_timeout"]),
                      reload=of(host).request_reload)
    stopper.install()
    adopt_orphans()
    before = child_pids()  # a caller's own children (main() in process) are not ours to end
    out = sys.stdout

    states: dict[str, tuple[str, str | None]] = {}

    def started(slots: list[PluginSlot]) -> None:
        states.update((s.plugin_id, (s.state.value, s.reason)) for s in slots)
        for crashed in host.recovered:
            out.write(f"recovered from a crash: the host pid {crashed['pid']} started "
                      f"{iso(crashed['started_at'])} ended without shutting down; its open "
                      "activations were closed\n")
        table([plugin_row(s) for s in slots], PLUGIN_COLUMNS, out=out)
        schedule = _schedule(args, host.interval(args.interval))
        out.write(f"\n{len(host.active())} active; {schedule}\n"
                  f"database {host.store.path}; plugin store {store_dir(host.store.path)}\n")
        out.flush()

    def each_round(summary: str) -> None:
        out.write(summary + "\n")
        out.flush()

    def services(notes: list[str]) -> None:
        for note in notes:
            out.write(note + "\n")
        out.flush()

    try:
        try:
            run(host, source, once=args.once, duration=args.duration, interval=args.interval,
                on_start=started, on_round=each_round, on_services=services,
                between=stopper.install, on_stopping=stopper.arm)
        finally:
            stopper.arm()  # a crash too: the process ends within the timeout
            end_children(keep=before)  # what in-process plugins started ends with us
        out.write("shut down cleanly\n")
        if args.strict:
            return _strict(host.store.path, states, began)
        return 0
    finally:
        stopper.close()  # returned in time; the console script exits now (cli.main.entry)


def _strict(path: Path, states: Mapping[str, tuple[str, str | None]], since: float) -> int:
    """--strict: one line per plugin that was not ACTIVE, or whose round was not
    HEALTHY; exit status 1 if there is one."""
    store = Store(path)
    try:
        health = {str(s["plugin_id"]): str(s["status"]) for s in store.latest_snapshots()
                  if float(s["timestamp"]) >= since}
    finally:
        store.close()
    bad = []
    for pid, (state, reason) in sorted(states.items()):
        if state == "INACTIVE":  # disabled in the config on purpose
            continue
        if state != "ACTIVE":
            bad.append(f"{pid}: {state}" + (f" ({reason})" if reason else ""))
        elif health.get(pid) != "HEALTHY":
            bad.append(f"{pid}: ACTIVE but {health.get(pid) or 'no health round'}")
    for line in bad:
        sys.stderr.write(f"strict: {line}\n")
    return 1 if bad else 0


def _schedule(args: argparse.Namespace, period: float) -> str:
    """What the run will do, as the operator asked for it."""
    if args.once:
        return "one monitoring round, then shut down"
    if args.duration is not None:
        return f"monitoring every {period:g}s for {args.duration:g}s (Ctrl-C stops)"
    return f"monitoring every {period:g}s (Ctrl-C stops)"


# -- plugins ---------------------------------------------------------------
def _plugins_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID",
                   help="show everything about one plugin: full reason, distribution, entry "
                        "point, hooks, state history and last health")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when any plugin is REJECTED or FAILED (for scripts and CI)")


def _plugins(args: argparse.Namespace) -> int:
    host = host_from(args) if args.check else view_host(args)  # a check refuses a bad file
    try:
        slots = host.discover()
        if args.plugin_id and args.plugin_id not in {s.plugin_id for s in slots}:
            known = ", ".join(sorted({s.plugin_id for s in slots})) or "none"
            raise ZepixError(f"plugins: no plugin '{args.plugin_id}' is installed "
                             f"(installed: {known})")
        running = {r["plugin_id"] for r in host.store.open_activations()}
        latest = {r["plugin_id"]: r for r in host.store.latest_snapshots()}
        rows = plugin_rows(slots, host.store.statuses(), running, latest,
                           pauses=host.store.pauses())
        live = running_host(host.store) is not None
    finally:
        host.release()
    if not live:  # no host has loaded them: lint them here, as a host would
        lints = _hook_lint(slots)
        rows = [{**r, "reason": "; ".join(filter(None, (r["reason"], lints[r["id"]])))}
                if lints.get(r["id"]) else r for r in rows]
    if args.plugin_id:
        [row] = [r for r in rows if r["id"] == args.plugin_id]
        detail = _plugin_detail(host.store, row)
        if getattr(args, "json", False):
            emit_json(detail)
        else:
            _show_detail(detail)
    elif getattr(args, "json", False):
        show(args, rows, PLUGIN_COLUMNS)
    else:
        if not live:
            sys.stdout.write(no_host_line(host.store))
        table([_offline(r) if not live else r for r in rows], PLUGIN_COLUMNS)
    broken = [r for r in rows if r["state"] in (PluginState.REJECTED.value,
                                                 PluginState.FAILED.value)]
    return 1 if args.check and broken else 0


def _hook_lint(slots: list[PluginSlot]) -> dict[str, str]:
    """The host's warning for methods that look like hooks but lack ``@hookimpl``, per
    plugin that loads (one that does not is reported by the host as it is)."""
    found = {}
    for slot in slots:
        if slot.state is not PluginState.DISCOVERED:
            continue
        try:
            obj = load_object(slot.record)
        except PluginError:
            continue
        warning = unmarked_warning(unmarked_hooks(obj))
        if warning:
            found[slot.plugin_id] = warning
    return found


def _offline(row: dict[str, object]) -> dict[str, object]:
    """A table row while no host runs: ACTIVE would claim a live plugin."""
    if row["state"] == PluginState.ACTIVE.value:
        return {**row, "state": "READY (no host)"}
    return row


def _range(setting: Mapping[str, Any]) -> str | None:
    if setting.get("choices"):
        return " | ".join(str(c) for c in setting["choices"])
    low, high = setting.get("min"), setting.get("max")
    if low is None and high is None:
        return None
    return f"{'' if low is None else f'{low:g} <= '}x{'' if high is None else f' <= {high:g}'}"


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
    stream.write("\nsettings (declared by the plugin; set them in [plugins.ID])\n")
    if detail["settings"]:
        table([{**s, "range": _range(s)} for s in detail["settings"]],
              ("name", "type", "value", "default", "range", "description"), out=stream)
    else:
        stream.write("  (none declared: the plugin's table is passed on unchecked)\n")
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
    filter_args(p)
    p.add_argument("--limit", type=int, default=200, help="at most this many rows (200)")
    p.add_argument("--events", action="store_true",
                   help="one timeline: activations, deactivations and events (crashes, "
                        "restarts, give-ups, breaker, operator requests)")


def _history(args: argparse.Namespace) -> int:
    store = store_from(args)
    plugin_id = plugin_filter(args)
    if args.events:
        from zepix_core.cli.commands.supervision import TIMELINE_COLUMNS

        show(args, timeline(store, plugin_id, args.limit, args.since), TIMELINE_COLUMNS)
        return 0
    rows = history_rows(store, plugin_id, args.limit, args.since)
    show(args, rows, ("plugin_id", "version", "activated_at", "deactivated_at",
                      "activation_reason", "deactivation_reason"))
    return 0


# -- self-test -------------------------------------------------------------
def _self_test_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _self_test(args: argparse.Namespace) -> int:
    from zepix_core.health.shapes import parse_self_test

    host = view_host(args)
    try:
        slots = [s for s in host.discover() if args.plugin_id in (None, s.plugin_id)]
        if args.plugin_id and not slots:
            raise ZepixError(f"self-test: no plugin '{args.plugin_id}' is installed; "
                             "see 'zepix plugins'")
        rows = [_skipped(slot) if not slot.config.enabled and not args.plugin_id
                else _one_self_test(slot, parse_self_test) for slot in slots]
    finally:
        host.release()
    show(args, rows, ("plugin_id", "passed", "detail"))
    tested = [r for r in rows if not r.get("skipped")]
    return 0 if tested and all(r["passed"] for r in tested) else 1


def _skipped(slot: PluginSlot) -> dict[str, object]:
    """A plugin disabled on purpose is not a failure: said, not tested."""
    return {"plugin_id": slot.plugin_id, "passed": None, "skipped": True, "checks": [],
            "detail": "skipped: disabled in config (enabled = false)"}


def _one_self_test(slot: PluginSlot, parse: Any) -> dict[str, Any]:
    row: dict[str, object] = {"plugin_id": slot.plugin_id, "passed": False, "checks": []}
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
            "operator requests) as one timeline, newest first. --since keeps what ran or\n"
            "happened since then.\n\n"
            "  zepix history --plugin combined_v3 --since 2026-11-30T08:00:00Z --events",
            _history, _history_args, listing=True),
    Command("self-test", "run plugins' self tests; exit 0 only if all pass",
            "Load each plugin (without activating it) and call its self_test hook. A plugin\n"
            "disabled in config (enabled = false) is skipped and listed as skipped, unless\n"
            "named as ID.",
            _self_test, _self_test_args),
]
