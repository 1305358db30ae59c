"""``zepix config show|get|set``: the config in force, and edits by dotted key."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from zepix_core.cli.commands.base import (
    Command,
    actor,
    await_request,
    live_host,
    show,
    store_from,
)
from zepix_core.cli.render import emit_json
from zepix_core.contract.api import API_VERSION
from zepix_core.contract.errors import ConfigError, ZepixError
from zepix_core.contract.redact import redact_text
from zepix_core.contract.terminal import printable
from zepix_core.host.host import Host
from zepix_core.loading.config import HOST_PLUGIN_KEYS, Config, load_lenient
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.loading.edit import (
    edit_value,
    effective,
    lookup,
    parse_value,
    plugin_defaults,
    split_key,
)
from zepix_core.loading.paths import config_path
from zepix_core.loading.settings import Setting, apply_settings
from zepix_core.loading.tables import PLUGIN_ID, hidden, redact
from zepix_core.storage.configchanges import RELOAD

#: Who made a change, in the history: the command line.
BY = "cli"
#: Seconds ``config reload`` waits for the running host's answer.
WAIT = 10.0


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("show", "get", "set", "unset", "history", "reload"),
                   default="show",
                   help="show (default): the config in force; get KEY; set KEY VALUE; unset KEY: "
                        "remove it from the file (back to its default); history: every "
                        "change, newest first; reload: ask the running host to check its file now")
    p.add_argument("key", nargs="?", metavar="KEY",
                   help="dotted key, e.g. plugins.combined_v3.risk_per_trade")
    p.add_argument("--running", action="store_true",
                   help="show/get: the config the running host uses now (defaults in, secrets "
                        "hidden), with file_valid and last_reload")
    p.add_argument("value", nargs="?", metavar="VALUE",
                   help="a TOML value (true, 3, 0.02, \"text\", [\"a\"]), else a string")


def _flat(prefix: str, value: object) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [pair for name, item in value.items()
                for pair in _flat(f"{prefix}.{_quoted(name)}" if prefix else _quoted(name), item)]
    return [(prefix, value)]


def _quoted(name: str) -> str:
    return f'"{name}"' if "." in name else name


def _text(value: object) -> str:
    return json.dumps(value, allow_nan=False)


def _in_force(args: argparse.Namespace) -> dict[str, Any]:
    """The file's config with its defaults, secrets hidden; a key the file gets wrong is
    left out and named on stderr (the documented tool works on an invalid file)."""
    cfg, reasons = load_lenient(config_path(args.config))
    for reason in reasons:
        sys.stderr.write(f"zepix: warning: {reason} (left out; a start would refuse the "
                         "file; fix it with 'zepix config set' or 'unset')\n")
    return redact(effective(cfg))


def _running(args: argparse.Namespace) -> dict[str, Any] | None:
    """The config the host running on this database published, or None (said on stderr)."""
    store = store_from(args)
    try:
        host = live_host(store)
        document = None if host is None else store.config_in_force(host["host_id"])
    finally:
        store.close()
    if document is None:
        sys.stderr.write("zepix: config: no host is running on this database; "
                         "'zepix config show' shows the file\n")
    return document


def _show(args: argparse.Namespace) -> int:
    document = _running(args) if args.running else _in_force(args)
    if document is None:
        return 1
    if args.json:
        emit_json(document)
    else:
        sys.stdout.writelines(printable(f"{key} = {_text(value)}") + "\n"
                              for key, value in _flat("", document))
    return 0


def _get(args: argparse.Namespace) -> int:
    document = _running(args) if args.running else _in_force(args)
    if document is None:
        return 1
    parts = split_key(args.key)
    if parts[0] == "plugins" and len(parts) > 2 and PLUGIN_ID.match(parts[1]):
        document["plugins"].setdefault(parts[1], plugin_defaults(document))  # inherited
    try:
        value = lookup(document, parts)
    except KeyError:
        sys.stderr.write(f"zepix: config get: {args.key} is not set and has no default; "
                         "see 'zepix config show'\n")
        return 1
    if args.json:
        emit_json(value)
    else:
        sys.stdout.write(f"{printable(value if isinstance(value, str) else _text(value))}\n")
    return 0


def _set(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    remove = args.action == "unset"
    value = None if remove else parse_value(args.value)
    store = store_from(args)
    try:
        try:
            if not remove:
                _check_declared(args, path, value)
            done = edit_value(path, args.key, value, remove=remove)
        except ConfigError as exc:
            store.add_config_change(time.time(), args.key, None, hidden(args.key, value),
                                    "rejected", BY, reason=str(exc))
            raise
        old = hidden(args.key, done.old if done.old is not None else _default(args.key))
        new = hidden(args.key, done.new if not remove else _default(args.key))
        store.add_config_change(time.time(), args.key, old, new, "applied", BY,
                                reason=f"written to {done.target}")
    finally:
        store.close()
    for reason in done.remaining:
        sys.stderr.write(f"zepix: warning: the file still does not load: {reason}\n")
    if args.json:
        emit_json({"key": args.key, "old": old, "new": new, "file": str(path),
                   "remaining": list(done.remaining)})
    else:
        sys.stdout.write(f"{args.key}: {_text(old)} -> {_text(new)} in {path}\n")
    return 0


def _check_declared(args: argparse.Namespace, path: Path, value: object) -> None:
    """``plugins.ID.NAME`` that is not a host key is the plugin's own setting: checked
    against what the installed plugin declares (``plugin_settings``), as a start would,
    so a value that would get the plugin REJECTED is refused before it is written."""
    parts = split_key(args.key)
    if len(parts) != 3 or parts[0] != "plugins" or parts[2] in HOST_PLUGIN_KEYS:
        return
    declared = _declared(args, parts[1])
    if declared is None:
        return
    try:
        apply_settings(declared, {parts[2]: value}, where=str(path), plugin_id=parts[1],
                       host_keys=HOST_PLUGIN_KEYS)
    except ConfigError as exc:
        if hidden(args.key, value) == value:
            raise
        raise ConfigError(str(exc).replace(repr(value), "***")) from None  # a secret


def _declared(args: argparse.Namespace, plugin_id: str) -> tuple[Setting, ...] | None:
    """The settings the version of ``plugin_id`` a start would load declares (None: not
    installed, or it declares none). Only that plugin is loaded, in this process."""
    installed = {r.plugin_id for r in enumerate_plugins()}
    if plugin_id not in installed:
        return None
    cfg, _ = load_lenient(config_path(args.config))
    tables = {pid: {**cfg.plugins.get(pid, {}), "enabled": False} for pid in installed}
    hosts = {k: v for k, v in cfg.plugins.get(plugin_id, {}).items() if k in HOST_PLUGIN_KEYS}
    tables[plugin_id] = {**hosts, "enabled": True}  # its own keys are what is checked
    cfg = replace(cfg, plugins=tables)
    store = store_from(args)
    host = Host(cfg, store, api_version=API_VERSION)
    try:
        slot = next((s for s in host.discover() if s.plugin_id == plugin_id), None)
        return None if slot is None else slot.settings
    finally:
        host.release()
        store.close()


def _default(key: str) -> object:
    """The default in force for ``key`` when the file does not set it (None: none)."""
    try:
        return lookup(effective(Config()), split_key(key))
    except (KeyError, ConfigError):
        return None


HISTORY_COLUMNS = ("timestamp", "key", "old", "new", "status", "by", "reason")


def _history(args: argparse.Namespace) -> int:
    store = store_from(args)
    try:
        rows = store.config_changes()
    finally:
        store.close()
    rows = [{**row, "old": hidden(row["key"], row["old"]), "new": hidden(row["key"], row["new"]),
             "reason": redact_text(row["reason"] or "") or row["reason"]} for row in rows]
    shown = [{**row, "old": _text(row["old"]), "new": _text(row["new"])} for row in rows]
    show(args, shown, HISTORY_COLUMNS, document=rows)
    return 0


def _reload(args: argparse.Namespace) -> int:
    store = store_from(args)
    try:
        host = live_host(store)
        if host is None:
            sys.stderr.write("zepix: config reload: no host is running on this database; "
                             "'zepix run' reads the file at start\n")
            return 1
        request_id = store.add_request("*", RELOAD, actor(), time.time())
        row = await_request(store, request_id, WAIT)
    finally:
        store.close()
    if args.json:
        emit_json({**row, "host_pid": host["pid"]})
    else:
        sys.stdout.write(f"config reload (request {row['id']}): "
                         f"{row['outcome'] or 'requested; the host checks within 2 s'}\n")
    return 0


def _config(args: argparse.Namespace) -> int:
    wants_key = args.action in ("get", "set", "unset")
    if wants_key and not args.key:
        raise ZepixError(f"config {args.action}: name a KEY (e.g. host.interval)")
    if args.action == "set" and args.value is None:
        raise ZepixError("config set: give a VALUE after the KEY")
    if args.running and args.action not in ("show", "get"):
        raise ZepixError(f"config {args.action}: --running is for show and get")
    if not wants_key and args.key:
        raise ZepixError(f"config {args.action}: takes no KEY")
    return {"show": _show, "get": _get, "set": _set, "unset": _set,
            "history": _history, "reload": _reload}[args.action](args)


COMMANDS = [
    Command("config", "the config in force; get and set keys by dotted name",
            "show: the file's config, every default included (secrets as ***); --running:\n"
            "the config the running host uses now. get KEY: one value.\n"
            "set KEY VALUE: validate the whole resulting file with the checks of a start,\n"
            "then write it atomically, comments and layout kept; a running host applies it.\n"
            "unset KEY: remove a key from the file (set and unset can repair a file a start\n"
            "would refuse, step by step).\n"
            "history: every change applied, recorded or rejected, newest first, by whom.\n"
            "reload: ask the running host to check its config file now.",
            _config, _arguments, listing=True),
]
