"""The backtest's picture: equity curves, drawdown underneath, fills as markers.

matplotlib (the ``backtest`` extra) with the Agg backend writes a PNG that needs
no display and nothing from the network to view.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zepix_core.app.backtest import Book
from zepix_core.contract.errors import ZepixError
from zepix_core.trading import metrics

MISSING = ("--plot needs matplotlib: pip install 'zepix-core[backtest]' (the table is "
           "printed without the picture)")


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def plot(books: Mapping[str, Book], path: Path, title: str = "zepix backtest") -> Path:
    """Write the picture of ``books`` (plugin id -> ``backtest.Book``) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(11, 6.5), dpi=100,
                                      gridspec_kw={"height_ratios": [3, 1]})
    try:
        for pid, book in books.items():
            times = [_when(t) for t in book.times]
            equity = book.equity
            line, = top.plot(times, equity, linewidth=1.2, label=pid)
            _markers(top, book, line.get_color())
            bottom.fill_between(times, [d * 100 for d in metrics.drawdowns(equity)], 0,
                                alpha=0.35, color=line.get_color(), step="post")
        top.set_title(title)
        top.set_ylabel("equity")
        top.legend(loc="upper left", fontsize="small")
        top.grid(alpha=0.3)
        bottom.set_ylabel("drawdown %")
        bottom.grid(alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        try:
            fig.savefig(path, format="png")
        except OSError as exc:
            raise ZepixError(f"backtest: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path


def _markers(ax: Any, book: Book, color: str) -> None:
    """Buys as upward, sells as downward triangles on the equity line at fill time."""
    times, equity, marks = book.times, book.equity, book.marks
    if not marks or not times:
        return
    index = {t: i for i, t in enumerate(times)}
    for side, shape in (("buy", "^"), ("sell", "v")):
        at = [(t, equity[index[t]]) for t, _, s in marks if s == side and t in index]
        if at:
            ax.scatter([_when(t) for t, _ in at], [e for _, e in at],
                       marker=shape, s=22, color=color, edgecolors="black", linewidths=0.4,
                       zorder=3)
