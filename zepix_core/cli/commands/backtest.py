"""``zepix backtest``: strategies over historical bars; a table, ``--json``, ``--plot``."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from zepix_core.app import plot
from zepix_core.app.backtest import Costs, Result, backtest_source, run_backtest
from zepix_core.cli.commands.base import Command, since
from zepix_core.cli.render import emit_json, iso, table
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.config import load_config
from zepix_core.loading.paths import config_path

COLUMNS = ("plugin_id", "trades", "win_rate", "total_return", "annualised_return",
           "max_drawdown", "sharpe", "exposure", "signal_accuracy")
HEADERS = ("PLUGIN", "TRADES", "WIN%", "RETURN%", "ANNUAL%", "MAXDD%", "SHARPE", "EXPOSURE%",
           "ACCURACY%")
PERCENT = ("win_rate", "total_return", "annualised_return", "max_drawdown", "exposure",
           "signal_accuracy")


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_ids", nargs="+", metavar="ID", help="plugins to backtest")
    p.add_argument("--source", metavar="NAME",
                   help="market source (default: [market] source, else the seeded replay)")
    p.add_argument("--source-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the source, e.g. path=bars.csv (repeatable)")
    p.add_argument("--from", dest="start", type=since, metavar="WHEN",
                   help="first bar time (ISO 8601, UTC unless it has an offset)")
    p.add_argument("--to", dest="end", type=since, metavar="WHEN",
                   help="last bar time (ISO 8601, UTC unless it has an offset)")
    p.add_argument("--fee", type=float, default=0.001, metavar="RATE",
                   help="fee per fill as a share of its notional (default 0.001 = 10 bp)")
    p.add_argument("--slippage", type=float, default=0.0005, metavar="RATE",
                   help="price moved against each fill, as a share (default 0.0005)")
    p.add_argument("--capital", type=float, default=10_000.0, metavar="AMOUNT",
                   help="each plugin's starting equity (default 10000)")
    p.add_argument("--plot", type=Path, metavar="FILE", help="write the equity curve as PNG")


def source_options(command: str, items: list[str]) -> dict[str, str]:
    options = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ZepixError(f"{command}: --source-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value
    return options


def _costs(args: argparse.Namespace) -> Costs:
    for name in ("fee", "slippage"):
        value = getattr(args, name)
        if not (math.isfinite(value) and 0 <= value < 1):
            raise ZepixError(f"backtest: --{name} must be a share between 0 and 1 (0.001)")
    if not (math.isfinite(args.capital) and args.capital > 0):
        raise ZepixError("backtest: --capital must be > 0")
    return Costs(fee=args.fee, slippage=args.slippage, capital=args.capital)


def _document(result: Result, args: argparse.Namespace) -> dict[str, Any]:
    return {"plugins": [result.figures[p] for p in result.plugins], "bars": result.bars,
            "seconds": result.seconds, "bars_per_second": result.bars_per_second,
            "from": iso(args.start) if args.start is not None else None,
            "to": iso(args.end) if args.end is not None else None,
            "fee": args.fee, "slippage": args.slippage, "capital": args.capital}


def _backtest(args: argparse.Namespace) -> int:
    costs = _costs(args)
    if args.start is not None and args.end is not None and args.start > args.end:
        raise ZepixError("backtest: --from is after --to")
    config = load_config(config_path(args.config))
    source = backtest_source(config, args.source, source_options("backtest",
                                                                  args.source_option))
    result = run_backtest(args.plugin_ids, source, config=config, costs=costs,
                          start=args.start, end=args.end)
    if result.bars == 0:
        raise ZepixError("backtest: the source gave no bars in that time range")
    if args.plot is not None:
        if plot.available():
            plot.plot({p: result.books[p] for p in result.plugins}, args.plot)
        else:
            sys.stderr.write(plot.MISSING + "\n")
    if args.json:
        emit_json(_document(result, args))
        return 0
    rows = [{k: (v * 100 if k in PERCENT and v is not None else v)
             for k, v in result.figures[p].items()} for p in result.plugins]
    table(rows, COLUMNS, headers=HEADERS)
    sys.stdout.write(f"\n{result.bars} bars in {result.seconds:.2f}s "
                     f"({result.bars_per_second:,.0f} bars/s); fee {args.fee:g}, slippage "
                     f"{args.slippage:g}, fills at the next bar's open\n")
    if args.plot is not None and plot.available():
        sys.stdout.write(f"equity curve: {args.plot}\n")
    return 0


COMMANDS = [
    Command("backtest", "run strategies over historical bars and report their performance",
            "Run the named plugins through the host's own dispatch on a temporary database\n"
            "over a market source (the seeded replay by default, or --source csv\n"
            "--source-option path=FILE), filling every intent at the next bar's open with\n"
            "--fee and --slippage. Reports trades, win rate, total and annualised return,\n"
            "maximum drawdown, Sharpe, exposure and signal accuracy per plugin, and the\n"
            "speed in bars per second. The same source and seed give the same report.\n\n"
            "  zepix backtest combined_v3 price_action_5m\n"
            "  zepix backtest my_plugin --source csv --source-option path=bars.csv \\\n"
            "      --from 2024-01-01 --to 2024-02-01 --plot equity.png",
            _backtest, _args, listing=True),
]
