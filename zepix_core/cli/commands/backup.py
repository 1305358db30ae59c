"""``zepix backup DIR`` (online) and ``zepix restore DIR`` (host stopped)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from zepix_core.cli.commands.base import Command, live_host, store_from
from zepix_core.cli.render import emit_json
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.config import load_config
from zepix_core.loading.paths import config_path, data_dir, db_path
from zepix_core.storage.backup import copy_database
from zepix_core.sync.manager import plugin_databases

MANIFEST = "zepix-backup.json"


def databases(args: argparse.Namespace) -> dict[str, Path]:
    """Backup name -> live path: ``zepix.db``, ``central.db`` (a SQLite ledger) and
    ``plugins/<id>/zepix_<id>.db`` for every plugin database."""
    found = {"zepix.db": db_path(args.db)}
    url = load_config(config_path(args.config)).sync().url
    if url.startswith("sqlite://"):
        found["central.db"] = Path(url[len("sqlite://"):])
    for pid, path in plugin_databases(data_dir() / "plugins").items():
        found[f"plugins/{pid}/{path.name}"] = path
    return found


def _dir_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", metavar="DIR", help="where the copies go (or come from)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def _backup(args: argparse.Namespace) -> int:
    target = Path(args.directory)
    if target.exists() and any(target.iterdir()):
        raise ZepixError(f"backup: {target} is not empty; give a new or empty directory")
    copied = []
    for name, path in databases(args).items():
        if path.is_file():
            size = copy_database(path, target / name)
            copied.append({"name": name, "source": str(path), "bytes": size})
    manifest = {"taken_at": time.time(), "databases": copied}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if args.json:
        emit_json(manifest)
    else:
        for row in copied:
            sys.stdout.write(f"{row['name']}: {row['bytes']} bytes from {row['source']}\n")
        sys.stdout.write(f"backup of {len(copied)} database(s) in {target}\n")
    return 0


def _restore(args: argparse.Namespace) -> int:
    source = Path(args.directory)
    manifest_file = source / MANIFEST
    if not manifest_file.is_file():
        raise ZepixError(f"restore: {source} holds no {MANIFEST}; give a directory "
                         "'zepix backup' wrote")
    store = store_from(args)
    try:
        host = live_host(store)
    finally:
        store.close()
    if host is not None:
        raise ZepixError(f"restore: a host (pid {host['pid']}) is running on this database; "
                         "stop it first (a restore replaces the files under it)")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    live = databases(args)
    restored = []
    for row in manifest["databases"]:
        name = row["name"]
        if name.startswith("plugins/"):
            target = data_dir() / name
        elif name in live:
            target = live[name]
        else:
            continue
        copy_database(source / name, target)
        restored.append({"name": name, "target": str(target)})
    if args.json:
        emit_json({"restored": restored, "taken_at": manifest["taken_at"]})
    else:
        for row in restored:
            sys.stdout.write(f"{row['name']} -> {row['target']}\n")
        sys.stdout.write(f"restored {len(restored)} database(s) from {source}\n")
    return 0


COMMANDS = [
    Command("backup", "a consistent copy of every database, while the host runs",
            "Copies zepix.db, the central ledger (when it is a SQLite file) and every plugin\n"
            "database into DIR with SQLite's online backup API: each copy is its database\n"
            "as of one moment, taken while the host goes on writing. DIR must be new or\n"
            "empty; DIR/zepix-backup.json lists what was copied.\n\n"
            "  zepix backup /var/backups/zepix/$(date +%F)",
            _backup, _dir_args),
    Command("restore", "put back the databases of a backup (the host stopped)",
            "Replaces zepix.db, the central ledger and the plugin databases with the copies\n"
            "in DIR (written by 'zepix backup'). Refused while a host runs on the database.",
            _restore, _dir_args),
]
