"""What a command is, and the helpers every command shares."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zepix_core.cli.render import emit_json, table
from zepix_core.contract.errors import ZepixError
from zepix_core.host.host import Host, create_host
from zepix_core.host.lease import alive
from zepix_core.loading.config import Config, load_lenient
from zepix_core.loading.paths import config_path
from zepix_core.storage import HostRow, RequestRow, Store

#: Seconds between looks at the database while ``--wait`` waits for the host.
POLL = 0.1

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    description: str
    handler: Handler
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    listing: bool = False


def host_from(args: argparse.Namespace, **kwargs: Any) -> Host:
    return create_host(args.config, args.db, **kwargs)


def view_config(args: argparse.Namespace) -> Config:
    """The config of a command that only shows (``status``, ``plugins``, ``versions``,
    ...): a file a start would refuse is read without the keys it gets wrong, and one
    line on stderr names the first problem, so a broken config never hides the views.
    A file that is not TOML at all is still a usage error (exit 2)."""
    cfg, reasons = load_lenient(config_path(args.config))
    if reasons:
        more = f" (and {len(reasons) - 1} more problem(s))" if len(reasons) > 1 else ""
        sys.stderr.write(f"zepix: warning: {reasons[0]}{more}; shown with the default "
                         "instead; 'zepix run' refuses the file until it is fixed ('zepix "
                         "config show' names every problem)\n")
    return cfg


def view_host(args: argparse.Namespace) -> Host:
    """A host built from :func:`view_config`, for commands that only look."""
    from zepix_core.contract.api import API_VERSION
    from zepix_core.loading.paths import db_path

    cfg = view_config(args)
    store = Store(db_path(args.db), busy_timeout=float(cfg.host["db_busy_timeout"]))
    return Host(cfg, store, api_version=API_VERSION)


def store_from(args: argparse.Namespace) -> Store:
    from zepix_core.loading.paths import db_path

    return Store(db_path(args.db))


def show(args: argparse.Namespace, rows: Sequence[Mapping[str, object]], columns: Sequence[str],
         document: object = None) -> None:
    """``--json``: the rows (or ``document``) as JSON; otherwise a table."""
    if getattr(args, "json", False):
        emit_json(rows if document is None else document)
    else:
        table(rows, columns)


def actor() -> str:
    """Who is asking, for the history: the login name, or ``operator``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "operator"


def live_host(store: Store) -> HostRow | None:
    """The host running on this database now, if any."""
    return next((h for h in store.running_hosts() if alive(h["pid"], h["started_at"])), None)


def await_request(store: Store, request_id: int, seconds: float) -> RequestRow:
    """Poll until the host applied request ``request_id`` or ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while True:
        row = store.request(request_id)
        assert row is not None
        if row["applied_at"] is not None or time.monotonic() >= deadline:
            return row
        time.sleep(POLL)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def since(text: str, now: float | None = None) -> float:
    """``--since``: a duration back from now (``90s``, ``30m``, ``24h``, ``7d``, ``2w``,
    or combined, ``1h30m``) or an ISO 8601 time (UTC unless it names an offset)."""
    spec = text.strip().lower()
    if spec and _DURATION.sub("", spec) == "":
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(spec))
        return (time.time() if now is None else now) - seconds
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (24h, 30m, 7d) nor an ISO 8601 time "
            "(2026-11-30T08:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def filter_args(p: argparse.ArgumentParser) -> None:
    """``[ID]``, ``--plugin ID`` and ``--since WHEN``, as ``alerts`` and ``history`` take."""
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--plugin", dest="plugin_opt", metavar="ID",
                   help="only this plugin (the same as ID)")
    p.add_argument("--since", type=since, metavar="WHEN",
                   help="only since then: a duration back from now (90s, 30m, 24h, 7d) or an "
                        "ISO 8601 time (UTC unless it has an offset)")


def plugin_filter(args: argparse.Namespace) -> str | None:
    """The plugin ``ID`` or ``--plugin ID`` names (a usage error when they differ)."""
    given = {v for v in (args.plugin_id, args.plugin_opt) if v is not None}
    if len(given) > 1:
        raise ZepixError(f"{args.command}: ID and --plugin name different plugins; give one")
    return given.pop() if given else None
