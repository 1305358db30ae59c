"""What a command is, and the helpers every command shares."""

from __future__ import annotations

import argparse
import getpass
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zepix_core.cli.render import emit_json, table
from zepix_core.host.host import Host, alive, create_host
from zepix_core.storage import Row, Store

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


def store_from(args: argparse.Namespace) -> Store:
    from zepix_core.loading.paths import db_path

    return Store(db_path(args.db))


def show(args: argparse.Namespace, rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
         document: Any = None) -> None:
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


def live_host(store: Store) -> Row | None:
    """The host running on this database now, if any."""
    return next((h for h in store.running_hosts() if alive(h["pid"], h["started_at"])), None)


def await_request(store: Store, request_id: int, seconds: float) -> Row:
    """Poll until the host applied request ``request_id`` or ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while True:
        row = store.request(request_id)
        assert row is not None
        if row["applied_at"] is not None or time.monotonic() >= deadline:
            return row
        time.sleep(POLL)
