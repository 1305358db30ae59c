"""``zepix pause``, ``zepix resume`` and ``zepix breaker``: the operator's stop switches."""

from __future__ import annotations

import argparse
import sys
import time

from zepix_core.cli.commands.base import Command, actor, await_request, live_host, store_from
from zepix_core.cli.render import emit_json
from zepix_core.contract.errors import ZepixError
from zepix_core.supervision import controls


def _target_args(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help=f"the plugin to {verb}")
    p.add_argument("--all", action="store_true", dest="every",
                   help=f"{verb} every plugin this database knows")


def _pause_args(p: argparse.ArgumentParser) -> None:
    _target_args(p, "pause")
    p.add_argument("--reason", default="", metavar="TEXT",
                   help="why, for the history and the plugin rows (paused_reason)")


def _resume_args(p: argparse.ArgumentParser) -> None:
    _target_args(p, "resume")


def _report(args: argparse.Namespace, verb: str, changed: list[str]) -> int:
    store = store_from(args)
    try:
        pauses = store.pauses()
        host = live_host(store)
    finally:
        store.close()
    if args.json:
        emit_json({"changed": changed, "paused": sorted(pauses),
                   "reasons": {pid: row["reason"] for pid, row in pauses.items()},
                   "host_pid": host["pid"] if host else None})
        return 0
    done = ", ".join(changed) if changed else "nothing (already so)"
    when = (f"the running host (pid {host['pid']}) acts on it within 2 s" if host
            else "no host is running: the next 'zepix run' starts with it")
    sys.stdout.write(f"{verb}: {done}; {when}\n")
    if pauses:
        sys.stdout.write("paused now: " + ", ".join(
            f"{pid} ({row['reason']}, by {row['actor']})" for pid, row in pauses.items()) + "\n")
    else:
        sys.stdout.write("paused now: none\n")
    return 0


def _pause(args: argparse.Namespace) -> int:
    store = store_from(args)
    try:
        changed = controls.pause(store, args.plugin_id, args.reason, actor(), time.time(),
                                 every=args.every)
    finally:
        store.close()
    return _report(args, "paused", changed)


def _resume(args: argparse.Namespace) -> int:
    store = store_from(args)
    try:
        changed = controls.resume(store, args.plugin_id, actor(), time.time(),
                                  every=args.every)
    finally:
        store.close()
    return _report(args, "resumed", changed)


def _breaker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=sorted(controls.BREAKER_ACTIONS),
                   help="open: no bars until reset; reset: close it")
    p.add_argument("plugin_id", metavar="ID", help="the plugin whose breaker to change")
    p.add_argument("--wait", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the running host to apply it (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def _breaker(args: argparse.Namespace) -> int:
    store = store_from(args)
    try:
        if args.plugin_id not in controls.known_plugins(store):
            raise ZepixError(f"breaker: no plugin '{args.plugin_id}' is known to "
                             f"{store.path}; see 'zepix plugins'")
        host = live_host(store)
        if host is None:
            raise ZepixError("breaker: no host is running on this database; breakers live "
                             "in a running host and start CLOSED (use 'zepix pause ID' to "
                             "keep a plugin from trading across restarts)")
        request_id = store.add_request(args.plugin_id, controls.BREAKER_ACTIONS[args.action],
                                       actor(), time.time())
        row = await_request(store, request_id, max(0.0, args.wait))
    finally:
        store.close()
    applied = row["applied_at"] is not None
    if args.json:
        emit_json({**row, "applied": applied, "host_pid": host["pid"]})
    elif applied:
        sys.stdout.write(f"breaker {args.action} {args.plugin_id} (request {row['id']}): "
                         f"{row['outcome']}\n")
    else:
        sys.stdout.write(f"breaker {args.action} {args.plugin_id} requested (request "
                         f"{row['id']}); the host (pid {host['pid']}) applies it within one "
                         "round\n")
    return 0 if applied else 1


COMMANDS = [
    Command("pause", "stop a plugin trading now: no bars, no intents (kept across restarts)",
            "Pauses one plugin (or --all). A paused plugin gets no bars and none of its\n"
            "trade intents are returned; its health checks go on. The pause is kept in\n"
            "the database: a restarted host starts with the plugin paused. A running host\n"
            "acts on it within 2 seconds (HTTP and Telegram pauses act at once).\n\n"
            "  zepix pause --all --reason 'exchange outage'   stop trading now\n"
            "  zepix pause combined_v3 --reason 'drawdown'",
            _pause, _pause_args, listing=True),
    Command("resume", "undo a pause of one plugin or of all (--all)",
            "Resumes a paused plugin (or --all): it gets bars again from the next feed.\n"
            "Each pause and resume is recorded with who asked: zepix history ID --events.",
            _resume, _resume_args, listing=True),
    Command("breaker", "force a plugin's circuit breaker open, or reset (close) it",
            "open: the running host stops sending bars to the plugin until 'zepix breaker\n"
            "reset ID' (no trial calls meanwhile). reset: close the breaker now. Needs a\n"
            "running host (breakers are not kept across restarts; a pause is). Exit 1 when\n"
            "the host did not apply it within --wait seconds.",
            _breaker, _breaker_args),
]
