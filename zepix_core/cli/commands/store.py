"""``zepix uninstall`` and ``zepix store prune``: taking versions out of the plugin store."""

from __future__ import annotations

import argparse
import sys

from zepix_core.cli.commands.base import Command, show, store_from
from zepix_core.cli.commands.versions import _operator
from zepix_core.cli.render import emit_json
from zepix_core.contract.errors import ZepixError
from zepix_core.versions.removal import Remover

PRUNE_COLUMNS = ("distribution", "version", "plugins", "action", "why")


def _uninstall_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", metavar="ID", help="the plugin id")
    p.add_argument("version", metavar="VERSION", help="a version in the store")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (times in ISO 8601 UTC)")


def _uninstall(args: argparse.Namespace) -> int:
    store = store_from(args)
    try:
        done = Remover(_operator(args, store)).uninstall(args.plugin_id, args.version)
    finally:
        store.close()
    if args.json:
        emit_json(done.as_dict())
    else:
        sys.stdout.write(f"{done.distribution} {done.version} removed from the store "
                         f"(plugins: {', '.join(done.plugins)}): {done.path}\n")
    return 0


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("prune",), help="prune: remove old versions")
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin's versions")
    p.add_argument("--keep", type=int, required=True, metavar="N",
                   help="keep the N newest versions of each plugin, besides its active and "
                        "last known good ones")
    p.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (times in ISO 8601 UTC)")


def _store(args: argparse.Namespace) -> int:
    if args.keep < 0:
        raise ZepixError("store prune: --keep must be >= 0")
    store = store_from(args)
    try:
        done = Remover(_operator(args, store)).prune(args.keep, args.plugin_id, args.dry_run)
    finally:
        store.close()
    rows = [{**d.as_dict(), "plugins": ", ".join(d.plugins)} for d in done]
    show(args, rows, PRUNE_COLUMNS, document=[d.as_dict() for d in done])
    return 0


COMMANDS = [
    Command("uninstall", "remove one version of a plugin from the store",
            "Remove VERSION's directory from the plugin store (with every plugin its\n"
            "distribution offers). Refused for the version that is active (running, or\n"
            "desired), the last known good version below it, and an open canary's\n"
            "candidate. The history keeps the version: 'zepix versions' shows it removed.\n"
            "Versions from the host environment are pip's to remove.\n\n"
            "  zepix uninstall zepix_demo 1.2.0",
            _uninstall, _uninstall_args),
    Command("store", "manage the plugin store: 'prune --keep N' removes old versions",
            "  zepix store prune --keep N [ID]   keep each plugin's N newest store versions\n"
            "                                    besides its active and last known good ones\n"
            "                                    (and an open canary's); remove the rest\n\n"
            "--dry-run lists what would go. The listing says for each version whether it\n"
            "was removed or kept, and why.",
            _store, _store_args),
]
