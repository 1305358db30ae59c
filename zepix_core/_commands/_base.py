"""What a command is, and the helpers every command shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._host import Host, create_host
from .._render import emit_json, table
from .._storage import Store

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
    from .._paths import db_path

    return Store(db_path(args.db))


def show(args: argparse.Namespace, rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
         document: Any = None) -> None:
    """``--json``: the rows (or ``document``) as JSON; otherwise a table."""
    if getattr(args, "json", False):
        emit_json(rows if document is None else document)
    else:
        table(rows, columns)
