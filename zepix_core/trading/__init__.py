"""What the bot really traded, per plugin: positions, realised P&L, win rate, accuracy.

Pure bookkeeping from the intents the host handed out, the fills the bot
reported and the bars that followed; no I/O, no threads.
"""

from zepix_core.trading.accuracy import Accuracy
from zepix_core.trading.ledger import Ledger, Position

__all__ = ["Accuracy", "Ledger", "Position"]
