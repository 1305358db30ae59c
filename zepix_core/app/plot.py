"""The backtest's pictures: the equity picture, and a grid's heatmap.

The equity picture: a title with the plugins, their settings and headline
figures; the price of the first traded symbol with entries and exits (at most
``MARKERS`` of each, evenly thinned when there are more); the equity curves and
the benchmark; the drawdown underneath, its axis bounded by the deepest fall.
matplotlib (the ``backtest`` extra) with the Agg backend writes a PNG that needs
no display and nothing from the network to view.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from zepix_core.app.book import Book
from zepix_core.contract.errors import ZepixError
from zepix_core.trading import metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

T = TypeVar("T")

MISSING = ("--plot needs matplotlib: pip install 'zepix-core[backtest]' (the table is "
           "printed without the picture)")
#: The most entry (and exit) markers drawn per plugin; more are thinned evenly.
MARKERS = 150


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _fmt(value: object, unit: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def title(figures: Mapping[str, Mapping[str, object]]) -> str:
    """One line per plugin: id, settings, return, drawdown, Sharpe, trades."""
    lines = []
    for pid, f in figures.items():
        given = f.get("params")
        params = ", ".join(f"{k}={v}" for k, v in
                           (given.items() if isinstance(given, Mapping) else ()))
        lines.append(f"{pid}" + (f" ({params})" if params else "")
                     + f": return {_fmt(f.get('total_return_pct'), '%')}, max DD "
                     f"{_fmt(f.get('max_drawdown_pct'), '%')}, Sharpe {_fmt(f.get('sharpe'))}, "
                     f"{f.get('trades', 0)} trades" + (", RUINED" if f.get("ruined") else ""))
    return "\n".join(lines) or "zepix backtest"


def thin(items: Sequence[T], most: int = MARKERS) -> list[T]:
    """At most ``most`` of ``items``, evenly spread, first and last kept."""
    if len(items) <= most:
        return list(items)
    step = (len(items) - 1) / (most - 1)
    return [items[round(i * step)] for i in range(most)]


def _save(fig: Figure, path: Path) -> None:
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise ZepixError(f"backtest: cannot write {path}: {exc.strerror or exc}") from None


def plot(books: Mapping[str, Book], path: Path, *,
         figures: Mapping[str, Mapping[str, object]] | None = None,
         benchmark: Book | None = None,
         prices: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None) -> Path:
    """Write the equity picture of ``books`` (plugin id -> ``book.Book``) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    symbol = _symbol(books, prices or {})
    panels = 3 if symbol else 2
    ratios = [2, 3, 1] if symbol else [3, 1]
    fig, axes = plt.subplots(panels, 1, sharex=True, figsize=(11, 8 if symbol else 6.5),
                             dpi=100, gridspec_kw={"height_ratios": ratios})
    try:
        price_ax, top, bottom = (axes if symbol else (None, *axes))
        if price_ax is not None and symbol is not None and prices:
            _price_panel(price_ax, books, symbol, prices[symbol])
        deepest = 0.0
        for pid, book in books.items():
            times = [_when(t) for t in book.times]
            line, = top.plot(times, book.equity, linewidth=1.2, label=pid)
            downs = [d * 100 for d in metrics.drawdowns(book.equity)]
            deepest = min(deepest, min(downs, default=0.0))
            bottom.fill_between(times, downs, 0, alpha=0.35, color=line.get_color(),
                                step="post")
        if benchmark is not None:
            top.plot([_when(t) for t in benchmark.times], benchmark.equity, linewidth=1.0,
                     color="grey", linestyle="--", label="buy and hold")
        fig.suptitle(title(figures or {pid: {} for pid in books}), fontsize="small")
        top.set_ylabel("equity")
        top.legend(loc="upper left", fontsize="small")
        top.grid(alpha=0.3)
        bottom.set_ylabel("drawdown %")
        bottom.set_ylim(deepest * 1.1 - 0.5, 0.5)
        bottom.grid(alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        _save(fig, path)
    finally:
        plt.close(fig)
    return path


def _symbol(books: Mapping[str, Book],
            prices: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> str | None:
    """The symbol of the price panel: the one traded most, else the first with prices."""
    counts: dict[str, int] = {}
    for book in books.values():
        for trip in book.trips.closed:
            counts[trip.symbol] = counts.get(trip.symbol, 0) + 1
    traded = [s for s in sorted(counts, key=lambda s: -counts[s]) if s in prices]
    return traded[0] if traded else next(iter(prices), None)


def _price_panel(ax: Any, books: Mapping[str, Book], symbol: str,
                 series: tuple[Sequence[float], Sequence[float]]) -> None:
    times, closes = series
    ax.plot([_when(t) for t in times], closes, linewidth=0.8, color="black")
    ax.set_ylabel(f"{symbol} price")
    ax.grid(alpha=0.3)
    for book in books.values():
        trips = [t for t in book.trips.closed if t.symbol == symbol and t.exit_time is not None]
        entries = thin([(t.entry_time, t.entry_price, t.side) for t in trips])
        exits = thin([(t.exit_time, t.exit_price) for t in trips if t.exit_time is not None])
        for side, shape, color in (("long", "^", "tab:green"), ("short", "v", "tab:red")):
            at = [(w, p) for w, p, s in entries if s == side]
            if at:
                ax.scatter([_when(w) for w, _ in at], [p for _, p in at], marker=shape, s=18,
                           color=color, zorder=3, label=f"{side} entry")
        if exits:
            ax.scatter([_when(w) for w, _ in exits], [p for _, p in exits], marker="x", s=14,
                       color="tab:blue", zorder=3, label="exit")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), loc="upper left", fontsize="small")


def heatmap(rows: Sequence[Mapping[str, object]],
            combos: Sequence[Mapping[tuple[str, str], object]],
            path: Path, figure: str = "sharpe") -> Path:
    """A grid over two settings as a heatmap of ``figure`` (one plugin's rows, in the
    order of ``combos``)."""
    keys = list(combos[0]) if combos else []
    if len(keys) != 2 or len(rows) != len(combos):
        raise ZepixError("backtest: --plot with --grid draws a heatmap of one plugin over "
                         "exactly two settings")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    xs = list(dict.fromkeys(c[keys[0]] for c in combos))
    ys = list(dict.fromkeys(c[keys[1]] for c in combos))
    grid = [[float("nan")] * len(xs) for _ in ys]
    for combo, row in zip(combos, rows, strict=True):
        value = row.get(figure)
        grid[ys.index(combo[keys[1]])][xs.index(combo[keys[0]])] = (
            float(value) if isinstance(value, int | float) else float("nan"))
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=100)
    try:
        image = ax.imshow(grid, origin="lower", cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_yticks(range(len(ys)), [str(y) for y in ys])
        ax.set_xlabel(".".join(keys[0]))
        ax.set_ylabel(".".join(keys[1]))
        for j, line in enumerate(grid):
            for i, value in enumerate(line):
                ax.text(i, j, "-" if math.isnan(value) else f"{value:.2f}", ha="center",
                        va="center", fontsize="small")
        fig.colorbar(image, ax=ax, label=figure)
        ax.set_title(f"{rows[0].get('plugin_id', '')}: {figure} over "
                     f"{keys[0][1]} and {keys[1][1]}")
        fig.tight_layout()
        _save(fig, path)
    finally:
        plt.close(fig)
    return path
