"""``zepix retries``: how every outbound operation's retries went, and ``--reset``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from zepix_core.cli.commands.base import Command, show, store_from, view_config
from zepix_core.cli.render import emit_json
from zepix_core.retry import policies_from_config, retry_report

COLUMNS = ("operation", "attempts", "first_try", "retried", "exhausted", "permanent",
           "failures", "delay_s", "last_error_at", "last_error")


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reset", action="store_true",
                   help="clear every retry statistic (kept in the database until then)")


def row(record: dict[str, Any]) -> dict[str, Any]:
    """A report record flattened for the table."""
    failures = [f"{name}={c['failures']}" for name, c in record["by_category"].items()
                if c["failures"]]
    return {**record, "first_try": record["first_try_successes"],
            "retried": record["retry_successes"], "permanent": record["permanent_failures"],
            "failures": " ".join(failures) or None,
            "delay_s": round(record["total_delay"], 1)}


def _retries(args: argparse.Namespace) -> int:
    store = store_from(args)
    if args.reset:
        cleared = store.reset_retry_stats()
        if args.json:
            emit_json({"reset": True, "operations": cleared})
        else:
            sys.stdout.write(f"cleared the retry statistics of {cleared} operation(s)\n")
        return 0
    config = view_config(args)
    policies = policies_from_config(config.sections.get("retry", {}),
                                    str(config.path or "<defaults>"))
    records = retry_report(store, policies)
    show(args, [row(r) for r in records], COLUMNS, document=records)
    return 0


COMMANDS = [
    Command("retries", "retry statistics per outbound operation",
            "For each outbound operation (sink.webhook, sink.telegram, sink.alertmanager,\n"
            "telegram, sync, store.install): tries, successes on the first try and after\n"
            "retries, exhausted and permanent failures, failures by category, the last\n"
            "error, and the policy in force. Kept in the database until --reset.",
            _retries, _arguments, listing=True),
]
