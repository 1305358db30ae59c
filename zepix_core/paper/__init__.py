"""Paper trading for strategy plugins: a fill model and a session that keeps honest counts.

The fill model is deliberately plain. An entry fills at the close of the bar
that produced the signal. An open position leaves at its stop or its target
when a later bar's range reaches the level (at that bar's open instead when
the bar opens beyond it, a gap), or at the signal bar's close when the
strategy turns the other way. When one bar reaches both levels the stop is
taken first: a paper model should not flatter a strategy. A closed trade with
a positive P&L is a win, a negative one a loss.

``PaperSession`` wraps a broker with what every strategy plugin reports to the
host: which bars it evaluated, what it ordered, its errors and warnings, and
when it last did anything. The host never runs two hooks of one plugin at the
same time (docs/hooks.md, ``on_bar``), though not always on the same thread;
the session's lock keeps it safe for a bot that also reads it from threads of
its own. ``PaperStrategy`` turns a
session into a plugin: it implements the health, lifecycle and work hooks, and
a subclass supplies the strategy.
"""

from zepix_core.paper._broker import Clock, Direction, Fill, PaperBroker, Position, Side, Trade
from zepix_core.paper._selftest import (
    Check,
    accounting_check,
    round_trips,
    self_test_report,
    synthetic_bars,
)
from zepix_core.paper._session import (
    SESSION_SETTINGS,
    PaperSession,
    PaperStrategy,
    SessionSettings,
    Strategy,
    bar_problem,
)

__all__ = [
    "SESSION_SETTINGS",
    "Check",
    "Clock",
    "Direction",
    "Fill",
    "PaperBroker",
    "PaperSession",
    "PaperStrategy",
    "Position",
    "SessionSettings",
    "Side",
    "Strategy",
    "Trade",
    "accounting_check",
    "bar_problem",
    "round_trips",
    "self_test_report",
    "synthetic_bars",
]
