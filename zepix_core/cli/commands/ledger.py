"""``zepix sync``, ``trades`` and ``stats``: the plugin databases and the central ledger."""

from __future__ import annotations

import argparse
import time
from datetime import date

from zepix_core.cli.commands.base import Command, show, store_from, view_config
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.config import load_config
from zepix_core.loading.paths import config_path, data_dir
from zepix_core.retry import Retrier, RetryStats, policies_from_config
from zepix_core.sync import SyncManager
from zepix_core.sync.manager import target_of
from zepix_core.sync.reading import stats, sync_status, trades

STATUS_COLUMNS = ("plugin_id", "target", "last_success", "rows", "lag_seconds",
                  "consecutive_failures", "last_failure", "last_error")
HISTORY_COLUMNS = ("id", "started_at", "ended_at", "trigger", "target", "ok", "rows", "plugins",
                   "failed", "failed_tries", "error")
TRADE_COLUMNS = ("plugin_id", "id", "ref", "symbol", "side", "quantity", "entry_price",
                 "status", "exit_price", "pnl", "opened_at", "closed_at")
STATS_COLUMNS = ("plugin_id", "day", "signals", "trades_opened", "trades_closed", "wins",
                 "losses", "pnl", "fees")


def _sync_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("status", "history"), default="status",
                   help="status (default): per plugin database; history: the runs")
    p.add_argument("--now", action="store_true",
                   help="sync now, in this process; exit 1 if it failed")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="history: last N runs")
    p.add_argument("--backfill", nargs="?", const="", default=None, metavar="ID",
                   help="send every trade (of plugin ID, else of all) to the ledger again, "
                        "in this process (idempotent); exit 1 if it failed")


def _sync(args: argparse.Namespace) -> int:
    store = store_from(args)
    try:
        acts = args.now or args.backfill is not None  # a view works on a broken file
        config = load_config(config_path(args.config)) if acts else view_config(args)
        if acts:
            retrier = Retrier(policies_from_config(config.sections.get("retry", {})),
                              stats=RetryStats(store))
            manager = SyncManager(store, config.sync(), data_dir() / "plugins",
                                  retrier=retrier)
            run = (manager.run("cli") if args.backfill is None
                   else manager.backfill(args.backfill or None))
            plugins = [{"plugin_id": p.plugin_id, "rows": p.rows, "error": p.error}
                       for p in run.plugins]
            document = {"ok": run.ok, "rows": run.rows, "error": run.error, "plugins": plugins}
            show(args, plugins, ("plugin_id", "rows", "error"), document)
            return 0 if run.ok else 1
        if args.action == "history":
            show(args, store.sync_runs(args.limit), HISTORY_COLUMNS)
        else:
            target = target_of(config.sync().url)
            show(args, sync_status(store, data_dir() / "plugins", time.time(), target),
                 STATUS_COLUMNS)
        return 0
    finally:
        store.close()


def _trades_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--open", action="store_true", help="only open trades")
    p.add_argument("--limit", type=int, metavar="N", help="the newest N (default: all)")


def _trades(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise ZepixError("trades: --limit must be >= 1")
    rows = trades(data_dir() / "plugins", args.plugin_id, open_only=args.open, limit=args.limit)
    show(args, rows, TRADE_COLUMNS)
    return 0


def _stats_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", nargs="?", metavar="ID", help="only this plugin")
    p.add_argument("--day", metavar="YYYY-MM-DD", help="one UTC day (default: the last 30)")


def _stats(args: argparse.Namespace) -> int:
    if args.day is not None:
        try:
            date.fromisoformat(args.day)
        except ValueError:
            raise ZepixError(f"stats: --day {args.day!r} is not a date; write YYYY-MM-DD") \
                from None
    show(args, stats(data_dir() / "plugins", args.plugin_id, args.day), STATS_COLUMNS)
    return 0


COMMANDS = [
    Command("sync", "copy trades to the central ledger; its status and history",
            "Without --now: per plugin database, the last successful sync, rows copied,\n"
            "lag (age of the oldest change not yet in the ledger) and failures in a row.\n"
            "Progress is kept per ledger target ([sync] url): a new target gets every trade.\n"
            "'history' lists the runs. --now syncs in this process (exit 1 if it failed);\n"
            "--backfill [ID] sends every trade again (idempotent).",
            _sync, _sync_args, listing=True),
    Command("trades", "trades recorded in the plugin databases",
            "Newest first, from every plugin database or one.", _trades, _trades_args,
            listing=True),
    Command("stats", "daily statistics of the plugin databases",
            "Signals, trades, wins, losses and P&L per UTC day.", _stats, _stats_args,
            listing=True),
]
