"""The research loop over ``run_backtest``: settings for one run, grids, walk-forward.

A setting is ``ID.KEY=VALUE``; the value is read as a TOML value (``20``,
``0.5``, ``true``, ``"text"``, ``["5m", "1h"]``) and else taken as text, and
goes into the plugin's ``[plugins.ID]`` table for that run, so the host checks
it against the plugin's declared settings exactly as it would live. A grid runs
every combination, in ``jobs`` processes at once (each with its own scratch
home and its own source built from the same name and options).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import threading
import tomllib
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from zepix_core.app.backtest import Result, backtest_source, run_backtest
from zepix_core.app.book import Costs
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.config import Config

#: (plugin id, key) -> value
Settings = dict[tuple[str, str], Any]


def _value(text: str) -> object:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _target(option: str, item: str) -> tuple[tuple[str, str], str]:
    name, eq, value = item.partition("=")
    pid, dot, key = name.strip().partition(".")
    if not eq or not dot or not pid or not key:
        raise ZepixError(f"backtest: {option} {item!r}: expected ID.KEY=VALUE "
                         "(combined_v3.rsi_period=10)")
    return (pid, key.strip()), value.strip()


def parse_sets(items: Sequence[str]) -> Settings:
    """``--set ID.KEY=VALUE`` items."""
    found: Settings = {}
    for item in items:
        target, value = _target("--set", item)
        found[target] = _value(value)
    return found


def parse_grid(items: Sequence[str]) -> list[Settings]:
    """``--grid ID.KEY=V1,V2,...`` items: every combination, in order."""
    axes: list[tuple[tuple[str, str], list[object]]] = []
    for item in items:
        target, values = _target("--grid", item)
        parts = [_value(v.strip()) for v in values.split(",") if v.strip()]
        if not parts:
            raise ZepixError(f"backtest: --grid {item!r}: give at least one value")
        axes.append((target, parts))
    return [dict(zip([a[0] for a in axes], combo, strict=True))
            for combo in itertools.product(*(a[1] for a in axes))]


def with_settings(config: Config, settings: Settings) -> Config:
    """``config`` with ``settings`` in the plugins' tables."""
    plugins = {pid: dict(table) for pid, table in config.plugins.items()}
    for (pid, key), value in settings.items():
        plugins.setdefault(pid, {})[key] = value
    return replace(config, plugins=plugins)


@dataclass(frozen=True)
class Run:
    """Everything one backtest needs, picklable for a worker process."""

    plugin_ids: tuple[str, ...]
    config: Config
    source: str | None
    options: Mapping[str, object]
    costs: Costs
    start: float | None = None
    end: float | None = None
    allow_errors: bool = False

    def __call__(self) -> Result:
        source = backtest_source(self.config, self.source, self.options)
        return run_backtest(self.plugin_ids, source, config=self.config, costs=self.costs,
                            start=self.start, end=self.end, allow_errors=self.allow_errors)


def _figures(run: Run) -> dict[str, dict[str, object]]:
    return run().figures


def run_grid(base: Run, combos: Sequence[Settings], jobs: int = 1
             ) -> list[dict[str, dict[str, object]]]:
    """The figures of ``base`` under each combination, in order; ``jobs`` processes."""
    runs = [replace(base, config=with_settings(base.config, c)) for c in combos]
    if jobs <= 1 or len(runs) <= 1:
        return [_figures(r) for r in runs]
    # spawn: a fresh interpreter per worker, never a fork of a process with threads
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(runs)), mp_context=context) as pool:
        return list(pool.map(_figures, runs))


DAY = 86400.0


def parse_walk(text: str) -> tuple[float, float]:
    """``TRAIN_DAYS:TEST_DAYS`` in seconds."""
    train, colon, test = text.partition(":")
    try:
        days = (float(train), float(test)) if colon else (math.nan, math.nan)
    except ValueError:
        days = (math.nan, math.nan)
    if not all(math.isfinite(d) and d > 0 for d in days):
        raise ZepixError(f"backtest: --walk-forward {text!r}: expected TRAIN_DAYS:TEST_DAYS "
                         "(30:7), both > 0")
    return days[0] * DAY, days[1] * DAY


def span(run: Run) -> tuple[float, float] | None:
    """The first and last bar time of the run's source within its range."""
    source = backtest_source(run.config, run.source, run.options)
    first = last = None
    for batch in source.batches(threading.Event()):
        for bar in batch:
            if (run.start is None or bar.ts >= run.start) and (run.end is None
                                                               or bar.ts <= run.end):
                first = bar.ts if first is None else first
                last = bar.ts
    return None if first is None or last is None else (first, last)


def _score(figures: Mapping[str, Any]) -> tuple[float, float]:
    sharpe, total = figures.get("sharpe"), figures.get("total_return")
    return (-math.inf if sharpe is None else sharpe, -math.inf if total is None else total)


def walk_forward(base: Run, combos: Sequence[Settings], train: float, test: float,
                 jobs: int = 1) -> list[dict[str, Any]]:
    """Rolling windows: in each, the combination with the best Sharpe (then return) on
    ``train`` seconds is run on the ``test`` seconds after them, which no choice saw.
    One plugin; windows move on by ``test``. Each plugin starts cold in each window."""
    if len(base.plugin_ids) != 1:
        raise ZepixError("backtest: --walk-forward takes one plugin id")
    pid = base.plugin_ids[0]
    bounds = span(base)
    if bounds is None:
        raise ZepixError("backtest: the source gave no bars in that time range")
    first, last = bounds
    windows = []
    start = first
    while start + train + test <= last + 60.0:
        fit = replace(base, start=start, end=start + train - 1e-6)
        found = run_grid(fit, combos or [{}], jobs)
        best = max(range(len(found)), key=lambda i: _score(found[i][pid]))
        chosen = combos[best] if combos else {}
        trial = replace(base, config=with_settings(base.config, chosen),
                        start=start + train, end=start + train + test - 1e-6)
        windows.append({"train_from": start, "test_from": start + train,
                        "test_to": start + train + test,
                        "train": found[best][pid], "test": _figures(trial)[pid]})
        start += test
    if not windows:
        raise ZepixError(f"backtest: --walk-forward needs {(train + test) / DAY:g} days of "
                         f"bars; the source has {(last - first) / DAY:.2f}")
    return windows
