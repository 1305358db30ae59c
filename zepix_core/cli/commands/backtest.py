"""``zepix backtest``: strategies over historical bars; a table, ``--json``, ``--plot``."""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any

from zepix_core.app import plot, report, research
from zepix_core.app.backtest import HookFailed, Result
from zepix_core.app.book import Costs
from zepix_core.cli.commands.base import Command, since
from zepix_core.cli.render import emit_json, iso, table
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.config import Config, load_config
from zepix_core.loading.paths import config_path
from zepix_core.trading import trips

COLUMNS = ("plugin_id", "trades", "win_rate", "total_return", "annualised_return",
           "max_drawdown", "sharpe", "sortino", "profit_factor", "expectancy", "avg_trade",
           "exposure", "signal_accuracy", "errors", "ruined", "params")
HEADERS = ("PLUGIN", "TRADES", "WIN%", "RETURN%", "ANNUAL%", "MAXDD%", "SHARPE", "SORTINO",
           "PF", "EXPECT", "AVG-TRADE", "EXPOSURE%", "ACCURACY%", "ERRORS", "RUINED", "PARAMS")
PERCENT = ("win_rate", "total_return", "annualised_return", "max_drawdown", "exposure",
           "signal_accuracy")


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_ids", nargs="+", metavar="ID", help="plugins to backtest")
    p.add_argument("--source", metavar="NAME",
                   help="market source (default: [market] source, else the seeded replay)")
    p.add_argument("--source-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the source, e.g. path=bars.csv or time_column=ts "
                        "(repeatable)")
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
    p.add_argument("--set", dest="settings", action="append", default=[],
                   metavar="ID.KEY=VALUE", help="a plugin setting for this run (repeatable)")
    p.add_argument("--grid", action="append", default=[], metavar="ID.KEY=V1,V2,...",
                   help="run every combination of these values (repeatable)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="grid runs at once, each in its own process (default 1)")
    p.add_argument("--walk-forward", metavar="TRAIN_DAYS:TEST_DAYS",
                   help="rolling windows: pick the best --grid combination (Sharpe) on "
                        "TRAIN_DAYS, run it on the TEST_DAYS after them")
    p.add_argument("--trades", type=Path, metavar="FILE.csv",
                   help="write every round trip (plugin, symbol, side, entry and exit "
                        "time and price, quantity, pnl, fees)")
    p.add_argument("--benchmark", choices=("buy-and-hold",),
                   help="add buy and hold of the traded symbols to the table and picture")
    p.add_argument("--allow-errors", action="store_true",
                   help="count hook errors and go on (default: the first one fails the run)")
    p.add_argument("--plot", type=Path, metavar="FILE",
                   help="write the equity picture (a heatmap with --grid over two settings) "
                        "as PNG")


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


def _document(result: Result, args: argparse.Namespace) -> dict[str, object]:
    document = {"plugins": [result.figures[p] for p in result.plugins], "bars": result.bars,
                "seconds": result.seconds, "bars_per_second": result.bars_per_second,
                "from": iso(args.start) if args.start is not None else None,
                "to": iso(args.end) if args.end is not None else None,
                "fee": args.fee, "slippage": args.slippage, "capital": args.capital,
                "time_format": result.time_format, "warnings": result.warnings}
    if args.benchmark and result.benchmark is not None:
        document["benchmark"] = _benchmark(result)
    return document


def _benchmark(result: Result) -> dict[str, object]:
    assert result.benchmark is not None
    book = result.benchmark
    return {"plugin_id": "buy-and-hold", "params": {}, "trades": 0,
            **report.curve(book.times, book.equity), "exposure": 1.0, "exposure_pct": 100.0}


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _row(figures: dict[str, Any]) -> dict[str, Any]:
    row = {k: (v * 100 if k in PERCENT and v is not None else v) for k, v in figures.items()}
    row["params"] = " ".join(f"{k}={v}" for k, v in figures.get("params", {}).items()) or "-"
    row["avg_trade"] = _duration(figures.get("avg_trade_seconds"))
    row["ruined"] = "yes" if figures.get("ruined") else ""
    return row


def _settings(args: argparse.Namespace, config: Config) -> Config:
    sets = research.parse_sets(args.settings)
    unknown = sorted({pid for pid, _ in sets} - set(args.plugin_ids))
    if unknown:
        raise ZepixError(f"backtest: --set names {', '.join(unknown)}, not a plugin of "
                         "this run")
    return research.with_settings(config, sets)


def _run(args: argparse.Namespace) -> research.Run:
    costs = _costs(args)
    if args.start is not None and args.end is not None and args.start > args.end:
        raise ZepixError("backtest: --from is after --to")
    if args.jobs < 1:
        raise ZepixError("backtest: --jobs must be 1 or more")
    config = _settings(args, load_config(config_path(args.config)))
    return research.Run(tuple(args.plugin_ids), config, args.source,
                        source_options("backtest", args.source_option), costs,
                        args.start, args.end, args.allow_errors)


def _backtest(args: argparse.Namespace) -> int:
    run = _run(args)
    try:
        if args.walk_forward:
            return _walk(args, run)
        if args.grid:
            return _grid(args, run)
        result = run()
    except HookFailed as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    if result.bars == 0:
        raise ZepixError("backtest: the source gave no bars in that time range")
    for warning in result.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if args.trades is not None:
        _write_trades(args.trades, result)
    if args.plot is not None:
        _picture(args, result)
    if args.json:
        emit_json(_document(result, args))
        return 0
    rows = [_row(result.figures[p]) for p in result.plugins]
    if args.benchmark and result.benchmark is not None:
        rows.append(_row(_benchmark(result)))
    table(rows, COLUMNS, headers=HEADERS)
    times = f"; times read as {result.time_format}" if result.time_format else ""
    sys.stdout.write(f"\n{result.bars} bars in {result.seconds:.2f}s "
                     f"({result.bars_per_second:,.0f} bars/s); fee {args.fee:g}, slippage "
                     f"{args.slippage:g}, fills at the next bar's open{times}\n")
    if args.plot is not None and plot.available():
        sys.stdout.write(f"equity picture: {args.plot}\n")
    if args.trades is not None:
        sys.stdout.write(f"round trips: {args.trades}\n")
    return 0


def _picture(args: argparse.Namespace, result: Result) -> None:
    if not plot.available():
        sys.stderr.write(plot.MISSING + "\n")
        return
    plot.plot({p: result.books[p] for p in result.plugins}, args.plot,
              figures=result.figures,
              benchmark=result.benchmark if args.benchmark else None,
              prices=result.prices)


def _write_trades(path: Path, result: Result) -> None:
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(trips.COLUMNS)
            for pid in result.plugins:
                for row in result.books[pid].trips.rows():
                    out.writerow([iso(v) if i in (3, 5) and isinstance(v, float) else v
                                  for i, v in enumerate(row)])
    except OSError as exc:
        raise ZepixError(f"backtest: cannot write {path}: {exc.strerror or exc}") from None


def _grid(args: argparse.Namespace, run: research.Run) -> int:
    combos = research.parse_grid(args.grid)
    found = research.run_grid(run, combos, args.jobs)
    flat = [figures[p] for figures in found for p in run.plugin_ids]
    if args.plot is not None:
        if plot.available():
            plot.heatmap([f[run.plugin_ids[0]] for f in found], combos, args.plot)
        else:
            sys.stderr.write(plot.MISSING + "\n")
    if args.json:
        emit_json(flat)
        return 0
    table([_row(f) for f in flat], COLUMNS, headers=HEADERS)
    sys.stdout.write(f"\n{len(combos)} combination(s) in {min(args.jobs, len(combos))} "
                     "process(es)\n")
    if args.plot is not None and plot.available():
        sys.stdout.write(f"heatmap: {args.plot}\n")
    return 0


def _walk(args: argparse.Namespace, run: research.Run) -> int:
    train, test = research.parse_walk(args.walk_forward)
    windows = research.walk_forward(run, research.parse_grid(args.grid), train, test,
                                    args.jobs)
    growth = 1.0
    for window in windows:
        growth *= 1.0 + (window["test"]["total_return"] or 0.0)
    document = {"plugin_id": run.plugin_ids[0], "train_days": train / 86400,
                "test_days": test / 86400, "windows": windows,
                "out_of_sample_return_pct": (growth - 1.0) * 100}
    if args.json:
        emit_json(document)
        return 0
    rows = [{"test_from": iso(w["test_from"]), "params": _row(w["test"])["params"],
             "train_sharpe": w["train"]["sharpe"],
             **{k: v for k, v in _row(w["test"]).items() if k != "params"}}
            for w in windows]
    table(rows, ("test_from", "params", "train_sharpe", "trades", "total_return", "sharpe",
                 "max_drawdown", "errors"),
          headers=("TEST FROM", "PARAMS", "TRAIN SHARPE", "TRADES", "RETURN%", "SHARPE",
                   "MAXDD%", "ERRORS"))
    sys.stdout.write(f"\nout of sample: {document['out_of_sample_return_pct']:.2f}% over "
                     f"{len(windows)} test window(s) of {test / 86400:g} day(s)\n")
    return 0


COMMANDS = [
    Command("backtest", "run strategies over historical bars and report their performance",
            "Run the named plugins through the host's own dispatch on a temporary database\n"
            "over a market source (the seeded replay by default, or --source csv\n"
            "--source-option path=FILE), filling every intent at the next bar's open with\n"
            "--fee and --slippage. Reports trades, win rate, total and annualised return,\n"
            "maximum drawdown, Sharpe and Sortino (daily returns of the whole curve),\n"
            "profit factor, expectancy, trade length, exposure, hook errors and ruin per\n"
            "plugin. A hook that raises fails the run (exit 1) unless --allow-errors;\n"
            "equity at zero stops that plugin (ruined). The same source and seed give the\n"
            "same report.\n\n"
            "  zepix backtest combined_v3 price_action_5m --benchmark buy-and-hold\n"
            "  zepix backtest my_plugin --source csv --source-option path=bars.csv \\\n"
            "      --from 2024-01-01 --to 2024-02-01 --plot equity.png --trades trips.csv\n"
            "  zepix backtest my_plugin --grid my_plugin.window=10,20,40 \\\n"
            "      --grid my_plugin.band=1.5,2,2.5 --jobs 2 --plot heatmap.png",
            _backtest, _args, listing=True),
]
