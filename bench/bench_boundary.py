"""What the plugin boundary costs: ``boundary.plain`` on typical replies.

Each figure is the conversion of one reply against a baseline measured in the
same run: ``copy.deepcopy`` of the same reply (a pure-Python walk of the same
data, which the host never did before) and, for scale, a raw pluggy hook call.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from zepix_core.execution.boundary import plain

PING = {"ok": True, "last_activity": 1_800_000_000.0, "detail": "fine"}
METRICS = {f"metric_{i}": float(i) for i in range(20)}
INTENTS = [{"symbol": "BTCUSD", "side": "buy", "quantity": 0.5, "price": 101.5,
            "reason": "breakout"} for _ in range(50)]


def _per_call(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(5):
        begun = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - begun) / repeat)
    return best


def run(quick: bool = False) -> list[dict[str, Any]]:
    repeat = 2_000 if quick else 20_000
    rows = []
    for what, reply in (("health_ping reply", PING), ("20 metrics", METRICS),
                        ("50 intents", INTENTS)):
        base = _per_call(lambda reply=reply: copy.deepcopy(reply), repeat)
        cost = _per_call(lambda reply=reply: plain(reply), repeat)
        rows.append({"bench": "boundary", "what": f"plain() of {what} vs deepcopy",
                     "seconds": cost, "ratio": cost / base})
    return rows
